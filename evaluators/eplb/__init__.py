"""MoE expert-parallel load balancing (EPLB): score a candidate `rebalance_experts`.

evaluate(): for each rebalance window w, build a placement from window w's loads,
score GPU balancedness on window w (in-sample) and w + 1 (what serving sees),
and time the candidate (median of several calls, evaluator's own clock).
probe(): the placement arrays on the small probe workload, for functional hashing.
"""
from __future__ import annotations

import statistics

import numpy as np

from evaluators.common import CandidateError, failure, fingerprint, load_candidate, require_callable, unchanged

from .runner import API, extra_timings, place
from .simulate import adrs_score, score_window
from .workloads import GENERATOR_VERSION, NAMED, WorkloadError, build_workload

__all__ = ["evaluate", "probe", "GENERATOR_VERSION", "NAMED"]


def _mean(rows: list[dict], key: str) -> float:
    return float(np.mean([r[key] for r in rows]))


def evaluate(program_path: str, workload: dict | None = None) -> dict:
    """Score the candidate at `program_path` on the workload; never raises for a bad candidate."""
    try:
        wl = build_workload(workload)
    except WorkloadError as exc:
        return failure(f"bad workload: {exc}")
    before = fingerprint(wl.load)  # the loads are built before the candidate is imported
    try:
        fn = require_callable(load_candidate(program_path), API)
        rows, times = [], []
        for w in range(wl.eval_windows):
            (phy2log, _, logcnt), elapsed = place(fn, wl, w)
            times.append(elapsed)
            now = score_window(wl.load[w], phy2log, logcnt, wl.setup)
            nxt = score_window(wl.load[w + 1], phy2log, logcnt, wl.setup)
            rows.append({"window": w, **now, **{f"{k}_next": v for k, v in nxt.items()}})
        times = extra_timings(fn, wl, times)
        unchanged(before, wl.load, "expert loads")
    except CandidateError as exc:
        return failure(str(exc))
    runtime = statistics.median(times)
    balance = _mean(rows, "balancedness")
    metrics = {
        "valid": True,
        "balancedness": balance,
        "balancedness_next": _mean(rows, "balancedness_next"),
        "node_balancedness": _mean(rows, "node_balancedness"),
        "node_balancedness_next": _mean(rows, "node_balancedness_next"),
        "worst_layer_balancedness": min(r["worst_layer"] for r in rows),
        "unserved_next": _mean(rows, "unserved_next"),
        "runtime_s": runtime,
        "adrs_score": adrs_score(balance, runtime),
    }
    artifacts = {"workload": wl.describe(), "windows": rows,
                 "call_seconds": [round(t, 6) for t in times],
                 "feedback": (f"GPU balancedness {balance:.4f} in-sample, "
                              f"{metrics['balancedness_next']:.4f} on the next window; "
                              f"runtime {runtime * 1e3:.2f} ms for {wl.setup.num_layers} layers "
                              f"(median of {len(times)} calls)")}
    return {"metrics": metrics, "artifacts": artifacts}


def probe(program_path: str, workload: dict | None = None):
    """The candidate's placement on the probe workload's first window, as JSON-able lists."""
    try:
        wl = build_workload(workload or {"name": "tiny", "seed": 0})
    except WorkloadError as exc:
        return {"error": f"bad workload: {exc}"}
    try:
        fn = require_callable(load_candidate(program_path), API)
        (phy2log, log2phy, logcnt), _ = place(fn, wl, 0)
    except CandidateError as exc:
        return {"error": str(exc)}
    return {"phy2log": phy2log.tolist(), "log2phy": log2phy.tolist(), "logcnt": logcnt.tolist()}
