"""Time one full evaluation of each problem's initial.py and of each baseline, with their figures.

    python benchmarks/tables_moe_evaluators.py
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evaluators import moe, tables  # noqa: E402
from evaluators.moe.baselines import BASELINES as MOE_BASELINES  # noqa: E402
from evaluators.moe.placement import score  # noqa: E402
from evaluators.moe import traces  # noqa: E402
from evaluators.moe.traces import build  # noqa: E402
from evaluators.tables.baselines import BASELINES as TABLE_BASELINES  # noqa: E402
from evaluators.tables.data import load_tables  # noqa: E402


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def llm_sql() -> None:
    print("llm_sql (full stage: 5 tables x 300 rows)")
    m, s = timed(lambda: tables.evaluate(str(ROOT / "problems/llm_sql/initial.py"), {"name": "all"})["metrics"])
    print(f"  initial.py            hit_rate {m['hit_rate']:.4f}  adrs_score {m['adrs_score']:6.2f}  eval {s:.3f} s")
    tabs = load_tables({"name": "all"})
    for name, fn in TABLE_BASELINES.items():
        rows, s = timed(lambda: tables.score_tables(tabs, [fn(t) for t in tabs]))
        hit = sum(r["hit_rate"] for r in rows) / len(rows)
        print(f"  {name:<21} hit_rate {hit:.4f}  eval {s:.3f} s")


def moe_affinity() -> None:
    print("moe_expert_affinity (full stage: 58 layers, 256 experts, 32 GPUs, top-8, 2048 tokens)")
    wl = {"name": "full", "seed": 2}
    initial = str(ROOT / "problems/moe_expert_affinity/initial.py")
    traces._CACHE.clear()  # a cold process: the evaluation generates the trace
    m, s = timed(lambda: moe.evaluate(initial, wl)["metrics"])
    print(f"  initial.py        cross {m['cross_fraction']:.4f}  imbalance {m['imbalance']:.3f}  "
          f"cut {m['traffic_cut']:.1%}  eval {s:.3f} s (trace generation included)")
    _, warm = timed(lambda: moe.evaluate(initial, wl))
    print(f"  initial.py again  eval {warm:.3f} s (the trace memoized in this process)")
    traces._CACHE.clear()
    trace, s = timed(lambda: build(wl))
    print(f"  trace generation  {s:.3f} s")
    for name, fn in MOE_BASELINES.items():
        r, s = timed(lambda: score(trace, fn(trace)))
        print(f"  {name:<17} cross {r['cross_fraction']:.4f}  imbalance {r['imbalance']:.3f}  place+score {s:.3f} s")


if __name__ == "__main__":
    llm_sql()
    moe_affinity()
