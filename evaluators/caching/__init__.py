"""Cache-eviction evaluator: hit rate of a candidate priority function on seeded traces.

Workload keys: traces (list of names from traces.TRACE_NAMES), requests, objects,
cache_size, seed. The candidate defines `priority(now, hits, total_hits, last_gap, floor)`
(see simulate.py).
"""
from __future__ import annotations

import functools

import numpy as np

from evaluators.caching.simulate import History, PolicyError, as_priority, simulate
from evaluators.caching.traces import TRACE_NAMES, make_trace
from evaluators.common import (
    CandidateError, failure, fingerprint, load_candidate, require_callable, trim_traceback, unchanged,
)

DEFAULTS = {"traces": list(TRACE_NAMES), "requests": 20000, "objects": 5000, "cache_size": 200, "seed": 1}


def _settings(workload: dict, extra: tuple = ()) -> dict:
    unknown = set(workload) - set(DEFAULTS) - {"name", *extra}
    if unknown:
        raise ValueError(f"unknown cache workload keys {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    return {**DEFAULTS, **workload}


def _policy(program_path: str):
    module = load_candidate(program_path)
    return require_callable(module, "priority")


def _replay(policy, trace, cache_size, history=None, evicted_at=None):
    try:
        return simulate(trace, cache_size, policy, history, evicted_at)
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
    """What the policy decided: the objects it evicted, in order, on `windows` ([start, length] pairs, default
    the whole trace) of each trace, each replayed into an empty cache after the requests before it (which
    count for `now`, `total_hits` and `last_gap`); an object the whole trace never asks for again is written
    -1 (which dead object goes changes no hit). Not its raw priorities: policies that rank objects alike
    (`now` or `2 * now + 5`) evict alike and score alike, so they share a hash."""
    cfg = _settings(workload, ("windows",))
    try:
        return _decisions(_policy(program_path), cfg)
    except CandidateError as exc:  # hashed by the kind of failure, so equal failures are merged
        last = str(exc).strip().splitlines()[-1]
        return {"__exception__": last.split(":")[0] if "raised" in str(exc) else last}


def prepare(workload: dict) -> None:
    """Build what probe() needs for `workload` ahead (its traces, windows and last uses): sandbox.runner calls
    this in a fork server or warm sandbox, before any candidate, so a probe costs its replays alone. (Called
    with the stages' workloads too, which need nothing ahead: evaluate() makes its own traces before the
    candidate is imported; the caches hold both.)"""
    cfg = _settings(workload, ("windows",))
    for name in cfg["traces"]:
        _last_use(name, cfg["seed"], cfg["requests"], cfg["objects"])
        for start, length in cfg.get("windows") or [[0, cfg["requests"]]]:
            _window(name, cfg["seed"], cfg["requests"], cfg["objects"], start, length)


def _decisions(policy, cfg: dict) -> dict:
    out = {}
    for name in cfg["traces"]:
        for start, length in cfg.get("windows") or [[0, cfg["requests"]]]:
            trace, history = _window(name, cfg["seed"], cfg["requests"], cfg["objects"], start, length)
            last = _last_use(name, cfg["seed"], cfg["requests"], cfg["objects"])
            times: list[int] = []
            evicted = _replay(policy, trace, cfg["cache_size"], history, times)[1]
            out[f"{name}@{start}"] = [key if last[key] > now else -1 for key, now in zip(evicted, times)]
    out["floor_stays_finite"] = _floor_stays_finite(policy, cfg["requests"], cfg["cache_size"])
    return out


def _floor_stays_finite(policy, requests: int, cache_size: int) -> bool:
    """Whether the policy's priorities stay finite when each is fed back as the floor, once per turnover of
    the cache (every `cache_size` requests) over a whole trace: as often as an object inserted with one floor
    is evicted to set the next, where the cache keeps an object about one turnover (a policy that evicts
    what it has just inserted feeds the floor on every miss, which this does not follow). A window's empty
    cache starts its floor at 0, so it cannot show a policy whose priorities feed on the floor without bound
    (`now + now * floor` evicts as LRU does, and only the whole trace overflows it into an invalid run);
    this can, at the cost of one call per turnover."""
    floor = 0.0
    for now in range(cache_size - 1, requests, cache_size):
        try:
            floor = as_priority(policy(now, 1, 1, -1, floor), now)
        except Exception:  # noqa: BLE001: raised inside the candidate's priority() (or not a finite number)
            return False
    return True


@functools.lru_cache(maxsize=64)
def _window(name: str, seed: int, requests: int, objects: int, start: int, length: int):
    """Requests [start, start + length) of a probe trace and the history before them, made once per process
    (the probe runs twice in it)."""
    trace = _trace(name, seed, requests, objects)
    return trace[start:start + length], History.of(trace[:start]) if start else None


@functools.lru_cache(maxsize=64)
def _last_use(name: str, seed: int, requests: int, objects: int) -> list[int]:
    """Per object id, the index of its last request in the whole trace (-1: never asked for)."""
    trace = _trace(name, seed, requests, objects)
    keys, from_end = np.unique(trace[::-1], return_index=True)
    last = np.full(int(trace.max()) + 1, -1)
    last[keys] = len(trace) - 1 - from_end
    return last.tolist()


@functools.lru_cache(maxsize=64)
def _trace(name: str, seed: int, requests: int, objects: int):
    trace = make_trace(name, seed, requests, objects)
    trace.flags.writeable = False
    return trace
