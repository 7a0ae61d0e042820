"""EPLB: baselines' balancedness and runtime on every named workload, and the evaluator's own cost.

Run from the repository root:  python benchmarks/eplb_evaluator.py [--seed 2] [--workloads a,b]

For each workload and each baseline (the vectorized no_rebalancing, hierarchical and
global_greedy of evaluators.eplb.baselines, and problems/eplb/initial.py, the same
hierarchical greedy written with per-layer Python loops) it runs evaluate() exactly as
the sandbox would and prints balancedness (in-sample and next window), the median
runtime, the ADRS score, and the evaluator overhead: evaluate()'s wall time minus
the candidate's own timed calls. All figures come from this one run.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evaluators.eplb import NAMED, evaluate  # noqa: E402

INITIAL = ROOT / "problems" / "eplb" / "initial.py"
WRAPPER = "from evaluators.eplb.baselines import {name} as rebalance_experts\n"
DEFAULT_WORKLOADS = [n for n in NAMED if n not in ("tiny", "small")]


def candidates(tmp: Path) -> dict[str, Path]:
    """Candidate files: a one-line wrapper per vectorized baseline, plus initial.py."""
    out = {}
    for name in ("no_rebalancing", "hierarchical", "global_greedy"):
        path = tmp / f"{name}.py"
        path.write_text(WRAPPER.format(name=name))
        out[name] = path
    out["initial.py (loops)"] = INITIAL
    return out


COLD = ("import json, sys, time; t = time.perf_counter(); from evaluators.eplb import evaluate; "
        "r = evaluate(sys.argv[1], {'name': 'drift-lognormal', 'seed': 2}); "
        "print(json.dumps([time.perf_counter() - t, sum(r['artifacts']['call_seconds'])]))")


def cold_process(path: Path) -> None:
    """One fresh interpreter, as the sandbox runs it: import + evaluate, minus candidate time."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", COLD, str(path)], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    total = time.perf_counter() - start
    inside, candidate = json.loads(out.stdout)
    print(f"cold process, default workload, {path.name}: process {total:.3f} s, import+evaluate "
          f"{inside:.3f} s, candidate {candidate:.3f} s, evaluator overhead {inside - candidate:.3f} s "
          f"({total - candidate:.3f} s with interpreter start)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--workloads", default=",".join(DEFAULT_WORKLOADS))
    args = parser.parse_args()
    header = (f"{'workload':<17} {'algorithm':<20} {'bal':>7} {'bal_next':>8} {'node_bal':>8} "
              f"{'runtime_ms':>10} {'adrs':>7} {'eval_s':>7} {'overhead_s':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        files = candidates(Path(tmp))
        print(header)
        print("-" * len(header))
        for wl_name in args.workloads.split(","):
            runtimes = {}
            for algo, path in files.items():
                start = time.perf_counter()
                result = evaluate(str(path), {"name": wl_name, "seed": args.seed})
                wall = time.perf_counter() - start
                m = result["metrics"]
                if not m["valid"]:
                    print(f"{wl_name:<17} {algo:<20} INVALID: {result['artifacts']['error']}")
                    continue
                overhead = wall - sum(result["artifacts"]["call_seconds"])
                runtimes[algo] = m["runtime_s"]
                print(f"{wl_name:<17} {algo:<20} {m['balancedness']:7.4f} {m['balancedness_next']:8.4f} "
                      f"{m['node_balancedness']:8.4f} {m['runtime_s'] * 1e3:10.2f} {m['adrs_score']:7.2f} "
                      f"{wall:7.3f} {overhead:10.3f}")
            if {"hierarchical", "initial.py (loops)"} <= set(runtimes):
                ratio = runtimes["initial.py (loops)"] / runtimes["hierarchical"]
                print(f"{'':<17} loop/vectorized hierarchical runtime ratio: {ratio:.1f}x")
        print()
        cold_process(files["hierarchical"])
        cold_process(files["initial.py (loops)"])


if __name__ == "__main__":
    main()
