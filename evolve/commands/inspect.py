"""Commands that look at runs: leaderboard, status, show, diff, lineage, export, compare.

Each handler takes (args, console) and returns an exit code. Programs are named
`ID` (in the run given by --run, default the newest) or `RUN:ID`.
"""
from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.rule import Rule
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from evolve import runs
from evolve.tui import charts, detail, lineage, snapshot, summary
from evolve.tui import table as tbl
from evolve.tui.progress import short_error

MIN_COLUMNS, MIN_LINES = 80, 20  # below this the app is unreadable: print the plain table


@dataclass
class Ref:
    """A program in a run, with the run's database open read-only."""

    factory: object
    run: object
    snap: snapshot.Snapshot
    row: snapshot.Row

    @property
    def name(self) -> str:
        return f"{self.run.name}:{self.row.id}"

    def detail(self) -> snapshot.Detail:
        return snapshot.detail(self.factory, self.run.id, self.row.id)


def open_snapshot(runs_dir: Path, name: str | None, stats: bool = False):
    factory, run = runs.open_run(runs_dir, name)
    return factory, run, snapshot.load(factory, run.id, stats=stats)


def resolve(runs_dir: Path, text: str, run_name: str | None = None) -> Ref:
    """`ID` or `RUN:ID` -> the program; RunError with the fix when it does not exist."""
    name, _, pid = str(text).rpartition(":")
    name = name or run_name
    if not pid.lstrip("#").isdigit():
        raise runs.RunError(f"'{text}' is not a program id; give a number (e.g. 12) or RUN:ID (e.g. my-run:12).")
    factory, run, snap = open_snapshot(runs_dir, name)
    row = snap.by_id.get(int(pid.lstrip("#")))
    if row is None:
        ids = [r.id for r in snap.rows]
        span = f"ids {min(ids)}..{max(ids)}" if ids else "no programs"
        db = "--db URL " if getattr(runs_dir, "db_url", None) else ""
        raise runs.RunError(f"run '{run.name}' has no program {pid} ({span}; "
                            f"`evolve {db}leaderboard {run.name}` lists them).")
    return Ref(factory, run, snap, row)


# --- leaderboard -----------------------------------------------------------------------
def cmd_leaderboard(args, console: Console) -> int:
    printing = args.json or args.plain or not (sys.stdin.isatty() and sys.stdout.isatty())
    factory, run, snap = open_snapshot(args.runs_dir, args.run, stats=printing)
    rows = tbl.visible(snap, f"status:{args.status}" if args.status else "", args.sort or "score")
    if getattr(args, "front", False):
        front = snap.pareto_ranks()
        rows = [r for r in rows if front.get(r.id) == 0]
    if args.json:
        data = [_json_row(snap, r, i) for i, r in enumerate(rows[: args.limit] if args.limit else rows, start=1)]
        for row in data:  # only evaluated programs hold a rank (they come first)
            row["rank"] = row["rank"] if row["status"] == "evaluated" else None
        print(json.dumps({"run": snap.name, "problem": snap.run.get("problem"), "programs": data,
                          "dedup": snap.dedup, "cascade": snap.cascade}, indent=2, default=str))
        return 0
    size = shutil.get_terminal_size((0, 0))
    interactive = sys.stdin.isatty() and sys.stdout.isatty() and not args.plain
    if interactive and (size.columns < MIN_COLUMNS or size.lines < MIN_LINES):
        console.print(f"(terminal is {size.columns}x{size.lines}; the browser needs {MIN_COLUMNS}x{MIN_LINES}: "
                      "printing the table instead)", style="dim")
        interactive = False
    if not interactive:
        print_table(console, snap, rows[: args.limit] if args.limit else rows)
        for line in summary.savings_lines(snap):
            console.print(line, markup=False, highlight=False)
        return 0
    from evolve.tui.app import LeaderboardApp

    LeaderboardApp(factory, run.id).run()
    return 0


def _json_row(snap: snapshot.Snapshot, r: snapshot.Row, rank: int) -> dict:
    ranks = snap.pareto_ranks() if len(snap.objectives) > 1 else {}
    return {"rank": rank if r.score is not None else None, "id": r.id, "score": r.score,
            "score_std": r.extra.get("score_std"), "holdout_score": r.extra.get("holdout_score"),
            "overfit": tbl.overfit(snap, r),
            "metrics": {o.name: r.metrics.get(o.name) for o in snap.objectives}, "parent_id": r.parent_id,
            "second_parent_id": r.second_parent_id, "generation": r.generation, "mutation": r.mutation,
            "status": r.status, "iteration": r.iteration, "island": r.island, "model": r.model,
            "pareto_rank": ranks.get(r.id), "duplicate_of": r.duplicate_of,
            "error": short_error(r.error) or None}


def print_table(console: Console, snap: snapshot.Snapshot, rows: list) -> None:
    """The leaderboard as a table that fits the console: low-value columns give way, scores and ids never."""
    cols = tbl.columns(snap)
    ranks = snap.pareto_ranks() if len(snap.objectives) > 1 else {}
    keys, labels = ["rank", *(c.key for c in cols)], ["rank", *(c.label for c in cols)]
    cells = [[str(i) if r.status == "evaluated" else "-", *(tbl.cell(snap, r, c.key, ranks) for c in cols)]
             for i, r in enumerate(rows, start=1)]
    left = {"status", "mutation", "model"}
    title = f"{snap.name} ({snap.run.get('problem')}, {snap.run.get('status')})"
    console.print(tbl.rich_table(keys, labels, cells, console.width, title, right=[k for k in keys if k not in left]))


# --- status, show, diff, lineage, export --------------------------------------------------
def cmd_status(args, console: Console) -> int:
    _, _, snap = open_snapshot(args.runs_dir, args.run, stats=True)
    if args.json:
        print(json.dumps(summary.facts(snap), indent=2, default=str))
        return 0
    console.print(summary.status_line(snap))
    console.print(summary.render(snap))
    console.print("\n".join(charts.step_chart(snap.best_curve(), min(console.width, 100), 8)), markup=False,
                  highlight=False)
    return 0


def cmd_show(args, console: Console) -> int:
    ref = resolve(args.runs_dir, args.program, args.run)
    got = ref.detail()
    if args.json:
        print(json.dumps({"run": ref.run.name, **_json_row(ref.snap, ref.row, 0), "rank": None,
                          "metrics": ref.row.metrics, "error": ref.row.error, "code": got.code, "diff": got.diff,
                          "evaluations": got.evaluations, "llm_calls": got.calls}, indent=2, default=str))
        return 0
    console.print(Rule(Text(f"program {ref.name}")))
    console.print(detail.summary(ref.snap, ref.row))
    console.print(Rule("code"))
    console.print(detail.code(got))
    console.print(Rule("evaluator feedback"))
    console.print(detail.feedback(got, ref.row))
    if got.calls:
        console.print(Rule("LLM call"))
        console.print(detail.llm(got, show_prompt=args.prompt))
    return 0


def cmd_diff(args, console: Console) -> int:
    a = resolve(args.runs_dir, args.a, args.run)
    b = resolve(args.runs_dir, args.b, args.run)
    text = detail.diff_between(a.detail().code, b.detail().code, f"program {a.name}", f"program {b.name}")
    if not text:
        console.print(f"{a.name} and {b.name} have the same code.", markup=False)
    elif console.is_terminal:
        console.print(Syntax(text, "diff"))
    else:
        sys.stdout.write(text)
    return 0


def cmd_lineage(args, console: Console) -> int:
    ref = resolve(args.runs_dir, args.program, args.run)
    if args.json:
        chain = lineage.ancestors(ref.snap, ref.row.id)
        print(json.dumps({"program": ref.row.id, "ancestors": [r.id for r in chain[:-1]],
                          "children": ref.snap.children.get(ref.row.id, []),
                          "descendants": lineage.descendants(ref.snap, ref.row.id, args.depth)}, indent=2))
        return 0
    console.print(lineage.tree(ref.snap, ref.row.id, depth=args.depth))
    return 0


def cmd_export(args, console: Console) -> int:
    ref = resolve(args.runs_dir, args.program, args.run)
    score = "-" if ref.row.score is None else f"{ref.row.score:.6g}"
    header = (f"# exported by `evolve export {ref.name}`: problem {ref.snap.run.get('problem')}, "
              f"status {ref.row.status}, score {score}, made by {ref.row.mutation}\n")
    code = ref.detail().code
    text = code if args.bare else _after_shebang(code, header)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    out = Path(args.output)
    if out.exists() and not args.force:
        raise runs.RunError(f"{out} exists; pass --force to overwrite it, or choose another -o.")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    console.print(f"wrote program {ref.name} (score {score}) to {out}", markup=False)
    return 0


def _after_shebang(code: str, header: str) -> str:
    if code.startswith("#!"):
        first, _, rest = code.partition("\n")
        return f"{first}\n{header}{rest}"
    return header + code


# --- compare --------------------------------------------------------------------------------
def compare_facts(snap: snapshot.Snapshot) -> dict:
    curve = snap.best_curve()
    counts = snap.counts()
    best = snap.best
    n = len(curve)
    at = {f"{q}%": (curve[max(0, round(n * q / 100) - 1)] if n else None) for q in (10, 25, 50, 100)}
    return {"run": snap.name, "problem": snap.run.get("problem"), "status": snap.run.get("status"),
            "best_score": None if best is None else best.score, "best_id": None if best is None else best.id,
            "initial_score": None if snap.initial is None else snap.initial.score, "evaluations": n,
            "best_at": at, "duplicates_saved": counts.get("duplicate", 0), "counts": dict(counts),
            "spent_usd": snap.spent(), "evaluations_per_minute": summary.rate_per_minute(snap)}


def cmd_compare(args, console: Console) -> int:
    snaps = [open_snapshot(args.runs_dir, name, stats=True)[2] for name in (args.run1, args.run2)]
    facts = [compare_facts(s) for s in snaps]
    if args.json:
        print(json.dumps(facts, indent=2, default=str))
        return 0
    if snaps[0].run.get("problem") != snaps[1].run.get("problem"):
        console.print(f"note: the runs are of different problems ({facts[0]['problem']} and {facts[1]['problem']}); "
                      "their scores are not comparable.", style="yellow", markup=False)
    t = Table(title="compare")
    t.add_column("")  # the labels wrap when the terminal is narrow; run names and values never do
    for f in facts:
        t.add_column(Text(f["run"]), justify="right", no_wrap=True)
    fmt = detail.fmt
    lines = [("problem", "problem"), ("status", "status"), ("best score", "best_score"), ("best program", "best_id"),
             ("starting score", "initial_score"), ("evaluations", "evaluations"),
             ("duplicates (evaluations saved)", "duplicates_saved"), ("spend (USD)", "spent_usd")]
    for label, key in lines:
        t.add_row(label, *(Text(fmt(f[key])) for f in facts))
    for q in facts[0]["best_at"]:
        t.add_row(f"best after {q} of evaluations", *(Text(fmt(f["best_at"][q])) for f in facts))
    rates = [f["evaluations_per_minute"] for f in facts]
    t.add_row("evaluations/min", *(Text("-" if r is None else f"{r:.1f}") for r in rates))
    console.print(t)
    for s in snaps:
        console.print("\n".join(charts.step_chart(s.best_curve(), min(console.width, 90), 6,
                                                  title=f"{s.name}: best score over evaluations")),
                      markup=False, highlight=False)
    return 0
