"""The leaderboard's rows: which columns to show, how to sort them, and the filter language.

Pure functions over a Snapshot, shared by the textual app and `evolve leaderboard --plain`.
Filter text is a list of words: `status:failed island:1 model:gpt mut:crossover 42`
(a bare number matches an id; other bare words match the status or how it was made).
`fit` and `rich_table` make a table fit the terminal without cutting what matters.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

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


# --- fitting a table to the terminal --------------------------------------------------------
# What gives way, in order, when a leaderboard is wider than the terminal: narrow low-value
# columns go first, then long text columns are abbreviated, then dropped. Ids, scores, objectives
# and statuses are never cut; any column not named here is dropped last, rightmost first.
GIVE_WAY = (("drop", "parent"), ("drop", "generation"), ("shrink", "mutation"), ("shrink", "model"),
            ("drop", "island"), ("drop", "model"), ("drop", "mutation"), ("drop", "pareto"), ("drop", "holdout"))
KEEP = ("rank", "id", "score", "status")  # never dropped
SHRUNK_MIN = 12  # an abbreviated column keeps at least this many characters


def fit(keys: Sequence[str], labels: Sequence[str], rows: Sequence[Sequence[str]], width: int,
        give_way: Sequence[tuple[str, str]] = GIVE_WAY, keep: Sequence[str] = KEEP) -> list[tuple[int, int]]:
    """(column index, width) of the columns to show so a boxed table of `rows` fits in `width` cells.

    Follows `give_way` (("drop" | "shrink", key) steps), then drops the remaining columns not in
    `keep` from the right; a column in `keep` is never dropped. Columns that stay and are not shrunk
    get their full natural width.
    """
    widths = {i: max([cell_len(labels[i])] + [cell_len(r[i]) for r in rows]) for i in range(len(keys))}
    index = {k: i for i, k in enumerate(keys)}
    steps = [(a, index[k]) for a, k in give_way if k in index and not (a == "drop" and k in keep)]
    steps += [("drop", i) for i in reversed(range(len(keys))) if keys[i] not in keep]

    def total() -> int:  # rich's default box: a border and one space of padding either side of each cell
        return sum(w + 3 for w in widths.values()) + 1

    for action, i in steps:
        if total() <= width:
            break
        if i not in widths:
            continue
        if action == "shrink":
            floor = max(SHRUNK_MIN, cell_len(labels[i]))
            widths[i] = min(widths[i], max(floor, widths[i] - (total() - width)))  # never wider than it was
        else:
            del widths[i]
    return sorted(widths.items())


def rich_table(keys: Sequence[str], labels: Sequence[str], rows: Sequence[Sequence[str]], width: int,
               title: str | None = None, right: Sequence[str] = (), give_way: Sequence[tuple[str, str]] = GIVE_WAY,
               keep: Sequence[str] = KEEP) -> Table:
    """A rich Table of plain-text cells (never markup) that fits `width`, by `fit`; keys in `right`
    are right-justified. Shrunk columns end in an ellipsis; every other cell is shown in full."""
    shown = fit(keys, labels, rows, width, give_way, keep)
    t = Table(title=Text(title) if title else None, min_width=min(cell_len(title or ""), width) or None)
    for i, w in shown:
        t.add_column(Text(labels[i]), justify="right" if keys[i] in right else "left", width=w, no_wrap=True,
                     overflow="ellipsis")
    for r in rows:
        t.add_row(*(Text(r[i]) for i, _ in shown))
    return t
