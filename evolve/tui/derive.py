"""Facts derived from a run's rows (best, counts, per-island bests, evaluation order, improvements),
computed once per snapshot and, on a refresh, carried forward with only the new rows added."""
from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evolve.tui.snapshot import Row

EVALUATED = ("evaluated", "infeasible", "failed")  # statuses that spent an evaluation


def best_of(rows) -> Row | None:
    scored = [r for r in rows if r.score is not None]
    return max(scored, key=lambda r: (r.score, -r.iteration)) if scored else None


def island_bests(best: dict[int, Row], rows) -> dict[int, Row]:
    best = dict(best)
    for r in rows:
        if r.score is not None and r.island is not None:
            if r.island not in best or r.score > best[r.island].score:
                best[r.island] = r
    return best


def in_order(rows) -> list[Row]:
    return sorted((r for r in rows if r.status in EVALUATED), key=lambda r: (r.evaluated_at or datetime.max, r.iteration))


def raised(before: list[Row], order) -> list[Row]:
    """`before` (improvements so far) extended with the rows of `order` that raise the best score."""
    out = list(before)
    best = out[-1].score if out else None
    for r in order:
        if r.score is not None and (best is None or r.score > best):
            best = r.score
            out.append(r)
    return out


def derive_more(derived: dict, fresh: list[Row], replaced: dict[int, Row]) -> dict:
    """The facts `derived` from a snapshot, updated for rows `fresh` (which stand in for `replaced`):
    pending rows became results and new rows arrived; finished results did not change."""
    out = {}
    if "best" in derived:
        out["best"] = best_of([*([derived["best"]] if derived["best"] else []), *fresh])
    if "counts" in derived:
        out["counts"] = derived["counts"] - Counter(r.status for r in replaced.values()) + \
            Counter(r.status for r in fresh)
    if "failures" in derived:
        out["failures"] = derived["failures"] + Counter(r.failure_reason for r in fresh if r.status == "failed")
    if "rejections" in derived:
        out["rejections"] = derived["rejections"] + Counter(r.rejection_reason for r in fresh if r.status == "rejected")
    if "islands" in derived:
        out["islands"] = island_bests(derived["islands"], fresh)
        out["island_ids"] = derived["island_ids"] | {r.island for r in fresh}
    if "order" in derived:
        out["order"] = derived["order"] + in_order(fresh)
        if "improvements" in derived:
            out["improvements"] = raised(derived["improvements"], in_order(fresh))
    return out
