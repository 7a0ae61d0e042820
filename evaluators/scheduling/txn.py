"""Evaluator for `problems/txn_scheduling`: makespan of the candidate's transaction orders.

The candidate module defines `schedule(workload) -> list of transaction ids`, called once
per workload with a fresh `TxnWorkload` (see `problems/txn_scheduling/README.md`).
Workloads (the problem YAML's mapping): {name: all} runs the three shipped workloads;
{name: WORKLOAD_2} (or `workloads: [..]`) a subset; `seed` is handed to the candidate;
`model`: `strict_2pl` (default) or `adrs`, the execution model (evaluators/scheduling/txn_sim.py).
Under `adrs` with all three workloads, `adrs_score` is the ADRS leaderboard's 0-100 score.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from ..common import (
    CandidateError, call_candidate, failure, fingerprint, load_candidate, perf_counter, require_callable, unchanged,
)
from .txn_baselines import BASELINES
from .txn_sim import LOWER_BOUNDS, MODELS, Txn, load_workloads, makespan, table_for

ADRS_SHIFT = 0.10  # the leaderboard moves its 100-point anchor this share of the way toward its 0-point one


@dataclass
class TxnWorkload:
    """What `schedule()` receives: the transactions and a makespan oracle for its own search."""

    name: str
    txns: dict[str, list[str]]  # id -> ops, e.g. {"txn0": ["w-17", "r-5", ...]}
    seed: int = 0
    _parsed: dict[str, Txn] = field(default_factory=dict, repr=False)
    model: str = "strict_2pl"

    def makespan(self, order: Sequence[str]) -> int:
        """The makespan of `order` (a full or partial sequence of ids) under the problem's model."""
        return makespan(self._parsed, order, self.model)

    def start(self, order: Sequence[str] = ()) -> "PartialSchedule":
        """An incremental schedule beginning with `order`, for cheap append-one-more search."""
        partial = PartialSchedule(self._parsed, self.model)
        for tid in order:
            partial.append(tid)
        return partial


class PartialSchedule:
    """A growing schedule: what appending one more transaction would cost, in O(its ops)."""

    def __init__(self, txns: dict[str, Txn], model: str = "strict_2pl"):
        self._txns = txns
        self._table = table_for(model)
        self.order: list[str] = []

    @property
    def makespan(self) -> int:
        """When the last transaction placed so far commits."""
        return self._table.makespan

    def commit_if_next(self, tid: str) -> int:
        """When `tid` would commit if appended now."""
        txn = self._txns[tid]
        return self._table.earliest_start(txn) + txn.length

    def append(self, tid: str) -> None:
        """Append `tid` to the schedule."""
        self._table.place(self._txns[tid])
        self.order.append(tid)


def selected(workload: dict) -> list[str]:
    """Names of the shipped workloads a YAML workload mapping selects."""
    known = list(load_workloads())
    names = workload.get("workloads") or ([] if workload.get("name", "all") == "all" else [workload["name"]])
    names = list(names) or known
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown txn workload(s) {unknown}; known: {', '.join(known)} or 'all'")
    return names


def model_of(workload: dict) -> str:
    """The workload's execution model (a ValueError naming the known ones)."""
    model = workload.get("model", "strict_2pl")
    if model not in MODELS:
        raise ValueError(f"unknown txn model {model!r} (workload key `model`); known: {', '.join(MODELS)}")
    return model


def adrs_score(total: int, given_total: int, longest_total: int) -> float:
    """The ADRS leaderboard's 0-100 score of a makespan total: 0 at the given order's total, 100 at the
    sum of the longest transactions moved ADRS_SHIFT of the way toward it; clamped."""
    target = longest_total + ADRS_SHIFT * (given_total - longest_total)
    if total >= given_total:
        return 0.0
    return min(100.0, 100.0 * (given_total - total) / (given_total - target))


def validate_order(order: object, txns: dict[str, Txn]) -> list[str]:
    """The order as a list of ids, or a CandidateError saying exactly what is wrong."""
    if isinstance(order, (str, bytes, dict, set)) or not hasattr(order, "__iter__"):
        raise CandidateError(f"schedule() must return a list of transaction ids, got {type(order).__name__}")
    order = list(order)
    if len(order) != len(txns):
        raise CandidateError(f"schedule() returned {len(order)} ids; the workload has {len(txns)} transactions")
    bad = [tid for tid in order if not isinstance(tid, str) or tid not in txns]
    if bad:
        raise CandidateError(f"schedule() returned unknown ids {bad[:5]!r}; ids look like {next(iter(txns))!r}")
    seen: set[str] = set()
    dupes = [tid for tid in order if tid in seen or seen.add(tid)]
    if dupes:
        missing = sorted(set(txns) - seen)
        raise CandidateError(f"schedule() repeated {dupes[:5]!r} and left out {missing[:5]!r}")
    return order


def run_schedule(fn, name: str, txns: dict[str, Txn], seed: int, model: str = "strict_2pl") -> list[str]:
    """Call the candidate on one workload and validate its permutation."""
    view = TxnWorkload(name, {tid: _ops(t) for tid, t in txns.items()}, seed, dict(txns), model)
    try:
        return validate_order(call_candidate(fn, view), txns)
    except CandidateError as exc:
        raise CandidateError(f"on {name}: {exc}") from None


def _ops(txn: Txn) -> list[str]:
    ops = ["*"] * txn.length
    for key, k in txn.reads:
        ops[k] = f"r-{key}"
    for key, k in txn.writes:
        ops[k] = f"w-{key}"
    return ops


def evaluate(program_path: str, workload: dict) -> dict:
    """Makespan per workload and in total; baselines and lower bounds in artifacts."""
    start = perf_counter()
    try:
        names, model = selected(workload), model_of(workload)
    except ValueError as exc:
        return failure(f"bad workload: {exc}")
    data = load_workloads()
    seed = int(workload.get("seed", 0))
    before = fingerprint(data)  # loaded before the candidate is imported
    try:
        fn = require_callable(load_candidate(program_path), "schedule")
        orders = {name: run_schedule(fn, name, data[name], seed, model) for name in names}
        unchanged(before, data, "transaction workloads")
    except CandidateError as exc:
        return failure(str(exc))
    metrics: dict = {"valid": True}
    table = {}
    for name in names:
        value = makespan(data[name], orders[name], model)
        bound = LOWER_BOUNDS[model](data[name])
        metrics[f"makespan_{name.lower()}"] = value
        table[name] = {"makespan": value, "lower_bound": bound,
                       "longest_txn": max(t.length for t in data[name].values()),
                       **{b: makespan(data[name], f(data[name], model), model) for b, f in BASELINES.items()}}
    metrics["makespan_total"] = sum(metrics[f"makespan_{n.lower()}"] for n in names)
    metrics["lower_bound_total"] = sum(table[n]["lower_bound"] for n in names)
    if model == "adrs" and set(names) == set(data):  # the leaderboard scores the three workloads together
        given, longest = (sum(table[n][k] for n in names) for k in ("given_order", "longest_txn"))
        metrics["adrs_score"] = adrs_score(metrics["makespan_total"], given, longest)
    metrics["eval_s"] = perf_counter() - start
    return {"metrics": metrics, "artifacts": {"model": model, "per_workload": table}}


def probe(program_path: str, workload: dict | None = None) -> object:
    """The candidate's order (its decision) on each selected workload (all three by default), cut to its
    first `txns` transactions when given: the greedy search costs the square of the count, so a cut
    probe is a small share of an evaluation and still tells orderings apart."""
    workload = dict(workload or {"name": "all"})
    try:
        names, model = selected(workload), model_of(workload)
        fn = require_callable(load_candidate(program_path), "schedule")
        data = load_workloads()
        seed, limit = int(workload.get("seed", 0)), workload.get("txns")
        cut = {name: dict(list(data[name].items())[:limit]) if limit else data[name] for name in names}
        return {name: run_schedule(fn, name, cut[name], seed, model) for name in names}
    except (CandidateError, ValueError) as exc:
        return {"error": str(exc).splitlines()[0]}
