"""`evolve report RUN -o DIR`: PNG plots (score over evaluations, Pareto front, spend over time) and a
one-page HTML that links them, with the run's summary and top programs."""
from __future__ import annotations

import html
from pathlib import Path

from rich.console import Console

from evolve.tui import snapshot, summary
from evolve.tui import table as tbl


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    return plt


def plot_scores(snap: snapshot.Snapshot, path: Path) -> bool:
    order = snap.evaluation_order()
    if not order:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    xs = [i + 1 for i, r in enumerate(order) if r.score is not None]
    ys = [r.score for r in order if r.score is not None]
    ax.scatter(xs, ys, s=12, alpha=0.5, label="scored program")
    curve = snap.best_curve()
    ax.step(range(1, len(curve) + 1), [float("nan") if v is None else v for v in curve], where="post",
            color="C3", label="best so far")
    if snap.initial is not None and snap.initial.score is not None:
        ax.axhline(snap.initial.score, color="gray", ls="--", lw=1, label="starting program")
    ax.set(xlabel="evaluation", ylabel="score (higher is better)", title=f"{snap.name}: score over evaluations")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_pareto(snap: snapshot.Snapshot, path: Path) -> bool:
    if len(snap.objectives) < 2:
        return False
    ranks = snap.pareto_ranks()
    if not ranks:
        return False
    a, b = snap.objectives[0], snap.objectives[1]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 5))
    for front, style in ((False, dict(s=12, alpha=0.4, color="C0", label="dominated")),
                         (True, dict(s=30, color="C3", label="Pareto front"))):
        pts = [snap.by_id[i].metrics for i, r in ranks.items() if (r == 0) == front]
        ax.scatter([m[a.name] for m in pts], [m[b.name] for m in pts], **style)
    ax.set(xlabel=f"{a.name} ({a.direction})", ylabel=f"{b.name} ({b.direction})",
           title=f"{snap.name}: Pareto front of {a.name} and {b.name}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_spend(snap: snapshot.Snapshot, factory, path: Path) -> bool:
    """Cumulative LLM spend over wall time, one line per model (False when no call was recorded)."""
    from sqlalchemy import text

    with factory() as session:
        if not {"model", "cost_usd", "created_at"} <= snapshot.columns(session, "llm_calls"):
            return False
        rows = session.execute(text("SELECT model, cost_usd, created_at FROM llm_calls WHERE run_id = :r "
                                    "ORDER BY created_at, id"), {"r": snap.run["id"]}).all()
    if not rows:
        return False
    start = snapshot._time(rows[0][2])
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    totals: dict[str, tuple[list, list]] = {}
    for model, cost, at in rows:
        xs, ys = totals.setdefault(model, ([], []))
        xs.append((snapshot._time(at) - start).total_seconds() / 60)
        ys.append((ys[-1] if ys else 0.0) + (cost or 0.0))
    for model, (xs, ys) in sorted(totals.items()):
        ax.step(xs, ys, where="post", label=model)
    cap = summary.budget(snap)["max_usd"]
    if cap:
        ax.axhline(cap, color="red", ls="--", lw=1, label=f"max_usd {cap:g}")
    ax.set(xlabel="minutes since the first call", ylabel="USD (cumulative)", title=f"{snap.name}: spend over time")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write(factory, run_id: int, out: Path, top: int = 10) -> dict[str, Path | None]:
    """Write the plots and index.html into `out`; return which plots were made."""
    snap = snapshot.load(factory, run_id, stats=True)  # with what the duplicate filter and the cascade saved
    out.mkdir(parents=True, exist_ok=True)
    made: dict[str, Path | None] = {}
    for name, fn in (("scores.png", lambda p: plot_scores(snap, p)), ("pareto.png", lambda p: plot_pareto(snap, p)),
                     ("spend.png", lambda p: plot_spend(snap, factory, p))):
        made[name] = out / name if fn(out / name) else None
    (out / "index.html").write_text(_html(snap, made, top), encoding="utf-8")
    made["index.html"] = out / "index.html"
    return made


def _html(snap: snapshot.Snapshot, made: dict, top: int) -> str:
    e = html.escape
    why = {"scores.png": "no program has been evaluated yet",
           "pareto.png": "the problem has a single objective",
           "spend.png": "no LLM call was recorded (the offline mutator spends nothing)"}
    figures = []
    for name, title in (("scores.png", "Score over evaluations"), ("pareto.png", "Pareto front"),
                        ("spend.png", "Spend over time")):
        body = (f'<a href="{name}"><img src="{name}" alt="{e(title)}"></a>' if made.get(name)
                else f"<p class=note>Not drawn: {e(why[name])}.</p>")
        figures.append(f"<figure><figcaption>{e(title)}</figcaption>{body}</figure>")
    cols = tbl.columns(snap)
    ranks = snap.pareto_ranks() if len(snap.objectives) > 1 else {}
    head = "".join(f"<th>{e(c.label)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{e(tbl.cell(snap, r, c.key, ranks))}</td>" for c in cols) + "</tr>"
                   for r in tbl.sort_rows(snap, snap.rows, "score")[:top])
    facts_rows = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in summary_rows(snap))
    saved_rows = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in savings_rows(snap))
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>evolve report: {e(snap.name)}</title>
<style>body{{font-family:sans-serif;max-width:70em;margin:2em auto}} img{{max-width:100%}}
table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:2px 6px;text-align:left}}
.note{{color:#777}} figure{{margin:1em 0}}</style></head>
<body><h1>Run {e(snap.name)}</h1>
<p>problem <b>{e(str(snap.run.get('problem')))}</b>, status <b>{e(str(snap.run.get('status')))}</b>
{e('(' + snap.run['stop_reason'] + ')') if snap.run.get('stop_reason') else ''}</p>
{''.join(figures)}
<h2>Top programs</h2><table><tr>{head}</tr>{body}</table>
<h2>Summary</h2><table>{facts_rows}</table>
<h2>Duplicates and cascade</h2><table>{saved_rows}</table>
<p class=note>Inspect any program with <code>evolve show {e(snap.name)}:ID</code>.</p>
</body></html>
"""


def summary_rows(snap: snapshot.Snapshot) -> list[tuple[str, str]]:
    """The run in (label, value) rows: what `evolve status` shows, plus the programs, stop and spend."""
    f = summary.facts(snap)
    rows = [("stopped", str(f["stop_reason"]))] if f["stop_reason"] else []
    for label, value in summary.rows(snap):
        if label == "programs":
            value = f"{f['programs']} in all ({f['children']} children): {value}"
        if label not in ("duplicates caught", "cascade"):  # in full in the next table
            rows.append((label, value))
    if not any(label == "spend" for label, _ in rows):
        rows.append(("spend", f"${f['spent_usd']:.4f}"))
    return rows


def savings_rows(snap: snapshot.Snapshot) -> list[tuple[str, str]]:
    """Every figure of the duplicate filter and the evaluation cascade, each in words."""
    d, c = snap.dedup, snap.cascade
    if not d and not c:
        return [("figures", "not available (the database predates them)")]
    rate = d.get("collision_rate")
    caught = (f"{d.get('evaluations_saved', 0)}: {d.get('syntactic', 0)} by their code (syntactic), "
              f"{d.get('functional', 0)} by their behaviour (functional)")
    rows = [("duplicates caught", caught),
            ("evaluation time saved by them", f"{d.get('seconds_saved', 0.0):.1f} s"),
            ("time spent on probes", f"{d.get('probe_seconds', 0.0):.1f} s"),
            ("unhashable programs", str(d.get("unhashable", 0))),
            ("collision audit", "not measured" if rate is None else
             f"{d.get('collisions', 0)} of {d.get('audited', 0)} audited duplicates scored differently ({rate:.1%})")]
    if c:
        saved, spent, share = c.get("seconds_saved", 0.0), c.get("seconds_spent", 0.0), c.get("share_saved", 0.0)
        rows += [("stopped early by the cascade", str(c.get("stopped_early", 0))),
                 ("evaluation time saved by it", f"{saved:.1f} s of {saved + spent:.1f} s ({share:.0%})")]
    return rows


def cmd_report(args, console: Console) -> int:
    from evolve import runs

    factory, run = runs.open_run(args.runs_dir, args.run)
    out = Path(args.output or Path(args.runs_dir) / run.name / "report")
    made = write(factory, run.id, out)
    for name, path in made.items():
        console.print(f"  {name}: {path if path else 'not drawn (no data)'}", markup=False, highlight=False)
    console.print(f"report of {run.name} written to {out / 'index.html'}", markup=False)
    return 0
