"""Sandbox start cost: what each backend adds to one evaluation, against a bare interpreter.

Rows (medians of --repeats runs, sequential, on this machine):
  bare python -c pass            the floor: one interpreter start
  bare runner, no-op evaluator   python -m sandbox.runner outside any sandbox (runner + guard)
  <backend> no-op evaluation     candidate `def main(): return 0` through sandbox.probes
  <backend> numpy evaluation     the same, with a candidate that imports numpy
Usage: python benchmarks/sandbox_overhead.py [--repeats 20]
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sandbox  # noqa: E402
from sandbox import request  # noqa: E402
from sandbox.spec import RunSpec  # noqa: E402

NOOP = "def main():\n    return 0\n"
NUMPY = "import numpy\n\ndef main():\n    return int(numpy.arange(10).sum())\n"


def median_s(fn, repeats: int) -> float:
    fn()  # warm the page cache
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def evaluation(backend, code: str):
    def run():
        spec = request.evaluation("sandbox.probes", "evaluate", code, {}, wall_s=60, cpu_s=60)
        res = asyncio.run(backend.run(spec))
        assert res.ok, (res.status, res.error)
    return run


def bare_runner(code: str):
    process = sandbox.select("process")[0]

    def run():  # the process backend's launch path without unshare: runner + rlimits only
        spec = request.evaluation("sandbox.probes", "evaluate", code, {}, wall_s=60, cpu_s=60)
        plain = RunSpec(**{**spec.__dict__, "network": True})
        res = asyncio.run(process.run(plain))
        assert res.ok, (res.status, res.error)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    rows = [("bare python -c pass", median_s(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), args.repeats))]
    rows.append(("bare python -c 'import numpy'",
                 median_s(lambda: subprocess.run([sys.executable, "-c", "import numpy"], check=True), args.repeats)))
    rows.append(("process backend, no unshare, no-op evaluation", median_s(bare_runner(NOOP), args.repeats)))
    for name in ("bwrap", "process", "docker"):
        why = sandbox.why_unavailable(name)
        if why:
            print(f"{name}: skipped ({why})")
            continue
        backend = sandbox.select(name)[0]
        rows.append((f"{name} no-op evaluation", median_s(evaluation(backend, NOOP), args.repeats)))
        rows.append((f"{name} numpy evaluation", median_s(evaluation(backend, NUMPY), args.repeats)))
    floor = rows[0][1]
    print(f"{'what':48} {'median ms':>10} {'x bare':>8}")
    for what, seconds in rows:
        print(f"{what:48} {seconds * 1e3:10.1f} {seconds / floor:8.2f}")


if __name__ == "__main__":
    main()
