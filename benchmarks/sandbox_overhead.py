"""Sandbox start cost: what each backend adds to one evaluation, against a bare interpreter.

Rows (medians of --repeats runs, sequential, on this machine): wall milliseconds of one evaluation as
the controller waits for it, and the CPU the sandbox spent on it (the interpreter and its imports
included; for a fork server, its child's, not the zygote's one import):
  bare python -c pass            the floor: one interpreter start
  bare runner, no-op evaluator   python -m sandbox.runner outside any sandbox (runner + guard)
  <backend> no-op evaluation     candidate `def main(): return 0` through sandbox.probes
  <backend> numpy evaluation     the same through an evaluator that imports numpy (as real ones do)
  <backend> warm ...             through sandbox.warm: each single-use sandbox was started
                                 while the controller was busy (a 0.5 s gap, not timed)
  bwrap fork-server ...          through sandbox.forkserver (the default): a child of a zygote that
                                 imported the evaluator, isolated while the controller was busy
docker rows need a daemon and the image (`evolve sandbox build`); its warm containers are created and
started ahead, their runner blocked on the request FIFO.
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
NUMPY_EVALUATOR = "import numpy  # noqa: F401\nfrom sandbox.probes import evaluate  # noqa: F401\n"
EVALUATORS: dict[str, str] = {}


def evaluator_for(code: str) -> str:
    """sandbox.probes; for the numpy candidate, a file evaluator that imports numpy first."""
    if code != NUMPY:
        return "sandbox.probes"
    if "numpy" not in EVALUATORS:
        import tempfile
        folder = Path(tempfile.mkdtemp(prefix="evolve-bench-"))
        (folder / "numpy_evaluator.py").write_text(NUMPY_EVALUATOR)
        EVALUATORS["numpy"] = str(folder / "numpy_evaluator.py")
    return EVALUATORS["numpy"]


def median_s(fn, repeats: int) -> tuple[float, float | None]:
    """(median seconds of `fn()`, median CPU seconds it reports, if it reports any)."""
    fn()  # warm the page cache
    times, cpus = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        cpu = fn()
        times.append(time.perf_counter() - start)
        if isinstance(cpu, float):
            cpus.append(cpu)
    return statistics.median(times), (statistics.median(cpus) if cpus else None)


def evaluation(backend, code: str):
    def run():
        spec = request.evaluation(evaluator_for(code), "evaluate", code, {}, wall_s=60, cpu_s=60)
        res = asyncio.run(backend.run(spec))
        assert res.ok, (res.status, res.error)
        return res.cpu_s
    return run


def warm_median_s(backend, code: str, repeats: int, fork: bool = False) -> float:
    from sandbox.forkserver import ForkPool
    from sandbox.warm import WarmPool
    pool = (ForkPool if fork else WarmPool)(backend, 1)

    async def main() -> tuple[list[float], list[float]]:
        times, cpus = [], []
        for _ in range(repeats + 1):
            await asyncio.sleep(0.5)  # the controller's own work (LLM calls) while the next sandbox warms
            spec = request.evaluation(evaluator_for(code), "evaluate", code, {}, wall_s=60, cpu_s=60)
            start = time.perf_counter()
            res = await pool.run(spec)
            times.append(time.perf_counter() - start)
            cpus.append(res.cpu_s)
            assert res.ok, (res.status, res.error)
        return times[1:], cpus[1:]  # the first one starts cold

    try:
        times, cpus = asyncio.run(main())
        return statistics.median(times), statistics.median(cpus)
    finally:
        pool.close()


def bare_runner(code: str):
    process = sandbox.select("process", allow_root=True)[0]

    def run():  # the process backend's launch path without unshare: runner + rlimits only
        spec = request.evaluation(evaluator_for(code), "evaluate", code, {}, wall_s=60, cpu_s=60)
        plain = RunSpec(**{**spec.__dict__, "network": True})
        res = asyncio.run(process.run(plain))
        assert res.ok, (res.status, res.error)
        return res.cpu_s
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
        backend = sandbox.select(name, allow_root=True)[0]
        rows.append((f"{name} no-op evaluation", median_s(evaluation(backend, NOOP), args.repeats)))
        rows.append((f"{name} numpy evaluation", median_s(evaluation(backend, NUMPY), args.repeats)))
        rows.append((f"{name} warm no-op evaluation", warm_median_s(backend, NOOP, args.repeats)))
        rows.append((f"{name} warm numpy evaluation", warm_median_s(backend, NUMPY, args.repeats)))
        if name == "bwrap":
            rows.append(("bwrap fork-server no-op evaluation", warm_median_s(backend, NOOP, args.repeats, True)))
            rows.append(("bwrap fork-server numpy evaluation", warm_median_s(backend, NUMPY, args.repeats, True)))
    floor = rows[0][1][0]
    print(f"{'what':48} {'median ms':>10} {'x bare':>8} {'sandbox CPU ms':>15}")
    for what, (seconds, cpu) in rows:
        cpu_ms = "-" if cpu is None else f"{cpu * 1e3:.1f}"
        print(f"{what:48} {seconds * 1e3:10.1f} {seconds / floor:8.2f} {cpu_ms:>15}")


if __name__ == "__main__":
    main()
