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
    """The run's own budget, from its row's config (which holds the effective values: the problem's,
    with the --iterations / --wall-time / --concurrency the run was started or resumed with)."""
    config = snap.run.get("config") or {}
    evolution = config.get("evolution") or {}
    b = evolution.get("budget") or {}
    llm = (config.get("llm") or {}).get("budget") or {}
    return {"iterations": b.get("iterations"), "wall_time": b.get("wall_time"),
            "target_score": b.get("target_score"), "patience": b.get("patience"),
            "concurrency": evolution.get("concurrency"),
            "max_usd": llm.get("max_usd"), "max_llm_calls": llm.get("max_llm_calls")}


def budget_text(snap: Snapshot) -> str:
    """The budget in words, e.g. `200 iterations, 2h wall time, $5 LLM spend; 4 evaluation(s) at once`."""
    b = budget(snap)
    parts = [f"{b['iterations']} iterations" if b["iterations"] else None,
             f"{b['wall_time']} wall time" if b["wall_time"] else None,
             f"${b['max_usd']:g} LLM spend" if b["max_usd"] else None,
             f"{b['max_llm_calls']} LLM calls" if b["max_llm_calls"] else None,
             f"until score {b['target_score']:g}" if b["target_score"] is not None else None,
             f"{b['patience']} children without improvement" if b["patience"] else None]
    text = ", ".join(p for p in parts if p) or "no limit"
    return text + (f"; {b['concurrency']} evaluation(s) at once" if b["concurrency"] else "")


def rate_per_minute(snap: Snapshot) -> float | None:
    """Evaluations per minute over the span of the recorded evaluations."""
    done = snap.evaluation_order()  # by time written; rows without a time (old databases) come last
    if done and done[-1].evaluated_at is None:
        done = [r for r in done if r.evaluated_at]
    if len(done) < 2 or done[-1].evaluated_at <= done[0].evaluated_at:
        return None
    return (len(done) - 1) / ((done[-1].evaluated_at - done[0].evaluated_at).total_seconds() / 60)


def facts(snap: Snapshot) -> dict:
    """Everything `evolve status --json` prints."""
    best, initial = snap.best, snap.initial
    return {
        "run": snap.name, "problem": snap.run.get("problem"), "status": snap.run.get("status"),
        "stop_reason": snap.run.get("stop_reason"), "programs": len(snap.rows),
        "children": len(snap.rows) - (initial is not None), "budget": budget(snap),
        "overrides": (snap.run.get("config") or {}).get("overrides") or {},  # the --set KEY=VALUE in force
        "best": None if best is None else {"id": best.id, "score": best.score, "mutation": best.mutation},
        "initial_score": None if initial is None else initial.score,
        "evaluations_per_minute": rate_per_minute(snap), "counts": dict(snap.counts()),
        "failed_by_reason": dict(snap.failure_reasons()),
        "rejected_by_reason": dict(snap.rejection_reasons()),  # patch_failed | llm_failed | budget_cut
        "llm_calls_by_outcome": dict(snap.call_outcomes()),
        "spend": {m: dict(s) for m, s in snap.spend.items()}, "spent_usd": snap.spent(),
        "best_per_island": {str(i): {"id": r.id, "score": r.score} for i, r in sorted(snap.islands().items())},
        "improvements": [{"id": r.id, "score": r.score, "mutation": r.mutation, "model": r.model}
                         for r in snap.improvements(5)],
        "dedup": snap.dedup, "cascade": snap.cascade,
    }


def _score(v: float | None) -> str:
    return "-" if v is None else f"{v:.6g}"


def render(snap: Snapshot, improvements: int = 5) -> Group:
    """The at-a-glance panel as rich renderables (every value plain text: never markup)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for label, value in rows(snap):
        grid.add_row(Text(label), Text(value))
    parts = [grid]
    recent = snap.improvements(improvements)
    if recent:
        t = Table(title="last improvements", title_justify="left", box=None, padding=(0, 1))
        for col in ("id", "score", "made by", "model", "when"):
            t.add_column(col, no_wrap=col in ("id", "score", "when"))
        for r in reversed(recent):
            t.add_row(*map(Text, (f"#{r.id}", _score(r.score), r.mutation, r.model or "-", _when(r.evaluated_at))))
        parts.append(t)
    return Group(*parts)


def rows(snap: Snapshot) -> list[tuple[str, str]]:
    """The panel's (label, value) lines: best, start, rate, programs, budget, spend, savings, islands."""
    f = facts(snap)
    best = f["best"]
    gain = ""
    if best and f["initial_score"] is not None:
        gain = f"  ({best['score'] - f['initial_score']:+.6g} over the starting program)"
    rate = f["evaluations_per_minute"]
    out = [("best", (f"#{best['id']} {_score(best['score'])}" if best else "-") + gain),
           ("starting program", _score(f["initial_score"])),
           ("evaluations/min", "-" if rate is None else f"{rate:.1f}")]
    counts = f["counts"]
    reasons = {"failed": f["failed_by_reason"], "rejected": f["rejected_by_reason"]}
    shown = []
    for status in sorted(counts, key=lambda s: (s != "evaluated", s)):
        extra = _by_count(reasons.get(status) or {})
        shown.append(f"{status} {counts[status]}" + (f" ({extra})" if extra else ""))
    out += [("programs", ", ".join(shown) or "none yet"), ("budget", budget_text(snap))]
    if f["overrides"]:
        from evolve.overrides import shown as setting

        out.append(("set", ", ".join(setting(k, v) for k, v in f["overrides"].items())))
    max_usd = f["budget"]["max_usd"]
    if snap.spend or max_usd:
        cap = f" of ${max_usd:g}" if max_usd else ""
        per_model = ", ".join(f"{m} ${s['cost_usd']:.4f} ({s['calls']} calls)" for m, s in sorted(snap.spend.items()))
        out.append(("spend", f"${f['spent_usd']:.4f}{cap}" + (f": {per_model}" if per_model else "")))
    if f["llm_calls_by_outcome"]:
        out.append(("LLM calls", _by_count(f["llm_calls_by_outcome"])))
    out += savings(snap)
    islands = snap.islands()
    if islands:
        best_of = "  ".join(f"{i}: #{r.id} {_score(r.score)}" for i, r in sorted(islands.items()))
        out.append(("best per island", best_of))
    return out


def _by_count(counts: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


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
