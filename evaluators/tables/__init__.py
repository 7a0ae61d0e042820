"""Evaluator for `problems/llm_sql`: prefix-cache hit rate of the candidate's row and column orders.

The candidate defines `reorder(table) -> (row_order, col_order)`, called once per table with a
fresh `Table` (data.py). Workload keys: `tables: [..]` or `name: all` (the shipped tables), or
`csv: PATH` (a user's table, optional `merges: [[col, ..], ..]`); `rows: N` keeps the first N rows;
`measure: cost` times the candidate only (a functional duplicate's partial evaluation).
"""
from __future__ import annotations

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
    """The candidate's decisions on small tables: per table, its column order (checked with its row order).

    The row order is checked but not returned: hits against *any* earlier prompt sum to the total length
    minus the number of distinct prompt prefixes, which no row order changes (see the README)."""
    workload = dict(workload or {"rows": 40})
    try:
        tables = load_tables(workload)
        fn = require_callable(load_candidate(program_path), API)
        answers, _ = _run(fn, tables)
        return [check_orders(t, a)[1] for t, a in zip(tables, answers)]
    except (CandidateError, TableError) as exc:
        return {"error": str(exc)}


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
