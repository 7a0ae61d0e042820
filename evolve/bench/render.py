"""The bench report as sections of tables, written out as Markdown, HTML or JSON."""
from __future__ import annotations

import html
from dataclasses import dataclass, field

from evolve import overrides
from evolve.bench import stats
from evolve.bench.manifest import Bench
from evolve.bench.table import BenchTable, Cell, Comparison
from evolve.db.engine import redact

STATS_NOTE = ("Each seed is an independent run (its own `evolution.seed`); figures are over the finished runs "
              "of each arm, as mean ± sample standard deviation with n the number of seeds. Arms are compared "
              "with a two-sided Mann-Whitney U test on the seeds' best scores (exact permutation p-value, ties "
              "included, up to 60 runs in all; else the normal approximation) and a 95% percentile bootstrap "
              "interval (10,000 resamples, seeded) of the difference of means. With few seeds the test cannot "
              "reach a small p at all: 'smallest p' is the least these sample sizes allow (2 and 2 seeds: 0.33, "
              "3 and 3: 0.1, 5 and 5: 0.008), so a large p there means too few seeds, not equal arms; and the "
              "bootstrap interval of so few values is too narrow (it cannot see the spread the seeds did not "
              "show): below about 5 seeds an arm, read the test, not the interval. P(A > B): the share of "
              "seed pairs in which A's best beats B's (ties half).")
SCORE_NOTE = ("Scores are the problems' weighted scores, higher is better (a `min` objective is negated: "
              "txn_scheduling's score is minus its makespan).")

COLUMNS_NOTE = ("evaluations to best: the evaluation (1 = the starting program) at which the run first reached its "
                "best; $ to best: LLM spend by then; duplicates saved: evaluations the duplicate filter did not "
                "spend (partial: hits whose costs were measured again, the rest of their evaluation saved); "
                "held-out: the best program's score on the problem's held-out workloads (where it has some). "
                "Each column is the mean over the seeds.")
REFERENCES_NOTE = ("ours: the metric of each seed's best program, mean ± sd; difference: mean minus the reference, "
                   "with better/worse in the metric's direction.")


@dataclass
class Section:
    title: str
    headers: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)


def num(v: float | None, digits: int = 5) -> str:
    return "-" if v is None else f"{v:.{digits}g}"


def mean_sd(s: stats.Summary, digits: int = 5) -> str:
    if s.mean is None:
        return "-"
    return num(s.mean, digits) if s.sd is None else f"{num(s.mean, digits)} ± {num(s.sd, 2)}"


def usd(v: float | None) -> str:
    return "-" if v is None else "$0" if v == 0 else f"${v:.4f}"


def _saved(cell: Cell) -> str:
    partial = cell.partial_hits.mean
    return num(cell.duplicates_saved.mean, 3) + (f" (+{num(partial, 3)} partial)" if partial else "")


def _seeds(cell: Cell) -> str:
    more = f" (+{cell.unfinished} unfinished)" if cell.unfinished else ""
    return f"{len(cell.finished)}{more}"


def _arms(bench: Bench) -> Section:
    def shown(settings: dict) -> str:
        return ", ".join(overrides.shown(k, v) for k, v in settings.items()) or "(the problems as they are)"

    return Section("Arms", ["arm", "settings", "description"],
                   [[a["name"], shown(a.get("settings") or {}), a.get("description") or ""] for a in bench.arm_specs],
                   [("Every run also has its seed as evolution.seed and the suite's budget and settings: "
                     f"{shown(_common(bench))}.")])


def _common(bench: Bench) -> dict:
    """The settings every run shares (the budget and the suite's settings), but the seed."""
    runs = [p.settings for p in bench.runs]
    return {k: v for k, v in runs[0].items() if k != "evolution.seed" and all(r.get(k) == v for r in runs)} \
        if runs else {}


def sections(bench: Bench, table: BenchTable) -> list[Section]:
    main = Section("Best score by problem and arm",
                   ["problem", "arm", "seeds", "best score", "min – max", "evaluations to best", "$ to best",
                    "duplicates saved", "held-out of best"],
                   [[c.problem, c.arm, _seeds(c), mean_sd(c.best),
                     "-" if c.best.min is None else f"{num(c.best.min)} – {num(c.best.max)}",
                     num(c.evaluations_to_best.mean, 3), usd(c.cost_to_best.mean), _saved(c),
                     mean_sd(c.holdout)] for c in table.cells],
                   [SCORE_NOTE, COLUMNS_NOTE])
    out = [_arms(bench), main] if bench.arm_specs else [main]
    vs = [(c, v) for c in table.cells for v in c.vs]
    if vs:
        rows = [[c.problem, c.arm, v.reference.label, v.reference.metric,
                 ("~" if v.reference.approx else "") + num(v.reference.value), mean_sd(v.ours, 6), _diff(v)]
                for c, v in vs]
        sources: dict[str, list[str]] = {}
        for _, v in vs:
            named = f"{v.reference.problem} / {v.reference.label}"
            if named not in sources.setdefault(v.reference.source, []):
                sources[v.reference.source].append(named)
        out.append(Section("Against published references",
                           ["problem", "arm", "reference", "metric", "reference value", "ours (best program)",
                            "difference"], rows,
                           [REFERENCES_NOTE] + [f"{', '.join(named)}: {src}" for src, named in sources.items()]))
    if table.comparisons:
        out.append(Section("Differences between arms",
                           ["problem", "A vs B", "mean A − B", "95% CI (bootstrap)", "U", "p (two-sided)",
                            "smallest p", "P(A > B)"],
                           [_comparison(c) for c in table.comparisons], [STATS_NOTE]))
    return out


def _diff(v) -> str:
    if v.diff is None:
        return "-"
    rel = "" if v.relative is None else f" ({v.relative:+.2%})"
    sense = ", within the reference's rounding" if v.within else "" if v.better is None else \
        ", better" if v.better else ", worse"
    return f"{v.diff:+.4g}{rel}{sense}"


def _comparison(c: Comparison) -> list[str]:
    head = [c.problem, f"{c.a} vs {c.b}"]
    if c.test is None or c.difference is None:
        return head + ["-", "-", "-", "no finished runs on one side", "-", "-"]
    d, t = c.difference, c.test
    return head + [f"{d.diff:+.5g}", f"[{d.low:+.4g}, {d.high:+.4g}]", num(t.u, 4),
                   f"{t.p:.3g} ({t.method}, n={len(c.a_values)}+{len(c.b_values)})", f"{t.p_min:.3g}",
                   f"{t.effect:.2f}"]


def header(bench: Bench, table: BenchTable) -> list[str]:
    n = len(bench.runs)
    done = sum(len(c.finished) for c in table.cells)
    return [*([bench.description] if bench.description else []),
            f"Suite `{bench.suite_file}` ({bench.created_at}); runs in `{redact(bench.db_url)}`.",
            (f"{len(bench.problems())} problem(s) x {len(bench.arms())} arm(s) x {len(bench.seeds())} seed(s) = "
             f"{n} runs, {done} finished.")]


def markdown(bench: Bench, table: BenchTable, plots: dict, plot_note: str | None) -> str:
    lines = [f"# Bench {bench.name}", "", *header(bench, table), ""]
    for s in sections(bench, table):
        lines += [f"## {s.title}", "", "| " + " | ".join(s.headers) + " |", "|" + "---|" * len(s.headers)]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in s.rows]
        lines += [""] + [f"- {n}" for n in s.notes] + [""]
    lines += ["## Plots", ""]
    if plot_note:
        lines.append(f"Not drawn: {plot_note}.")
    for problem, made in plots.items():
        for kind, path in made.items():
            lines.append(f"- {problem}, best score over {'evaluations' if kind == 'evaluations' else 'LLM spend'}: "
                         f"![{problem} {kind}]({path.name})")
    return "\n".join(lines).rstrip() + "\n"


def to_html(bench: Bench, table: BenchTable, plots: dict, plot_note: str | None) -> str:
    e = html.escape
    body = [f"<h1>Bench {e(bench.name)}</h1>", *(f"<p>{e(line)}</p>" for line in header(bench, table))]
    for s in sections(bench, table):
        body.append(f"<h2>{e(s.title)}</h2><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in s.headers) + "</tr>")
        body += ["<tr>" + "".join(f"<td>{e(cell)}</td>" for cell in row) + "</tr>" for row in s.rows]
        body.append("</table>" + "".join(f"<p class=note>{e(n)}</p>" for n in s.notes))
    body.append("<h2>Plots</h2>")
    if plot_note:
        body.append(f"<p class=note>Not drawn: {e(plot_note)}.</p>")
    for problem, made in plots.items():
        for kind, path in made.items():
            img = f'<img src="{e(path.name)}" alt="{e(problem)} {e(kind)}">'
            body.append(f'<figure><figcaption>{e(problem)}: best score over {e(kind)}</figcaption>'
                        f'<a href="{e(path.name)}">{img}</a></figure>')
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>evolve bench: {e(bench.name)}</title>
<style>body{{font-family:sans-serif;max-width:80em;margin:2em auto}} img{{max-width:100%}}
table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:2px 6px;text-align:left}}
.note{{color:#555}}</style></head>
<body>{''.join(body)}</body></html>
"""


def to_json(bench: Bench, table: BenchTable, results, plots: dict, plot_note: str | None) -> dict:
    return {
        "bench": bench.name, "suite_file": bench.suite_file, "created_at": bench.created_at,
        "description": bench.description, "database": redact(bench.db_url), "problems": bench.problems(),
        "arms": bench.arms(), "arm_settings": bench.arm_specs, "seeds": bench.seeds(),
        "table": [_cell_json(c) for c in table.cells],
        "comparisons": [_comparison_json(c) for c in table.comparisons],
        "runs": [r.as_dict(curves=False) for r in results],
        "plots": {p: {k: str(v) for k, v in made.items()} for p, made in plots.items()},
        "notes": [SCORE_NOTE, STATS_NOTE] + ([f"plots not drawn: {plot_note}"] if plot_note else []),
    }


def _cell_json(c: Cell) -> dict:
    return {"problem": c.problem, "arm": c.arm, "seeds": len(c.finished), "runs": len(c.results),
            "unfinished": c.unfinished, "best_score": c.best.as_dict(),
            "evaluations_to_best": c.evaluations_to_best.as_dict(), "cost_to_best": c.cost_to_best.as_dict(),
            "cost_usd": c.cost.as_dict(), "duplicates_saved": c.duplicates_saved.as_dict(),
            "partial_hits": c.partial_hits.as_dict(),
            "holdout_score": c.holdout.as_dict(),
            "vs_references": [{"label": v.reference.label, "metric": v.reference.metric, "value": v.reference.value,
                               "approx": v.reference.approx, "source": v.reference.source, "ours": v.ours.as_dict(),
                               "diff": v.diff, "relative": v.relative, "better": v.better, "within": v.within}
                              for v in c.vs]}


def _comparison_json(c: Comparison) -> dict:
    out = {"problem": c.problem, "a": c.a, "b": c.b, "a_values": c.a_values, "b_values": c.b_values}
    if c.difference is not None and c.test is not None:
        d, t = c.difference, c.test
        out |= {"diff_of_means": d.diff, "ci": [d.low, d.high], "ci_level": d.level, "u": t.u, "p": t.p,
                "method": t.method, "p_min": t.p_min, "effect": t.effect}
    return out
