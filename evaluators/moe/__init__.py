"""Evaluator for `problems/moe_expert_affinity`: all-to-all traffic of the candidate's expert placement.

The candidate defines `place(trace) -> placement[layers, experts]` (GPU ids; traces.py, placement.py).
Metrics: cross_fraction (token-expert pairs of consecutive layers placed on different GPUs / all
pairs), imbalance (max over layers of busiest / mean GPU load), traffic_cut vs the affinity-blind
load-balanced placement.
"""
from __future__ import annotations

from ..common import CandidateError, call_candidate, failure, load_candidate, require_callable
from .baselines import BASELINES, load_balanced
from .placement import PlacementError, score
from .traces import TraceError, build, frozen_copy

API = "place"


def evaluate(program_path: str, workload: dict | None = None) -> dict:
    """Score the candidate's placement on the workload's trace; never raises for a bad candidate."""
    try:
        trace = build(dict(workload or {}))
    except TraceError as exc:
        return failure(f"bad workload: {exc}")
    blind = score(trace, load_balanced(trace))  # the reference, before the candidate is imported
    try:
        fn = require_callable(load_candidate(program_path), API)
        m = score(trace, call_candidate(fn, frozen_copy(trace)))
    except (CandidateError, PlacementError) as exc:
        return failure(str(exc))
    cut = 1.0 - m["cross_fraction"] / max(blind["cross_fraction"], 1e-12)
    metrics = {"valid": True, "cross_fraction": m["cross_fraction"], "imbalance": m["imbalance"],
               "mean_imbalance": m["mean_imbalance"], "traffic_cut": cut}
    feedback = (f"{m['cross_fraction']:.4f} of token-expert pairs cross GPUs (affinity-blind: "
                f"{blind['cross_fraction']:.4f}, cut {cut:.1%}); busiest GPU {m['imbalance']:.3f}x the mean "
                f"(layer {m['worst_layer']}; bound {trace.balance_bound})")
    return {"metrics": metrics, "artifacts": {"feedback": feedback, "blind": blind}}


def probe(program_path: str, workload: dict | None = None):
    """The candidate's placement on a small trace, GPUs relabeled in order of first appearance."""
    try:
        trace = build(dict(workload or {"name": "tiny", "seed": 0}))
        fn = require_callable(load_candidate(program_path), API)
        from .placement import check
        p = check(trace, call_candidate(fn, frozen_copy(trace)))
    except (CandidateError, PlacementError, TraceError) as exc:
        return {"error": str(exc)}
    labels: dict[int, int] = {}
    return [[labels.setdefault(int(g), len(labels)) for g in row] for row in p]


def baseline_figures(workload: dict | None = None) -> dict:
    trace = build(dict(workload or {}))
    return {name: score(trace, fn(trace)) for name, fn in BASELINES.items()}
