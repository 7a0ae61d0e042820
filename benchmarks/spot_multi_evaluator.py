"""Time one full evaluation of spot_scheduling_multi's initial.py and each baseline, with their figures.

Run: .venv/bin/python benchmarks/spot_multi_evaluator.py
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evaluators.scheduling import spot_multi  # noqa: E402

INITIAL = (ROOT / "problems" / "spot_scheduling_multi" / "initial.py").read_text()
BASELINES = {
    "initial (stay in zone 0, greedy)": INITIAL,
    "greedy go-where-spot (HOP=1)": INITIAL.replace("HOP = 0", "HOP = 1"),
    "greedy go-where-spot, SAFETY_TICKS=0": INITIAL.replace("HOP = 0", "HOP = 1").replace("SAFETY_TICKS = 2", "SAFETY_TICKS = 0"),
    "on-demand only": "class Policy:\n    def step(self, s):\n        return ('ON_DEMAND', 0)\n",
}


def main() -> None:
    bound = float("nan")
    with tempfile.TemporaryDirectory() as tmp:
        for name, code in BASELINES.items():
            path = Path(tmp) / "cand.py"
            path.write_text(code)
            t0 = time.perf_counter()
            m = spot_multi.evaluate(str(path), {"name": "full"})["metrics"]
            dt = time.perf_counter() - t0
            print(f"{name:40s} {dt:6.2f} s  score {m.get('score', 0):6.2f}  mean_cost {m.get('mean_cost', 0):8.2f}"
                  f"  gap_to_bound {m.get('gap_to_bound', 0):5.3f}  misses {m.get('deadline_misses')}"
                  f"  switches {m.get('zone_switches')}")
            bound = m.get("bound_cost", bound)
    print(f"bounds: overhead-free two-zone oracle (cost_bound) {bound:.2f} (score {spot_multi.normalized_score(bound):.2f});"
          " all-spot 46.71 (score 100); all on-demand 146.88 (score 0)")


if __name__ == "__main__":
    main()
