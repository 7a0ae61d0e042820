"""`evolve verify RUN PROGRAM`: a problem's exhaustive check of one program, in the sandbox.

The evaluator's `verify(program_path, workload)` checks part `part` of `parts` of
its domain (for exp_f32: every float32 input) and returns an error tally. Each part
is a separate sandboxed run, `--jobs` at a time, so memory stays bounded, a progress
bar moves as parts finish, and no candidate code runs in this process. The workload
is the problem's first stage's, plus `part`, `parts` and optionally `domain`.
"""
from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
    TimeRemainingColumn
from rich.table import Table

from evolve import runs
from evolve.db import repo
from evolve.executor import LocalExecutor
from evolve.problem import Problem, load_problem
from evolve.search.scoring import unmet

VERIFY_FUNCTION = "verify"


@dataclass
class Verification:
    """The merged tally of all parts, and the parts that could not be checked."""

    points: int = 0
    ulp_sum: int = 0
    max_ulp: int = 0
    worst_x: float | None = None
    points_over_1ulp: int = 0
    nonfinite: int = 0
    seconds: float = 0.0  # sandbox seconds summed over parts
    errors: list[str] = field(default_factory=list)

    def add(self, part: dict) -> None:
        self.points += part["points"]
        self.ulp_sum += part["ulp_sum"]
        self.points_over_1ulp += part["points_over_1ulp"]
        self.nonfinite += part["nonfinite"]
        self.seconds += part.get("seconds", 0.0)
        if part["max_ulp"] > self.max_ulp or self.worst_x is None:
            self.max_ulp, self.worst_x = part["max_ulp"], part["worst_x"]

    @property
    def mean_ulp(self) -> float:
        return self.ulp_sum / max(self.points, 1)


async def verify_code(problem: Problem, code: str, workload: dict, parts: int, jobs: int,
                      on_part: Callable[[int, dict | str], None] = lambda i, r: None) -> Verification:
    """Run the evaluator's `verify` on every part in the sandbox; merge the tallies."""
    executor = LocalExecutor(problem, jobs)
    gate = asyncio.Semaphore(jobs)
    out = Verification()

    async def one(i: int) -> None:
        spec = executor._spec(code, VERIFY_FUNCTION, {**workload, "part": i, "parts": parts})
        async with gate:
            result = await executor.backend.run(spec)
        value = result.result
        if not result.ok:
            reason = f"part {i}: sandbox {result.status}: {result.error}"
        elif not isinstance(value, dict) or "error" in value or "points" not in value:
            reason = f"part {i}: " + (str(value.get("error")) if isinstance(value, dict) else repr(value)[:300])
        else:
            if value["points"] != value.get("expected_points", value["points"]):
                out.errors.append(f"part {i}: checked {value['points']} of {value['expected_points']} points")
            out.add(value)
            on_part(i, value)
            return
        out.errors.append(reason)
        on_part(i, reason)

    await asyncio.gather(*(one(i) for i in range(parts)))
    return out


def register(subparsers) -> None:
    p = subparsers.add_parser("verify", help="run a problem's exhaustive check of one program (sandboxed, in parts)")
    p.add_argument("run", help="run name under --runs-dir")
    p.add_argument("program", type=int, help="program id (see `evolve leaderboard`)")
    p.add_argument("--parts", type=int, default=64, help="sandboxed runs the domain is split into (default 64)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parts at once (default: CPU count)")
    p.add_argument("--range", nargs=2, type=float, metavar=("LO", "HI"), help="check only inputs in [LO, HI]")
    p.set_defaults(func=cmd_verify)


def cmd_verify(args, console: Console) -> int:
    factory, run = runs.open_run(args.runs_dir, args.run)
    with factory() as session:
        program = repo.by_number(session, run.id, args.program)
        code = program.code if program is not None else None
    factory.kw["bind"].dispose()
    if code is None:
        raise runs.RunError(f"run '{run.name}' has no program #{args.program}; `evolve leaderboard {run.name}` lists them.")
    if args.parts < 1 or args.jobs < 1:
        raise runs.RunError("--parts and --jobs must be at least 1.")
    problem = load_problem(run.problem_path)
    workload = dict(problem.spec.workloads.stages[0].workload)
    if args.range:
        workload["domain"] = list(args.range)
    console.print(f"verifying program #{args.program} of {run.name} ({problem.name}): {args.parts} sandboxed "
                  f"parts, {args.jobs} at a time")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("parts checked", total=args.parts)
        result = asyncio.run(verify_code(problem, code, workload, args.parts, args.jobs,
                                         lambda i, r: bar.advance(task)))
    console.print(_table(result))
    for error in result.errors:
        console.print(f"[bold red]error:[/] {error}", highlight=False)
    metrics = {"valid": not result.errors, "max_ulp": result.max_ulp, "mean_ulp": result.mean_ulp}
    missed = [r for c in problem.spec.constraints if c.name in metrics and (r := unmet(c, metrics))]
    if result.errors or missed:
        for reason in missed:
            console.print(f"[bold red]constraint not met:[/] {reason}", highlight=False)
        return 1
    console.print(f"[green]verified:[/] all {result.points} inputs meet the problem's constraints")
    return 0


def _table(v: Verification) -> Table:
    t = Table(title="exhaustive check")
    for col in ("points", "max ULP", "mean ULP", "worst x", "points > 1 ULP", "non-finite", "sandbox s"):
        t.add_column(col)
    t.add_row(str(v.points), str(v.max_ulp), f"{v.mean_ulp:.5f}", repr(v.worst_x), str(v.points_over_1ulp),
              str(v.nonfinite), f"{v.seconds:.1f}")
    return t
