"""A run at a glance: budget, best against the start, rate, counts, spend, islands, recent improvements.

One renderer shared by the live display of `evolve start` and by `evolve status`.
"""
from __future__ import annotations

from datetime import datetime

from rich.console import Group
from rich.table import Table
from rich.text import Text

from evolve.tui.snapshot import Snapshot


def budget(snap: Snapshot) -> dict:
    """The run's budget as configured: iterations and max_usd where present."""
    b = ((snap.run.get("config") or {}).get("evolution") or {}).get("budget") or {}
    return {"iterations": b.get("iterations"), "max_usd": b.get("max_usd"), "wall_time": b.get("wall_time")}


def rate_per_minute(snap: Snapshot) -> float | None:
    """Evaluations per minute over the span of the recorded evaluations."""
    times = [r.evaluated_at for r in snap.evaluation_order() if r.evaluated_at]
    if len(times) < 2 or times[-1] <= times[0]:
        return None
    return (len(times) - 1) / ((times[-1] - times[0]).total_seconds() / 60)


def facts(snap: Snapshot) -> dict:
    """Everything `evolve status --json` prints."""
    best, initial = snap.best, snap.initial
    return {
        "run": snap.name, "problem": snap.run.get("problem"), "status": snap.run.get("status"),
        "stop_reason": snap.run.get("stop_reason"), "programs": len(snap.rows),
        "children": sum(1 for r in snap.rows if r.iteration > 0), "budget": budget(snap),
        "best": None if best is None else {"id": best.id, "score": best.score, "mutation": best.mutation},
        "initial_score": None if initial is None else initial.score,
        "evaluations_per_minute": rate_per_minute(snap), "counts": dict(snap.counts()),
        "failed_by_reason": dict(snap.failure_reasons()),
        "spend": {m: dict(s) for m, s in snap.spend.items()}, "spent_usd": snap.spent(),
        "best_per_island": {str(i): {"id": r.id, "score": r.score} for i, r in sorted(snap.islands().items())},
        "improvements": [{"id": r.id, "score": r.score, "mutation": r.mutation, "model": r.model}
                         for r in snap.improvements(5)],
        "dedup": snap.dedup, "cascade": snap.cascade,
    }


def _score(v: float | None) -> str:
    return "-" if v is None else f"{v:.6g}"


def render(snap: Snapshot, improvements: int = 5) -> Group:
    """The at-a-glance panel as rich renderables."""
    f = facts(snap)
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    best = f["best"]
    gain = ""
    if best and f["initial_score"] is not None:
        gain = f"  ({best['score'] - f['initial_score']:+.6g} over the starting program)"
    grid.add_row("best", (f"#{best['id']} {_score(best['score'])}" if best else "-") + gain)
    grid.add_row("starting program", _score(f["initial_score"]))
    rate = f["evaluations_per_minute"]
    grid.add_row("evaluations/min", "-" if rate is None else f"{rate:.1f}")
    counts = f["counts"]
    reasons = f["failed_by_reason"]
    shown = []
    for status in sorted(counts, key=lambda s: (s != "evaluated", s)):
        extra = ""
        if status == "failed" and reasons:
            extra = " (" + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])) + ")"
        shown.append(f"{status} {counts[status]}{extra}")
    grid.add_row("programs", ", ".join(shown) or "none yet")
    max_usd = f["budget"]["max_usd"]
    if snap.spend or max_usd:
        cap = f" of ${max_usd:g}" if max_usd else ""
        per_model = ", ".join(f"{m} ${s['cost_usd']:.4f} ({s['calls']} calls)" for m, s in sorted(snap.spend.items()))
        grid.add_row("spend", f"${f['spent_usd']:.4f}{cap}" + (f": {per_model}" if per_model else ""))
    for label, text in savings(snap):
        grid.add_row(label, text)
    islands = snap.islands()
    if islands:
        grid.add_row("best per island", "  ".join(f"{i}: #{r.id} {_score(r.score)}" for i, r in sorted(islands.items())))
    parts = [grid]
    recent = snap.improvements(improvements)
    if recent:
        t = Table(title="last improvements", title_justify="left", box=None, padding=(0, 1))
        for col in ("id", "score", "made by", "model", "when"):
            t.add_column(col)
        for r in reversed(recent):
            t.add_row(f"#{r.id}", _score(r.score), r.mutation, r.model or "-", _when(r.evaluated_at))
        parts.append(t)
    return Group(*parts)


def _when(t: datetime | None) -> str:
    return "-" if t is None else t.strftime("%H:%M:%S")


def status_line(snap: Snapshot) -> Text:
    f = facts(snap)
    text = Text(f"{snap.name}", style="bold")
    text.append(f"  {f['problem']}  {f['status']}")
    if f["stop_reason"]:
        text.append(f" ({f['stop_reason']})", style="dim")
    return text


def savings(snap: Snapshot) -> list[tuple[str, str]]:
    """What the duplicate filter and the evaluation cascade saved, as (label, text) rows."""
    rows = []
    dedup, cascade = snap.dedup, snap.cascade
    if dedup:
        rate = dedup["collision_rate"]
        rows.append(("duplicates caught", (
            f"{dedup['syntactic']} syntactic, {dedup['functional']} functional: {dedup['evaluations_saved']} "
            f"evaluations and {dedup['seconds_saved']:.1f} s saved (probes cost {dedup['probe_seconds']:.1f} s); "
            f"{dedup['unhashable']} unhashable; collision rate "
            + ("not measured" if rate is None else f"{rate:.1%} of {dedup['audited']} audited"))))
    if cascade and cascade["stopped_early"]:
        rows.append(("cascade", f"{cascade['stopped_early']} stopped early: {cascade['seconds_saved']:.1f} s of "
                                f"evaluation saved ({cascade['share_saved']:.0%})"))
    return rows


def savings_lines(snap: Snapshot) -> list[str]:
    return [f"{label}: {text}" for label, text in savings(snap)]
