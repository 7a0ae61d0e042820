"""Cache-eviction evaluator: hit rate of a candidate priority function on seeded traces.

Workload keys: traces (list of names from traces.TRACE_NAMES), requests, objects,
cache_size, seed. The candidate defines `priority(now, hits, total_hits, last_gap, floor)`
(see simulate.py).
"""
from __future__ import annotations

from evaluators.caching.simulate import PolicyError, simulate
from evaluators.caching.traces import TRACE_NAMES, make_trace
from evaluators.common import (
    CandidateError, failure, fingerprint, load_candidate, require_callable, trim_traceback, unchanged,
)

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
    # the traces are made before the candidate is imported (it cannot patch their generator)
    traces = {name: make_trace(name, cfg["seed"], cfg["requests"], cfg["objects"]) for name in cfg["traces"]}
    before = fingerprint(traces)
    try:
        policy = _policy(program_path)
        for name, trace in traces.items():
            hits, _ = _replay(policy, trace, cfg["cache_size"])
            metrics[f"hit_rate_{name}"] = hits / len(trace)
        unchanged(before, traces, "traces")
    except CandidateError as exc:
        return failure(str(exc), hit_rate=0.0)
    metrics["hit_rate"] = sum(metrics.values()) / len(metrics)
    metrics["valid"] = True
    return {"metrics": metrics, "artifacts": {"cache_size": cfg["cache_size"], "requests": cfg["requests"]}}


def probe(program_path: str, workload: dict) -> dict:
    """What the policy decided on short traces: every priority it returned, and what it evicted."""
    cfg = _settings(workload)
    try:
        return _probe(_policy(program_path), cfg)
    except CandidateError as exc:  # hashed by the kind of failure, so equal failures are merged
        last = str(exc).strip().splitlines()[-1]
        return {"__exception__": last.split(":")[0] if "raised" in str(exc) else last}


def _probe(policy, cfg: dict) -> dict:
    out = {}
    for name in cfg["traces"]:
        trace = make_trace(name, cfg["seed"], cfg["requests"], cfg["objects"])
        priorities: list[float] = []

        def recorded(*args, _policy=policy, _out=priorities):
            value = _policy(*args)
            _out.append(value)
            return value

        out[name] = {"priorities": priorities, "evicted": _replay(recorded, trace, cfg["cache_size"])[1]}
    return out
