"""Figures for the scheduling evaluators: baseline costs/makespans and evaluator speed (one core).

Run: .venv/bin/python benchmarks/scheduling_evaluators.py
"""
from __future__ import annotations

import time
from pathlib import Path

from evaluators.scheduling import spot, txn
from evaluators.scheduling.spot_policies import BASELINES as SPOT_BASELINES
from evaluators.scheduling.txn_baselines import BASELINES as TXN_BASELINES
from evaluators.scheduling.txn_sim import load_workloads, lower_bound, makespan

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = {"on_demand": 147.39, "greedy": 119.03, "uniform_progress": 99.23}


def spot_figures() -> None:
    grid = spot.scenarios({"name": "full"})
    print(f"spot: {len(grid)} simulations per policy (published reference in brackets)")
    for name, cls in SPOT_BASELINES.items():
        start = time.perf_counter()
        metrics, _ = spot.summarize(spot.run_policy(cls, grid))
        took = time.perf_counter() - start
        diff = (metrics["mean_cost"] - PUBLISHED[name]) / PUBLISHED[name] * 100
        print(f"  {name:17s} mean ${metrics['mean_cost']:7.2f} [{PUBLISHED[name]:.2f}, {diff:+.2f}%]"
              f"  52h ${metrics['cost_deadline_52h']:.2f}  70h ${metrics['cost_deadline_70h']:.2f}"
              f"  worst ${metrics['worst_cost']:.2f}  score {metrics['score']:5.1f}"
              f"  misses {metrics['deadline_misses']}  {took:.2f} s")
    start = time.perf_counter()
    out = spot.evaluate(str(ROOT / "problems/spot_scheduling/initial.py"), {"name": "full"})
    print(f"  evaluate(initial.py, full): {time.perf_counter() - start:.2f} s, score {out['metrics']['score']:.2f}")


def txn_figures() -> None:
    print("txn: makespan per workload")
    totals = dict.fromkeys([*TXN_BASELINES, "lower_bound"], 0)
    for name, w in load_workloads().items():
        row = {b: makespan(w, f(w)) for b, f in TXN_BASELINES.items()}
        row["lower_bound"] = lower_bound(w)
        for key, value in row.items():
            totals[key] += value
        print(f"  {name}: " + "  ".join(f"{k} {v}" for k, v in row.items()))
    print("  total:      " + "  ".join(f"{k} {v}" for k, v in totals.items()))
    start = time.perf_counter()
    out = txn.evaluate(str(ROOT / "problems/txn_scheduling/initial.py"), {"name": "all"})
    print(f"  evaluate(initial.py, all): {time.perf_counter() - start:.2f} s, "
          f"makespan_total {out['metrics']['makespan_total']}")


if __name__ == "__main__":
    spot_figures()
    txn_figures()
