"""The commands around a run: registered into `evolve`'s parser by `register(subparsers)`.

status, show, diff, lineage, export, compare, report, init, check; and the
`leaderboard` command gains the browser (`--plain` and `--json` print instead).
"""
from __future__ import annotations

import functools
from pathlib import Path

from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError

from evolve.commands import check, inspect, report, scaffold
from evolve.runs import RunError

PROGRAM_HELP = "a program id in --run (default: the newest run), or RUN:ID"


def _guard(handler):
    """Database-level failures (not a database, locked too long, a missing table) as one clear line."""
    @functools.wraps(handler)
    def run(args, console: Console) -> int:
        try:
            return handler(args, console)
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise RunError(f"cannot read the run database: {reason}. Is it an evolve database "
                           "(runs/<run>/evolve.db) from this version?") from None
    return run


def register(sub) -> None:
    def add(name: str, handler, help: str):
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=_guard(handler))
        return p

    _upgrade_leaderboard(sub)

    p = add("status", inspect.cmd_status, "a run at a glance: best, counts, failures by reason, spend, islands")
    p.add_argument("run", nargs="?", help="run name (default: the newest)")
    p.add_argument("--json", action="store_true")

    p = add("show", inspect.cmd_show, "a program: facts, metrics, code, evaluator feedback, LLM call")
    p.add_argument("program", help=PROGRAM_HELP)
    p.add_argument("--run", help="the run (default: the newest)")
    p.add_argument("--prompt", action="store_true", help="also print the LLM prompt and response")
    p.add_argument("--json", action="store_true")

    p = add("diff", inspect.cmd_diff, "unified diff between two programs (of one run or of two)")
    p.add_argument("a", help=PROGRAM_HELP)
    p.add_argument("b", help=PROGRAM_HELP)
    p.add_argument("--run", help="the run of ids given without RUN: (default: the newest)")

    p = add("lineage", inspect.cmd_lineage, "the ancestors and descendants of a program, as a tree")
    p.add_argument("program", help=PROGRAM_HELP)
    p.add_argument("--run", help="the run (default: the newest)")
    p.add_argument("--depth", type=int, default=3, help="generations of descendants to show (default 3)")
    p.add_argument("--json", action="store_true")

    p = add("export", inspect.cmd_export, "write a program's code as a runnable file")
    p.add_argument("program", help=PROGRAM_HELP)
    p.add_argument("--run", help="the run (default: the newest)")
    p.add_argument("-o", "--output", help="file to write (default: standard output)")
    p.add_argument("--force", action="store_true", help="overwrite the output file")
    p.add_argument("--bare", action="store_true", help="the code exactly as stored, without a provenance line")

    p = add("compare", inspect.cmd_compare, "two runs side by side: best scores, curves, spend, duplicates")
    p.add_argument("run1")
    p.add_argument("run2")
    p.add_argument("--json", action="store_true")

    p = add("report", report.cmd_report, "PNG plots and a one-page HTML report of a run")
    p.add_argument("run", nargs="?", help="run name (default: the newest)")
    p.add_argument("-o", "--output", help="folder to write (default: runs/<run>/report)")

    p = add("init", scaffold.cmd_init, "scaffold a new problem: problem.yaml, initial.py, evaluate.py")
    p.add_argument("name")
    p.add_argument("--dir", type=Path, default=Path("problems"), help="parent folder (default: ./problems)")
    p.add_argument("--force", action="store_true", help="write into an existing, non-empty folder")

    p = add("check", check.cmd_check, "validate a problem, score its starting program, check the probe")
    p.add_argument("problem", help="a problem directory, YAML file or built-in name")
    __import__("evolve.bench.command", fromlist=["register"]).register(add)  # `evolve bench` (evolve/bench/)


def _upgrade_leaderboard(sub) -> None:
    """`evolve leaderboard` opens the browser on a terminal; --plain / --json (or a pipe) print instead."""
    board = sub.choices.get("leaderboard")
    if board is None:
        return
    board.add_argument("--plain", action="store_true", help="print a table instead of opening the browser")
    board.add_argument("--sort", default="score",
                       help="sort key for --plain/--json: score (weighted), lexicographic, pareto, a metric, "
                            "time, generation, id")
    board.add_argument("--front", action="store_true", help="only the Pareto front (non-dominated programs)")
    board.set_defaults(func=_guard(inspect.cmd_leaderboard))
