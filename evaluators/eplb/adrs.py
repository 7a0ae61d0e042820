"""Scoring as the ADRS leaderboard's harness does (workload `scoring: adrs`).

Read from UCB-ADRS/ADRS-Leaderboard, problems/eplb/evaluator.py (`simulate_inference`,
`evaluate_program`); the formulas are carried over, the code is ours:

- a placement built on window i is served on window i + 1 only; each expert's tokens split
  evenly over its replicas, giving each physical slot's load [layers, slots];
- GPU balancedness of a window is a ratio of sums over layers:
  sum_l mean_g(gpu load) / sum_l max_g(gpu load) (0 when the window carries no load); the
  same over physical slots is the expert balancedness;
- both are averaged over windows (arithmetic mean), the runtime is the mean of the timed calls;
- score = 90 * balancedness + 5 * min(0.002 / t, 2) - (t > 0.01 ? min(20 t, 20) : 0), and 0
  when some expert with load in the next window has no replica (the harness's "Unhandled
  load" check, which zeroes the whole result).

The harness accumulates in float32 (torch); this is float64, a difference of float32 rounding.
"""
from __future__ import annotations

import numpy as np

from .simulate import adrs_score
from .workloads import Setup


def _ratio_of_sums(loads: np.ndarray) -> float:
    """sum over layers of the mean over the last axis / sum over layers of the max; 0 without load."""
    top = float(loads.max(axis=-1).sum())
    return float(loads.mean(axis=-1).sum()) / top if top > 0 else 0.0


def harness_window(load: np.ndarray, phy2log: np.ndarray, logcnt: np.ndarray, setup: Setup) -> dict:
    """The harness's view of one window served on a placement: GPU and expert (slot) balancedness, and the
    number of (layer, expert) pairs with load but no replica."""
    share = np.divide(load, logcnt, out=np.zeros_like(load, dtype=np.float64), where=logcnt > 0)
    per_slot = np.take_along_axis(share, phy2log, axis=1)
    unhandled = int(((load > 0) & (logcnt == 0)).sum())
    if not per_slot.sum() > 0:
        return {"adrs_balancedness": 0.0, "adrs_balancedness_expert": 0.0, "adrs_unhandled": unhandled}
    per_gpu = per_slot.reshape(setup.num_layers, setup.num_gpus, setup.slots_per_gpu).sum(axis=2)
    return {"adrs_balancedness": _ratio_of_sums(per_gpu), "adrs_balancedness_expert": _ratio_of_sums(per_slot),
            "adrs_unhandled": unhandled}


def leaderboard_score(balancedness: float, runtime_s: float, unhandled: int = 0) -> float:
    """The leaderboard's scalar from its inputs (next-window balancedness, mean runtime)."""
    return 0.0 if unhandled else adrs_score(balancedness, runtime_s)


def leaderboard_metrics(rows: list[dict], times: list[float]) -> dict:
    """`scoring: adrs` metrics from the per-window rows (with harness_window's `*_next` keys) and call times."""
    balance = float(np.mean([r["adrs_balancedness_next"] for r in rows]))
    runtime = float(np.mean(times))
    unhandled = sum(r["adrs_unhandled_next"] for r in rows)
    return {"adrs_balancedness_next": balance,
            "adrs_balancedness_expert_next": float(np.mean([r["adrs_balancedness_expert_next"] for r in rows])),
            "adrs_unhandled_next": unhandled, "runtime_s": runtime,
            "adrs_score": leaderboard_score(balance, runtime, unhandled)}
