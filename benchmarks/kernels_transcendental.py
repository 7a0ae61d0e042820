"""Baseline figures of exp_f32 / log_f32 and what each check stage costs, measured in one process.

python benchmarks/kernels_transcendental.py [--parts N]   (one verify part is timed and scaled by N)
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluators.kernels import transcendental as T  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parts", type=int, default=64)
    args = parser.parse_args()
    print("| function | stage | points | max ULP | mean ULP | ops/element | time vs numpy | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for name in ("exp", "log"):
        path = str(ROOT / "problems" / f"{name}_f32" / "initial.py")
        for wl in ({"check": "sample", "points": 100_000, "seed": 1},
                   {"check": "lattice", "points": 10_000_000, "seed": 2}):
            start = time.perf_counter()
            out = T.evaluate(path, {"function": name, **wl})
            m, a = out["metrics"], out["artifacts"]
            print(f"| {name} | {wl['check']} | {a['points']} | {m['max_ulp']} | {m['mean_ulp']:.4f} | "
                  f"{m.get('ops_per_element', '-')} | {m.get('time_ratio', float('nan')):.2f} | "
                  f"{time.perf_counter() - start:.2f} |")
        start = time.perf_counter()
        part = T.verify(path, {"function": name, "part": 0, "parts": args.parts})
        one = time.perf_counter() - start
        print(f"| {name} | exhaustive part 1/{args.parts} | {part['points']} | {part['max_ulp']} | "
              f"{part['mean_ulp']:.4f} | - | - | {one:.2f} (x{args.parts} = {one * args.parts:.0f} s on one core) |")


if __name__ == "__main__":
    main()
