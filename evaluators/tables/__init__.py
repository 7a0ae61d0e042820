"""Evaluator for `problems/llm_sql`: prefix-cache hit rate of the candidate's row and column orders.

The candidate defines `reorder(table) -> (row_order, col_order)`, called once per table with a
fresh `Table` (data.py). Workload keys: `tables: [..]` or `name: all` (the shipped tables), or
`csv: PATH` (a user's table, optional `merges: [[col, ..], ..]`); `rows: N` keeps the first N rows;
`measure: cost` times the candidate only (a functional duplicate's partial evaluation). The probe's
workload is `{stages: [workload, ...]}`: the stages' own workloads, in order (see probe()).
"""
from __future__ import annotations

import functools
import json

from ..common import CandidateError, call_candidate, failure, load_candidate, perf_counter, require_callable
from .baselines import BASELINES
from .data import Table, TableError, load_tables
from .prefix import hit_rate

API = "reorder"
RUNTIME_CAP_S = 10.0  # the leaderboard's runtime component reaches 0 here


def check_orders(table: Table, answer) -> tuple[list[int], list[int]]:
    """The answer as two index lists; CandidateError saying what is wrong otherwise."""
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise CandidateError(f"table {table.name}: reorder must return (row_order, col_order), got {type(answer).__name__}")
    out = []
    for what, order, size in (("row", answer[0], table.shape[0]), ("column", answer[1], table.shape[1])):
        try:
            order = [int(i) for i in order]
        except (TypeError, ValueError):
            raise CandidateError(f"table {table.name}: the {what} order must be a list of ints") from None
        if sorted(order) != list(range(size)):
            missing = sorted(set(range(size)) - set(order))[:5]
            dups = sorted({i for i in order if order.count(i) > 1})[:5] if len(order) < 5000 else []
            raise CandidateError(f"table {table.name}: the {what} order is not a permutation of 0..{size - 1} "
                                 f"(length {len(order)}, missing {missing}, repeated {dups}, out of range "
                                 f"{sorted(i for i in set(order) if not 0 <= i < size)[:5]})")
        out.append(order)
    return out[0], out[1]


def _run(fn, tables: list[Table]) -> tuple[list, list[float]]:
    answers, times = [], []
    for table in tables:
        start = perf_counter()
        answers.append(call_candidate(fn, table))
        times.append(perf_counter() - start)
    return answers, times


def score_tables(tables: list[Table], answers) -> list[dict]:
    """Per table: hit rate of the answer and of the original order (the anchor)."""
    rows = []
    for table, answer in zip(tables, answers):
        r, c = check_orders(table, answer)
        hits, total = hit_rate(table.rows, r, c)
        base_hits, _ = hit_rate(table.rows, range(table.shape[0]), range(table.shape[1]))
        rows.append({"table": table.name, "hit_rate": hits / max(total, 1), "baseline": base_hits / max(total, 1),
                     "chars": total})
    return rows


def adrs_score(hit: float, baseline: float, runtime: float) -> float:
    """The leaderboard's 0-100 score: 95% normalized hit-rate gain over the anchor, 5% runtime."""
    norm = min(100.0, max(0.0, (hit - baseline) / max(1e-12, 1.0 - baseline) * 100.0))
    return 0.95 * norm + 0.05 * (RUNTIME_CAP_S - min(RUNTIME_CAP_S, runtime)) / RUNTIME_CAP_S * 100.0


def evaluate(program_path: str, workload: dict | None = None) -> dict:
    """Score the candidate on the workload's tables; never raises for a bad candidate."""
    workload = dict(workload or {})
    measure, known = workload.pop("measure", "all"), workload.pop("known", None) or {}
    try:
        tables = load_tables(workload)  # built before the candidate is imported; it gets immutable copies
    except TableError as exc:
        return failure(f"bad workload: {exc}")
    try:
        fn = require_callable(load_candidate(program_path), API)
        answers, times = _run(fn, tables)
        rows = [] if measure == "cost" else score_tables(tables, answers)
    except CandidateError as exc:
        return failure(str(exc))
    runtime = sum(times) / len(times)  # the leaderboard's average runtime per table
    if measure == "cost":
        metrics = {"runtime_s": runtime}
        if all(isinstance(known.get(k), (int, float)) for k in ("hit_rate", "baseline_hit_rate")):
            metrics["adrs_score"] = adrs_score(known["hit_rate"], known["baseline_hit_rate"], runtime)
        return {"metrics": metrics, "artifacts": {"call_seconds": [round(t, 6) for t in times]}}
    hit = sum(r["hit_rate"] for r in rows) / len(rows)
    base = sum(r["baseline"] for r in rows) / len(rows)
    metrics = {"valid": True, "hit_rate": hit, "baseline_hit_rate": base, "runtime_s": runtime,
               "adrs_score": adrs_score(hit, base, runtime)}
    feedback = "; ".join(f"{r['table']}: {r['hit_rate']:.4f} (original order {r['baseline']:.4f})" for r in rows)
    return {"metrics": metrics, "artifacts": {"tables": rows, "call_seconds": [round(t, 6) for t in times],
                                              "feedback": f"prefix hit rate per table: {feedback}; "
                                                          f"mean {runtime * 1e3:.1f} ms per table"}}


def probe(program_path: str, workload: dict | None = None):
    """Per table of the last stage, the part of the candidate's column order that decides its hits
    (decisive_columns()), or the reason it is invalid: equal outputs mean equal hit rates.

    `stages` lists the stages' own workloads, in order; each is run in turn, on the whole tables: a column
    order made from the first rows is not the one made from all of them. The row order is checked but not
    returned: hits against *any* earlier prompt sum to the total length minus the number of distinct
    prompt prefixes, which no row order changes (see the README). What this skips is the evaluation's
    bulk, replaying the prompts (twice per table); the runtime is a cost, measured again on a hit. An
    invalid answer (or a raise) ends the probe with its reason and the earlier stages' orders (whose hit
    rate the failed run keeps)."""
    workload = dict(workload or {})
    try:
        stages = [_cached_tables(w) for w in workload.get("stages") or [workload]]
        fn = require_callable(load_candidate(program_path), API)
    except (CandidateError, TableError) as exc:
        return {"error": str(exc)}
    done = []
    for i, tables in enumerate(stages):
        try:
            answers, _ = _run(fn, [t for t, _ in tables])
            done.append([decisive_columns(table, check_orders(table, answer)[1], facts)
                         for (table, facts), answer in zip(tables, answers)])
        except CandidateError as exc:
            return {"error": f"stage {i}: {exc}", "before": done}
    return done[-1]


def decisive_columns(table: Table, col_order: list[int], facts=None) -> list[int]:
    """The head of `col_order` that decides the hit count: all-empty columns left out (they add nothing to
    any prompt) and cut after the first columns whose joined values, over the distinct rows, are
    prefix-free (none is a prefix of another's). From there on each row's prompt shares nothing more with
    another's whatever comes next (two rows that share a longer prefix would make one of those heads a
    prefix of the other's), so the rest of the order cannot change a hit. Prefix-free stays so as columns
    are added; it needs the heads' values to differ as tuples, which is cheaper to see, so that comes first."""
    empty, columns = facts or _facts(table)
    cols = [c for c in col_order if c not in empty]
    n = len(columns[0]) if columns else 0
    if n < 2:  # one distinct prompt: no order changes its hits
        return []

    def head(k: int):  # the distinct rows' values in the first k columns
        return zip(*(columns[c] for c in cols[:k]))

    lo, hi = 1, len(cols) + 1  # the first k whose heads differ as tuples (len(cols) + 1: none), a binary search
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if len(set(head(mid))) == n else (mid + 1, hi)
    for k in range(lo, len(cols) + 1):
        if _prefix_free(["".join(vs) for vs in head(k)]):
            return cols[:k]
    return cols


def _prefix_free(heads: list[str]) -> bool:
    """Whether no string is a prefix of another (nor equal to it): sorted, a prefix sits just before."""
    heads.sort()
    return not any(b.startswith(a) for a, b in zip(heads, heads[1:]))


def baseline_figures(workload: dict | None = None) -> dict[str, dict]:
    """Hit rate and mean seconds per table of each baseline on the workload (for README and benchmark)."""
    tables = load_tables(dict(workload or {}))
    out = {}
    for name, fn in BASELINES.items():
        answers, times = _run(fn, tables)
        rows = score_tables(tables, answers)
        out[name] = {"hit_rate": sum(r["hit_rate"] for r in rows) / len(rows), "seconds": sum(times) / len(times),
                     "per_table": {r["table"]: round(r["hit_rate"], 4) for r in rows}}
    return out


def prepare(workload: dict) -> None:
    """Load the probe's tables ahead (sandbox.runner calls this before any candidate): a probe then costs
    the candidate's calls and the checks alone. evaluate() loads its own: what a candidate does to these
    reaches its own probe only."""
    for w in workload.get("stages") or [workload]:
        _cached_tables(w)


def _cached_tables(workload: dict) -> tuple[tuple[Table, tuple], ...]:
    return _tables(json.dumps(workload, sort_keys=True))


@functools.lru_cache(maxsize=16)
def _tables(workload: str) -> tuple[tuple[Table, tuple], ...]:
    """The probe's tables with their _facts(), loaded once per process (it runs twice in one)."""
    return tuple((t, _facts(t)) for t in load_tables(json.loads(workload)))


def _facts(table: Table) -> tuple[frozenset[int], tuple[tuple[str, ...], ...]]:
    """What decisive_columns() needs of a table: its all-empty columns, and each column's values over the
    distinct rows (a repeated row repeats its prompt, whatever the order)."""
    rows = list(dict.fromkeys(table.rows))
    columns = tuple(zip(*rows)) if rows else ()
    return frozenset(c for c, vs in enumerate(columns) if not any(vs)), columns
