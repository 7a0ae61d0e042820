"""Cache-eviction evaluator: hit rate of a candidate priority function on seeded traces.

Workload keys: traces (list of names from traces.TRACE_NAMES), requests, objects,
cache_size, seed. The candidate defines `priority(now, hits, total_hits, last_gap, floor)`
(see simulate.py).
"""
from __future__ import annotations

from evaluators.caching.simulate import PolicyError, simulate
from evaluators.caching.traces import TRACE_NAMES, make_trace
from evaluators.common import CandidateError, failure, load_candidate, require_callable, trim_traceback

DEFAULTS = {"traces": list(TRACE_NAMES), "requests": 20000, "objects": 5000, "cache_size": 200, "seed": 1}


def _settings(workload: dict) -> dict:
    unknown = set(workload) - set(DEFAULTS) - {"name"}
    if unknown:
        raise ValueError(f"unknown cache workload keys {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    return {**DEFAULTS, **workload}


def _policy(program_path: str):
    module = load_candidate(program_path)
    return require_callable(module, "priority")


def _replay(policy, trace, cache_size):
    try:
        return simulate(trace, cache_size, policy)
    except PolicyError as exc:
        raise CandidateError(str(exc)) from None
    except Exception as exc:  # raised inside the candidate's priority()
        raise CandidateError(f"`priority` raised:\n{trim_traceback(exc)}") from None


def evaluate(program_path: str, workload: dict) -> dict:
    cfg = _settings(workload)
    metrics: dict = {}
    try:
        policy = _policy(program_path)
        for name in cfg["traces"]:
            trace = make_trace(name, cfg["seed"], cfg["requests"], cfg["objects"])
            hits, _ = _replay(policy, trace, cfg["cache_size"])
            metrics[f"hit_rate_{name}"] = hits / len(trace)
    except CandidateError as exc:
        return failure(str(exc), hit_rate=0.0)
    metrics["hit_rate"] = sum(metrics.values()) / len(metrics)
    metrics["valid"] = True
    return {"metrics": metrics, "artifacts": {"cache_size": cfg["cache_size"], "requests": cfg["requests"]}}


def probe(program_path: str, workload: dict) -> dict:
    """The eviction decisions on short traces: what the policy actually did."""
    cfg = _settings(workload)
    policy = _policy(program_path)
    out = {}
    for name in cfg["traces"]:
        trace = make_trace(name, cfg["seed"], cfg["requests"], cfg["objects"])
        out[name] = _replay(policy, trace, cfg["cache_size"])[1]
    return out
