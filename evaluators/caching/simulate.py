"""Replay a trace through a fixed-size cache that evicts the lowest priority.

The policy is a function called on every access of an object (hit or insert):
    priority(now, hits, total_hits, last_gap, floor) -> number
now: index of this request; hits: accesses since the object entered the cache
(1 on insert); total_hits: accesses ever, this one included; last_gap: requests
since the object's previous access (-1 if never seen); floor: the priority of
the most recently evicted object (0 before the first eviction), which lets a
policy age priorities the GreedyDual way. Ties evict the least recently
accessed object.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np


class PolicyError(Exception):
    """The policy returned something that is not a finite number."""


@dataclass(frozen=True)
class History:
    """The requests before a replay, as the policy's arguments see them: how many, accesses per object,
    the index of each object's last access."""

    start: int
    total: dict[int, int]
    last_seen: dict[int, int]

    @classmethod
    def of(cls, requests: np.ndarray) -> "History":
        keys, first_from_end, counts = np.unique(requests[::-1], return_index=True, return_counts=True)
        last = len(requests) - 1 - first_from_end
        keys = keys.tolist()
        return cls(len(requests), dict(zip(keys, counts.tolist())), dict(zip(keys, last.tolist())))


def simulate(trace: np.ndarray, cache_size: int, priority: Callable[..., float],
             history: History | None = None, evicted_at: list[int] | None = None) -> tuple[int, list[int]]:
    """(hits, evicted ids in order) of replaying `trace` under `priority`. With `history`, the requests
    before `trace` count for `now`, `total_hits` and `last_gap` (the cache starts empty all the same):
    a short replay of the end of a long trace, where a policy weighing `now` may decide otherwise.
    `evicted_at`, when given, gets the request index of each eviction."""
    heap: list[tuple[float, int, int]] = []
    current: dict[int, int] = {}  # object id -> seq of its live heap entry
    hits_in_cache: dict[int, int] = {}
    total = dict(history.total) if history else {}
    last_seen = dict(history.last_seen) if history else {}
    floor = 0.0
    hits = 0
    evicted: list[int] = []
    for now, key in enumerate(trace.tolist(), history.start if history else 0):
        if key in current:
            hits += 1
            hits_in_cache[key] += 1
        else:
            if len(current) >= cache_size:
                while True:
                    prio, seq, victim = heapq.heappop(heap)
                    if current.get(victim) == seq:
                        break
                del current[victim]
                del hits_in_cache[victim]
                floor = prio
                evicted.append(victim)
                if evicted_at is not None:
                    evicted_at.append(now)
            hits_in_cache[key] = 1
        total[key] = total.get(key, 0) + 1
        gap = now - last_seen[key] if key in last_seen else -1
        last_seen[key] = now
        value = priority(now, hits_in_cache[key], total[key], gap, floor)
        value = _as_number(value, now)
        current[key] = now
        heapq.heappush(heap, (value, now, key))
    return hits, evicted


def _as_number(value, now: int) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PolicyError(f"priority returned {type(value).__name__} {value!r} at request {now}; return a number") from None
    if not math.isfinite(number):
        raise PolicyError(f"priority returned {number} at request {now}; return a finite number")
    return number


def belady_hits(trace: np.ndarray, cache_size: int) -> int:
    """Hits of the offline optimum: evict the object whose next use is farthest away."""
    keys = trace.tolist()
    n = len(keys)
    next_use = [n] * n
    upcoming: dict[int, int] = {}
    for i in range(n - 1, -1, -1):
        next_use[i] = upcoming.get(keys[i], n + i)  # never again: farther than anything
        upcoming[keys[i]] = i
    heap: list[tuple[int, int]] = []
    current: dict[int, int] = {}  # key -> its next use, as stored in the heap
    hits = 0
    for i, key in enumerate(keys):
        if key in current:
            hits += 1
        elif len(current) >= cache_size:
            while True:
                neg, victim = heapq.heappop(heap)
                if current.get(victim) == -neg:
                    break
            del current[victim]
        current[key] = next_use[i]
        heapq.heappush(heap, (-next_use[i], key))
    return hits


def lru(now, hits, total_hits, last_gap, floor):
    return now


def lfu(now, hits, total_hits, last_gap, floor):
    return hits


REFERENCE_POLICIES = {"lru": lru, "lfu": lfu}
