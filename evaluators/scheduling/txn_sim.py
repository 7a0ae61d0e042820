"""Makespan of a transaction schedule under strict two-phase locking with waiting (no aborts).

Execution model (the one `problems/txn_scheduling/README.md` documents):
- A transaction is a list of ops, `r-KEY`, `w-KEY` or `*` (touches no key); every op takes
  one time unit and a transaction's ops run back to back: started at S, op k runs in
  [S+k, S+k+1) and the transaction commits at S + len.
- Op k takes its lock at S+k and keeps it until commit (strict 2PL). Reads share a key;
  a write excludes every other holder.
- Transactions start in schedule order (S never decreases along the schedule), each as
  early as it can: a lock is granted only after every earlier-scheduled transaction that
  holds the key in a conflicting mode has committed (locks are granted in schedule order,
  so a transaction waits by starting later, never aborts).
- Makespan = when the last transaction commits.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

DATA_PATH = Path(__file__).parent / "data" / "txn" / "workloads.json"


@dataclass(frozen=True)
class Txn:
    """One transaction: its id, length, and per key the first op reading / writing it."""

    tid: str
    length: int
    reads: tuple[tuple[str, int], ...]  # (key, op index) for each read op
    writes: tuple[tuple[str, int], ...]  # (key, op index) for each write op


def parse_txn(tid: str, text: str) -> Txn:
    """Parse 'w-17 r-5 *' into a Txn; raises ValueError on a malformed op."""
    reads, writes = [], []
    ops = text.split()
    for index, op in enumerate(ops):
        if op == "*":
            continue
        mode, sep, key = op.partition("-")
        if not sep or not key or mode not in ("r", "w"):
            raise ValueError(f"{tid}: malformed op {op!r} (expected r-KEY, w-KEY or *)")
        (reads if mode == "r" else writes).append((key, index))
    return Txn(tid, len(ops), tuple(reads), tuple(writes))


class LockTable:
    """Per key, when the last earlier-scheduled writer / any holder commits."""

    def __init__(self):
        self.write_release: dict[str, int] = {}
        self.any_release: dict[str, int] = {}
        self.last_start = 0
        self.makespan = 0

    def earliest_start(self, txn: Txn) -> int:
        """The earliest start for `txn` if it were scheduled next."""
        start = self.last_start
        for key, k in txn.reads:
            start = max(start, self.write_release.get(key, 0) - k)
        for key, k in txn.writes:
            start = max(start, self.any_release.get(key, 0) - k)
        return start

    def place(self, txn: Txn) -> tuple[int, int]:
        """Schedule `txn` next; returns its (start, commit)."""
        start = self.earliest_start(txn)
        commit = start + txn.length
        for key, _ in txn.reads:
            self.any_release[key] = max(self.any_release.get(key, 0), commit)
        for key, _ in txn.writes:
            self.any_release[key] = max(self.any_release.get(key, 0), commit)
            self.write_release[key] = max(self.write_release.get(key, 0), commit)
        self.last_start = start
        self.makespan = max(self.makespan, commit)
        return start, commit


def schedule_times(txns: dict[str, Txn], order: Sequence[str]) -> list[tuple[str, int, int]]:
    """(id, start, commit) of each transaction, in schedule order."""
    table = LockTable()
    return [(tid, *table.place(txns[tid])) for tid in order]


def makespan(txns: dict[str, Txn], order: Sequence[str]) -> int:
    """When the last transaction of `order` commits."""
    table = LockTable()
    for tid in order:
        table.place(txns[tid])
    return table.makespan


def lower_bound(txns: dict[str, Txn]) -> int:
    """A makespan no schedule beats: the longest transaction, or a key's serialized holds.

    Under the model, a transaction that writes a key and any other transaction touching
    that key never hold it at once: whichever is scheduled later takes its first lock on
    the key only after the earlier one commits (an upgrading reader excepted: against a
    plain reader only its hold from its first write counts). So for each key the holds
    [S+first, commit) of its writers, plus one reader's, are disjoint: together they span
    at least the sum of their lengths, starting no sooner than the smallest offset.
    """
    bound = max(t.length for t in txns.values())
    writers: dict[str, list[tuple[int, int, int]]] = {}  # key -> (first access, first write, length)
    readers: dict[str, list[int]] = {}  # key -> hold lengths of read-only holders
    for t in txns.values():
        first_write: dict[str, int] = {}
        for key, k in t.writes:
            first_write[key] = min(first_write.get(key, k), k)
        first_any = dict(first_write)
        for key, k in t.reads:
            first_any[key] = min(first_any.get(key, k), k)
        for key, k in first_any.items():
            if key in first_write:
                writers.setdefault(key, []).append((k, first_write[key], t.length))
            else:
                readers.setdefault(key, []).append((k, t.length - k))
    for key, group in writers.items():
        serial = min(a for a, _, _ in group) + sum(n - a for a, _, n in group)
        bound = max(bound, serial)
        if key in readers:
            r_first, r_hold = max(readers[key], key=lambda h: h[1])
            with_reader = min(r_first, *(w for _, w, _ in group)) + r_hold + sum(n - w for _, w, n in group)
            bound = max(bound, with_reader)
    return bound


@lru_cache(maxsize=None)
def load_workloads() -> dict[str, dict[str, Txn]]:
    """The shipped workloads: name -> {txn id: Txn}, ids in file order."""
    raw = json.loads(DATA_PATH.read_text())["workloads"]
    return {name: {tid: parse_txn(tid, text) for tid, text in txns.items()} for name, txns in raw.items()}
