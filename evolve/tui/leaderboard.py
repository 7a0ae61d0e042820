"""The ranked programs of a run, as a rich table or as JSON rows for scripts."""
from __future__ import annotations

from rich.table import Table

from evolve.db.models import Program
from evolve.problem import Objective
from evolve.tui.progress import short_error


def key_metrics(objectives: list[Objective], program: Program) -> dict:
    metrics = program.metrics or {}
    return {o.name: metrics.get(o.name) for o in objectives}


def rows(programs: list[Program], objectives: list[Objective]) -> list[dict]:
    """One JSON-able dict per program, in rank order (rank only for scored programs)."""
    out = []
    for i, p in enumerate(programs, start=1):
        out.append({
            "rank": i if p.score is not None else None, "id": p.id, "score": p.score,
            "metrics": key_metrics(objectives, p), "parent_id": p.parent_id,
            "second_parent_id": p.second_parent_id, "generation": p.generation,
            "mutation": p.mutation, "status": p.status, "iteration": p.iteration,
            "error": short_error(p.error) or None,
        })
    return out


def table(title: str, data: list[dict], objectives: list[Objective]) -> Table:
    t = Table(title=title)
    for col in ("rank", "id", "score", *(o.name for o in objectives), "parent", "gen", "made by", "status"):
        t.add_column(col, justify="right" if col not in ("made by", "status") else "left")
    for r in data:
        t.add_row(
            str(r["rank"] or "-"), str(r["id"]), _fmt(r["score"]),
            *(_fmt(r["metrics"][o.name]) for o in objectives),
            str(r["parent_id"] or "-"), str(r["generation"]), r["mutation"], r["status"],
        )
    return t


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
