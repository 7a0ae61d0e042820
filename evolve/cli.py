"""`evolve` command line: parse arguments, call library functions, print results."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.text import Text
from rich.table import Table

from evolve import commands, runs
from evolve.commands import doctor, inspect, runs_cmd, verify
from evolve.db import repo
from evolve.db.engine import DatabaseError
from evolve.llm import commands as llm_commands
from evolve.argtypes import Parser, count, duration, positive_int, run_name
from evolve.problem import ProblemError
from evolve.ray_executor import ExecutorError
from evolve.tui import table as tbl
from sandbox import SandboxError


# Command families that live in their own modules: each is `register(subparsers)`, adding
# its subcommands with `set_defaults(func=handler)`; a handler takes (args, console) -> exit code.
REGISTRARS: list = [commands.register, verify.register, doctor.register, llm_commands.register,
                    runs_cmd.register]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="evolve", description="LLM-driven evolutionary algorithm discovery.")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where runs live (default: ./runs)")
    parser.add_argument("--db", metavar="URL", default=os.environ.get("EVOLVE_DB") or None,
                        help="keep runs in this database instead of runs/<run>/evolve.db, e.g. "
                             "postgresql+psycopg://user@host/evolve (default: $EVOLVE_DB)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    start = sub.add_parser("start", help="start a run on a problem (directory, YAML file or built-in name)")
    start.add_argument("problem")
    start.add_argument("--name", type=run_name, help="run name: letters, digits, '.', '_', '-' "
                       "(default: PROBLEM-DATE-TIME)")
    start.add_argument("--resume", action="store_true", help="continue the run called --name if it exists")
    _budget_flags(start)
    start.set_defaults(func=cmd_start)

    resume = sub.add_parser("resume", help="continue an interrupted or finished run")
    resume.add_argument("run")
    _budget_flags(resume)
    resume.set_defaults(func=cmd_start)

    board = sub.add_parser("leaderboard", help="the ranked programs of a run (default: the newest)")
    board.add_argument("run", nargs="?")
    board.add_argument("--limit", type=count, default=20, help="rows to show (0: all; default 20)")
    board.add_argument("--status", help="only programs with this status (evaluated, failed, ...)")
    board.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    board.set_defaults(func=inspect.cmd_leaderboard)

    held = sub.add_parser("holdout", help="score programs on the problem's held-out workloads")
    held.add_argument("run")
    held.add_argument("ids", nargs="*", type=int, help="program ids (default: the run's top programs)")
    held.set_defaults(func=cmd_holdout)

    for register in REGISTRARS:
        register(sub)
    return parser


def _budget_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--executor", choices=("local", "ray"), help="where evaluations run (overrides executor.kind)")
    p.add_argument("--ray-address", metavar="ADDR", help="Ray cluster: auto, host:port or ray://host:port "
                   "(overrides executor.ray.address; default: a local cluster)")
    p.add_argument("--iterations", type=positive_int,
                   help="children to create in the run, in all (default: the run's own, then the YAML budget)")
    p.add_argument("--wall-time", type=duration, help="stop this session after this long, e.g. 90s, 30m, 2h")
    p.add_argument("--concurrency", type=positive_int, help="evaluations at once")
    p.add_argument("--model", action="append", metavar="NAME",
                   help="use this litellm model instead of llm.models (repeat for an ensemble)")
    p.add_argument("--api-base", metavar="URL", help="OpenAI-compatible endpoint for the --model models")
    p.add_argument("--replay", metavar="RUN", help="serve the recorded LLM answers of RUN instead of calling models")
    from evolve.overrides import parse as setting  # (here, not at the top: the imports there are tuned)
    p.add_argument("--set", action="append", type=setting, metavar="KEY=VALUE",
                   help="set a key of the problem YAML, e.g. llm.retries=5 or evolution.budget.iterations=20 "
                        "(VALUE is YAML; repeatable; the run remembers it on resume)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console()
    err = Console(stderr=True)
    args.runs_dir = runs.runs_location(args.runs_dir, args.db)
    try:
        return args.func(args, console)
    except (ProblemError, runs.RunError, DatabaseError, SandboxError, ExecutorError) as exc:
        err.print(Text.assemble(("error:", "bold red"), " ", str(exc)), highlight=False, soft_wrap=True)
        return 2


def cmd_start(args, console: Console) -> int:
    from evolve.overrides import collect

    overrides = runs.Overrides(args.iterations, args.wall_time, args.concurrency, executor=args.executor,
                               ray_address=args.ray_address, models=args.model, api_base=args.api_base,
                               replay=args.replay, settings=collect(args.set))
    if args.command == "resume":
        outcome = runs.resume(args.runs_dir, args.run, overrides, console)
    else:
        outcome = runs.start(args.problem, args.runs_dir, args.name, overrides, console, resume=args.resume)
    _print_outcome(outcome, runs.runs_location(args.runs_dir, outcome.db_url or args.db), console)
    from evolve.llm.ensemble import ALL_DOWN

    if outcome.reason.startswith(ALL_DOWN):
        return 3  # interrupted because every model is cooling down: `evolve resume` once the provider is back
    return 1 if outcome.run.status in ("failed", "diverged") else 0


def _print_outcome(outcome: runs.Outcome, runs_dir: Path, console: Console) -> None:
    name = outcome.run.name
    console.print(f"\nrun [bold]{escape(name)}[/] stopped: {escape(outcome.reason)}", highlight=False)
    _, _, snap = inspect.open_snapshot(runs_dir, name)
    inspect.print_table(console, snap, tbl.visible(snap, "", "score")[:5])
    if outcome.best_path:
        console.print(f"best program (#{repo.number(outcome.best)}, score {outcome.best.score:.6g}) written to {outcome.best_path}",
                      highlight=False, markup=False)


def cmd_holdout(args, console: Console) -> int:
    from evolve.finalize import HoldoutError
    try:
        results = runs.holdout(args.runs_dir, args.run, args.ids)
    except HoldoutError as exc:
        raise runs.RunError(str(exc)) from None
    t = Table(title=f"held-out scores of {args.run}")
    for col in ("id", "search score", "held-out score", "status", "note"):
        t.add_column(col)
    for r in results:
        fmt = lambda v: "-" if v is None else f"{v:.6g}"  # noqa: E731
        t.add_row(str(r.number), fmt(r.score), fmt(r.holdout_score), r.status,
                  Text((r.error or "").splitlines()[0] if r.error else ""))  # evaluator text: never markup
    console.print(t)
    return 0


if __name__ == "__main__":
    sys.exit(main())
