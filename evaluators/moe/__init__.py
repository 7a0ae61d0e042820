"""Evaluator for `problems/moe_expert_affinity`: all-to-all traffic of the candidate's expert placement.

The candidate defines `place(trace) -> placement[layers, experts]` (GPU ids; traces.py, placement.py).
Metrics: cross_fraction (token-expert pairs of consecutive layers placed on different GPUs / all
pairs), imbalance (max over layers of busiest / mean GPU load), traffic_cut vs the affinity-blind
load-balanced placement.
"""
from __future__ import annotations

from ..common import CandidateError, call_candidate, failure, load_candidate, require_callable
from .baselines import BASELINES, load_balanced
from .placement import PlacementError, check, score
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


def probe(program_path: str, workload: dict | None = None) -> list:
    """The candidate's placement on each trace the probe workload names, GPUs relabeled by first appearance.

    `workload`: {"traces": [trace mapping, ...]} or one trace mapping (default: the tiny trace). The
    problem YAML names the smoke stage's trace and the full stage's own trace cut to its first layers
    (`layers: K` of `full` with the full stage's seed is that trace's first K layers bit for bit: layers
    are drawn in order). Cross fraction and imbalance are functions of trace and placement only, unchanged
    by renaming GPUs alike in every layer, so equal answers mean equal smoke metrics (the stage's pass or
    fail and all a failed candidate's metrics) and, for a candidate that places layer by layer, an
    equal placement of the full trace's first K layers; the other layers are the sample's blind spot.
    Traces are tried in order and the answer stops at the first {"error": reason} (an invalid placement
    or a raise), as the cascade stops at a failed stage. prepare() builds the traces ahead.
    """
    traces = [build(w) for w in _probe_traces(workload)]  # a bad workload raises: no answer, nothing merged
    out: list = []
    try:
        fn = require_callable(load_candidate(program_path), API)
    except CandidateError as exc:
        return [{"error": str(exc)}]
    for trace in traces:
        try:
            p = check(trace, call_candidate(fn, frozen_copy(trace)))
        except (CandidateError, PlacementError) as exc:
            return out + [{"error": str(exc)}]
        labels: dict[int, int] = {}
        out.append([[labels.setdefault(int(g), len(labels)) for g in row] for row in p])
    return out


def prepare(workload: dict | None = None) -> None:
    """Build a probe workload's traces ahead (sandbox.runner --prepare: once per fork server or warm
    sandbox, before any candidate), so that a probe costs the candidate's placements alone. A stage's
    workload (one trace mapping) is left to evaluate(), which builds it before importing the candidate."""
    if "traces" in (workload or {}):
        for w in _probe_traces(workload):
            build(w)


def _probe_traces(workload: dict | None) -> list[dict]:
    mapping = dict(workload or {"name": "tiny", "seed": 0})
    if "traces" not in mapping:
        return [mapping]
    traces = mapping.pop("traces")
    if mapping or not isinstance(traces, list) or not traces or not all(isinstance(w, dict) for w in traces):
        raise TraceError(f"a probe workload's `traces` is a non-empty list of trace mappings and it takes no "
                         f"other keys, got {workload!r}")
    return [dict(w) for w in traces]


def baseline_figures(workload: dict | None = None) -> dict:
    trace = build(dict(workload or {}))
    return {name: score(trace, fn(trace)) for name, fn in BASELINES.items()}
