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
    """The requests before a replay, as the policy's arguments see them: how many, and per object id the
    accesses so far and the index of the last one (-1: none)."""

    start: int
    total: np.ndarray
    last_seen: np.ndarray

    @classmethod
    def of(cls, requests: np.ndarray) -> "History":
        size = int(requests.max()) + 1 if len(requests) else 0
        keys, first_from_end = np.unique(requests[::-1], return_index=True)
        last = np.full(size, -1, dtype=np.int64)
        last[keys] = len(requests) - 1 - first_from_end
        return cls(len(requests), np.bincount(requests, minlength=size), last)

    def lists(self, size: int) -> tuple[list[int], list[int]]:
        """(accesses, last access) per object id below `size`, as fresh lists the replay may write."""
        total, last_seen = self.total.tolist(), self.last_seen.tolist()
        if size > len(total):
            total += [0] * (size - len(total))
            last_seen += [-1] * (size - len(last_seen))
        return total, last_seen


def simulate(trace: np.ndarray, cache_size: int, priority: Callable[..., float],
             history: History | None = None, evicted_at: list[int] | None = None) -> tuple[int, list[int]]:
    """(hits, evicted ids in order) of replaying `trace` under `priority`. With `history`, the requests
    before `trace` count for `now`, `total_hits` and `last_gap` (the cache starts empty all the same):
    a short replay of the end of a long trace, where a policy weighing `now` may decide otherwise.
    `evicted_at`, when given, gets the request index of each eviction. Object ids are small non-negative
    ints (traces.py), so the state per object is kept in lists indexed by id: one pass per request, the
    loop that the full stage and the probe spend their time in."""
    keys = trace.tolist()
    size = max(keys) + 1 if keys else 0
    if history is not None:
        total, last_seen = history.lists(size)
        size = len(total)
    else:
        total, last_seen = [0] * size, [-1] * size
    entry = [-1] * size  # the seq (request index) of the object's live heap entry; -1: not in the cache
    in_cache = [0] * size  # accesses since the object entered the cache
    heap: list[tuple[float, int, int]] = []
    push, pop, finite = heapq.heappush, heapq.heappop, math.isfinite
    floor = 0.0
    hits = cached = 0
    evicted: list[int] = []
    for now, key in enumerate(keys, history.start if history else 0):
        if entry[key] >= 0:
            hits += 1
            accesses = in_cache[key] + 1
        else:
            if cached >= cache_size:
                while True:
                    prio, seq, victim = pop(heap)
                    if entry[victim] == seq:
                        break
                entry[victim] = -1
                floor = prio
                evicted.append(victim)
                if evicted_at is not None:
                    evicted_at.append(now)
            else:
                cached += 1
            accesses = 1
        in_cache[key] = accesses
        seen = total[key] + 1
        total[key] = seen
        before = last_seen[key]
        last_seen[key] = now
        value = priority(now, accesses, seen, -1 if before < 0 else now - before, floor)
        if value.__class__ is not float or not finite(value):
            value = as_priority(value, now)
        entry[key] = now
        push(heap, (value, now, key))
    return hits, evicted


def as_priority(value, now: int) -> float:
    """`value` as a float, or PolicyError naming request `now` when it is not a finite number."""
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
