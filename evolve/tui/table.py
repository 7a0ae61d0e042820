"""The leaderboard's rows: which columns to show, how to sort them, and the filter language.

Pure functions over a Snapshot, shared by the textual app and `evolve leaderboard --plain`.
Filter text is a list of words: `status:failed island:1 model:gpt mut:crossover 42`
(a bare number matches an id; other bare words match the status or how it was made).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from evolve.tui.snapshot import Row, Snapshot

FIELDS = {"status": "status", "island": "island", "model": "model", "mut": "mutation", "kind": "mutation",
          "mutation": "mutation", "id": "id"}


@dataclass(frozen=True)
class Column:
    key: str
    label: str


def sort_keys(snap: Snapshot) -> list[str]:
    """What the table can be sorted by: score, objectives, Pareto rank, other metrics, time, generation, id."""
    keys = ["score", *(o.name for o in snap.objectives)]
    if len(snap.objectives) > 1:
        keys.append("pareto")
    seen = set(keys)
    for r in snap.rows:
        for k, v in r.metrics.items():
            if k not in seen and isinstance(v, (int, float)) and not isinstance(v, bool):
                seen.add(k)
                keys.append(k)
    return keys + ["time", "generation", "id"]


def columns(snap: Snapshot) -> list[Column]:
    cols = [Column("id", "id"), Column("score", "score")]
    cols += [Column(o.name, o.name) for o in snap.objectives]
    if len(snap.objectives) > 1:
        cols.append(Column("pareto", "pareto"))
    cols += [Column("status", "status"), Column("mutation", "made by")]
    if any(r.model for r in snap.rows):
        cols.append(Column("model", "model"))
    if len({r.island for r in snap.rows}) > 1:
        cols.append(Column("island", "island"))
    if any(r.extra.get("holdout_score") is not None or r.extra.get("holdout_metrics") for r in snap.rows):
        cols.insert(2, Column("holdout", "held-out"))  # beside the search score; "!" flags overfitting
    return cols + [Column("generation", "gen"), Column("parent", "parent")]


def overfit(snap: Snapshot, row: Row) -> bool:
    """The held-out score falls more than `evolution.holdout_warn` below the search score (or failed)."""
    held, score = row.extra.get("holdout_score"), row.score
    if score is None or (held is None and not row.extra.get("holdout_metrics")):
        return False
    warn = ((_config(snap).get("evolution") or {}).get("holdout_warn", 0.1))
    return held is None or held < score - warn * max(abs(score), 1e-12)


def _config(snap: Snapshot) -> dict:
    config = snap.run.get("config")
    if isinstance(config, str):
        import json
        try:
            config = json.loads(config)
        except ValueError:
            config = None
    return config if isinstance(config, dict) else {}


def cell(snap: Snapshot, row: Row, key: str, ranks: dict[int, int]) -> str:
    if key == "score" and row.score is not None and row.extra.get("score_std") is not None:
        return f"{row.score:.6g} ±{row.extra['score_std']:.2g}"  # the mean of re-evaluations, with its spread
    if key == "holdout":
        held = row.extra.get("holdout_score")
        text = "-" if held is None else f"{held:.6g}"
        return text + (" !" if overfit(snap, row) else "")
    if key == "score":
        value = row.score
    elif key == "pareto":
        value = ranks.get(row.id)
    elif key == "parent":
        value = row.parent_id if row.second_parent_id is None else f"{row.parent_id}×{row.second_parent_id}"
    elif key == "status" and row.duplicate_of is not None:
        value = f"{row.status} =#{row.duplicate_of}"
    elif hasattr(row, key) and key not in ("metrics", "extra"):
        value = getattr(row, key)
    else:
        value = row.metrics.get(key)
    if value is None:
        return "-"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def sort_rows(snap: Snapshot, rows: list[Row], key: str, reverse: bool = False) -> list[Row]:
    """Best first by default (scores and max-objectives descending, min-objectives ascending, newest first
    for time); programs without a value always last."""
    ranks = snap.pareto_ranks() if key == "pareto" else {}
    directions = {o.name: o.direction for o in snap.objectives}

    def value(r: Row):
        if key == "score":
            return None if r.score is None else -r.score
        if key == "lexicographic":
            vals = [r.metrics.get(o.name) for o in snap.objectives]
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
                return None
            return tuple(v if o.direction == "min" else -v for o, v in zip(snap.objectives, vals))
        if key == "pareto":
            rank = ranks.get(r.id)
            return None if rank is None else (rank, -(r.score or 0.0))
        if key == "time":
            t = r.evaluated_at or r.created_at
            return None if t is None else -(t - datetime(1970, 1, 1)).total_seconds()
        if key in ("generation", "id", "island"):
            return getattr(r, key)
        v = r.metrics.get(key)
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            return None
        return v if directions.get(key) == "min" else -v

    # evaluated programs rank first; duplicates (credited with their original's score),
    # infeasible and failed ones follow, then those without a value
    ranked = [r for r in rows if r.status == "evaluated" and value(r) is not None]
    others = [r for r in rows if r.status != "evaluated" and value(r) is not None]
    missing = [r for r in rows if value(r) is None]
    for group in (ranked, others):
        group.sort(key=lambda r: (value(r), r.iteration), reverse=reverse)
    # infeasible programs by how far they miss their constraints, then the rest in creation order
    missing.sort(key=lambda r: (r.status != "infeasible", r.extra.get("violation") or 0.0, r.iteration))
    return ranked + others + missing


def matches(row: Row, query: str) -> bool:
    """Does the row pass every word of the filter text?"""
    for word in query.split():
        field, sep, want = word.partition(":")
        if sep and field.lower() in FIELDS:
            attr = FIELDS[field.lower()]
            have = getattr(row, attr)
            if attr in ("island", "id"):
                if str(have) != want:
                    return False
            elif want.lower() not in str(have or "").lower():
                return False
        elif word.lstrip("#").isdigit():
            if row.id != int(word.lstrip("#")):
                return False
        elif word.lower() not in f"{row.status} {row.mutation} {row.model or ''}".lower():
            return False
    return True


def visible(snap: Snapshot, query: str, key: str, reverse: bool = False) -> list[Row]:
    return sort_rows(snap, [r for r in snap.rows if matches(r, query)], key, reverse)
