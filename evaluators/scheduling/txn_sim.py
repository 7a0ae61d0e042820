"""Makespan of a transaction schedule under one of two execution models (`model` in a workload).

`strict_2pl` (the default; `problems/txn_scheduling/README.md`): strict two-phase locking with
waiting, no aborts:
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

`adrs` (`problems/txn_scheduling_adrs/README.md`): the per-op lock semantics of the ADRS
leaderboard's harness, written from its definition (`Workload.get_opt_seq_cost`):
- op k of a transaction started at S runs at the instant S+k and holds its key only then;
- a write to a key comes strictly after every op already placed on it; a read strictly after
  the last write placed on it (reads share);
- a transaction starts as early as that allows, at 0 or later, whatever the start of the one
  before it in the schedule (the schedule only orders who claims a key first);
- it commits at S + len; makespan = the last commit.
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


class InstantTable:
    """The `adrs` model: per key, the last instant any op / a write was placed on it."""

    def __init__(self):
        self.last_any: dict[str, int] = {}
        self.last_write: dict[str, int] = {}
        self.makespan = 0

    def earliest_start(self, txn: Txn) -> int:
        start = 0
        for key, k in txn.writes:
            if key in self.last_any:
                start = max(start, self.last_any[key] + 1 - k)
        for key, k in txn.reads:
            if key in self.last_write:
                start = max(start, self.last_write[key] + 1 - k)
        return start

    def place(self, txn: Txn) -> tuple[int, int]:
        start = self.earliest_start(txn)
        for key, k in txn.reads:
            self.last_any[key] = max(self.last_any.get(key, -1), start + k)
        for key, k in txn.writes:
            self.last_any[key] = max(self.last_any.get(key, -1), start + k)
            self.last_write[key] = max(self.last_write.get(key, -1), start + k)
        commit = start + txn.length
        self.makespan = max(self.makespan, commit)
        return start, commit


MODELS = {"strict_2pl": LockTable, "adrs": InstantTable}


def table_for(model: str = "strict_2pl"):
    """An empty schedule table of `model` (a ValueError naming the known ones otherwise)."""
    if model not in MODELS:
        raise ValueError(f"unknown txn model {model!r}; known: {', '.join(MODELS)}")
    return MODELS[model]()


def schedule_times(txns: dict[str, Txn], order: Sequence[str], model: str = "strict_2pl") -> list[tuple[str, int, int]]:
    """(id, start, commit) of each transaction, in schedule order."""
    table = table_for(model)
    return [(tid, *table.place(txns[tid])) for tid in order]


def makespan(txns: dict[str, Txn], order: Sequence[str], model: str = "strict_2pl") -> int:
    """When the last transaction of `order` commits."""
    table = table_for(model)
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


def lower_bound_instants(txns: dict[str, Txn]) -> int:
    """A makespan no schedule beats under the `adrs` model: the longest transaction, or per key its ops'
    distinct instants (each write has one of its own; the reads need one more, off every write's), after
    the shortest lead-in to an op on the key and before the shortest tail after one."""
    bound = max(t.length for t in txns.values())
    ops: dict[str, list[tuple[str, int, int]]] = {}  # key -> (mode, op index, txn length)
    for t in txns.values():
        for mode, group in (("r", t.reads), ("w", t.writes)):
            for key, k in group:
                ops.setdefault(key, []).append((mode, k, t.length))
    for group in ops.values():
        writes = sum(mode == "w" for mode, _, _ in group)
        instants = writes + (writes < len(group))
        lead = min(k for _, k, _ in group)
        tail = min(n - k - 1 for _, k, n in group)
        bound = max(bound, lead + instants + tail)
    return bound


LOWER_BOUNDS = {"strict_2pl": lower_bound, "adrs": lower_bound_instants}


@lru_cache(maxsize=None)
def load_workloads() -> dict[str, dict[str, Txn]]:
    """The shipped workloads: name -> {txn id: Txn}, ids in file order."""
    raw = json.loads(DATA_PATH.read_text())["workloads"]
    return {name: {tid: parse_txn(tid, text) for tid, text in txns.items()} for name, txns in raw.items()}
