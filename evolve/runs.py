"""Runs on disk: runs/<name>/evolve.db. Start, resume, find and list them."""
from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from evolve import finalize
from evolve.controller import Controller, Limits
from evolve.db import repo
from evolve.db.engine import open_database, sqlite_url
from evolve.db.models import Program, Run
from evolve.executor import LocalExecutor
from evolve.problem import Problem, ProblemSpec, load_problem
from evolve.tui.progress import make_progress

DB_FILE = "evolve.db"
BEST_FILE = "best.py"


class RunError(Exception):
    """A run cannot be started, resumed or found; the message says what to do."""


@dataclass
class Overrides:
    """Command-line values that take precedence over the problem YAML."""

    iterations: int | None = None
    wall_time_s: float | None = None
    concurrency: int | None = None


@dataclass
class Outcome:
    run: Run
    reason: str
    best: Program | None
    best_path: Path | None


def run_dir(runs_dir: Path, name: str) -> Path:
    return Path(runs_dir) / name


def open_run(runs_dir: Path, name: str | None, readonly: bool = True) -> tuple[sessionmaker[Session], Run]:
    """The database and run row of run `name` (the newest run when None)."""
    if name is None:
        dbs = sorted(Path(runs_dir).glob(f"*/{DB_FILE}"), key=lambda p: p.stat().st_mtime)
        if not dbs:
            raise RunError(f"no runs in {runs_dir}/; start one with `evolve start PROBLEM`.")
        name = dbs[-1].parent.name
    db = run_dir(runs_dir, name) / DB_FILE
    if not db.is_file():
        known = ", ".join(sorted(p.parent.name for p in Path(runs_dir).glob(f"*/{DB_FILE}"))) or "none"
        raise RunError(f"no run named '{name}' in {runs_dir}/ (runs there: {known}).")
    factory = open_database(sqlite_url(db), create=not readonly, readonly=readonly)
    with factory() as session:
        run = repo.get_run(session, name)
    if run is None:
        raise RunError(f"{db} holds no run named '{name}'.")
    return factory, run


def list_runs(runs_dir: Path) -> list[dict]:
    out = []
    for db in sorted(Path(runs_dir).glob(f"*/{DB_FILE}")):
        factory, run = open_run(runs_dir, db.parent.name)
        with factory() as session:
            counts = repo.status_counts(session, run.id)
            best = repo.best_score(session, run.id)
        out.append({"name": run.name, "problem": run.problem, "status": run.status, "best_score": best,
                    "programs": sum(counts.values()), "counts": dict(counts),
                    "created_at": run.created_at.isoformat(timespec="seconds")})
        factory.kw["bind"].dispose()
    return out


def default_run_name(problem: Problem) -> str:
    return f"{problem.name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def start(problem_ref: str, runs_dir: Path, name: str | None, overrides: Overrides, console: Console,
          resume: bool = False) -> Outcome:
    """Create (or with resume=True, continue) a run and evolve until a budget or Ctrl-C stops it."""
    problem = load_problem(problem_ref)
    name = name or default_run_name(problem)
    db = run_dir(runs_dir, name) / DB_FILE
    if db.exists() and not resume:
        raise RunError(f"a run named '{name}' already exists in {db.parent}/. Continue it with "
                       f"`evolve resume {name}` (or `--resume`), or pick another --name.")
    if not db.exists() and resume:
        raise RunError(f"there is no run named '{name}' to resume in {runs_dir}/.")
    db.parent.mkdir(parents=True, exist_ok=True)
    factory = open_database(sqlite_url(db))
    with factory.begin() as session:
        run = repo.get_run(session, name)
        if run is None:
            run = Run(name=name, problem=problem.name, problem_path=str(problem.yaml_path),
                      config=problem.spec.model_dump(mode="json"), seed=problem.spec.evolution.seed)
            session.add(run)
            session.flush()
        elif run.problem != problem.name:
            raise RunError(f"run '{name}' was made for problem '{run.problem}', not '{problem.name}'.")
        repo.set_run_status(session, run, "running")
    return _evolve(problem, factory, run, overrides, console, db.parent)


def resume(runs_dir: Path, name: str, overrides: Overrides, console: Console) -> Outcome:
    """Continue run `name` with the problem it was started with."""
    factory, run = open_run(runs_dir, name)
    factory.kw["bind"].dispose()
    return start(run.problem_path, runs_dir, name, overrides, console, resume=True)


def _evolve(problem: Problem, factory, run: Run, overrides: Overrides, console: Console, folder: Path) -> Outcome:
    evo = problem.spec.evolution
    limits = Limits(
        iterations=overrides.iterations if overrides.iterations is not None else evo.budget.iterations,
        wall_time_s=overrides.wall_time_s if overrides.wall_time_s is not None else evo.budget.wall_time_s,
        target_score=evo.budget.target_score, patience=evo.budget.patience,
    )
    concurrency = overrides.concurrency or evo.concurrency
    with factory() as session:
        done = sum(1 for p in repo.programs(session, run.id) if p.iteration > 0 and p.status != "pending")
    console.print(f"run [bold]{run.name}[/]: problem {problem.name}, sandbox {problem.spec.sandbox.backend}, "
                  f"mutator {problem.spec.llm.mutator}, {concurrency} evaluation(s) at once, database {folder / DB_FILE}")
    with make_progress(console, limits.iterations, done, factory=factory, run=run) as progress:
        executor = LocalExecutor(problem, concurrency)
        controller = Controller(problem, factory, run, executor, limits, concurrency, progress)
        try:
            reason = asyncio.run(_run_with_sigint(controller, executor, console))
        except BaseException as exc:  # a bug or a lost database: say so in the run row, then raise
            with factory.begin() as session:
                repo.set_run_status(session, run, "failed", f"internal error: {exc!r}")
            raise
    status = {"interrupted": "interrupted"}.get(reason, "finished")
    if reason.startswith("no program scored"):
        status = "failed"
    with factory.begin() as session:
        repo.set_run_status(session, run, status, reason)
        top = repo.ranked(session, run.id, limit=1, status="evaluated")
    best = top[0] if top else None
    best_path = None
    if best is not None:
        best_path = folder / BEST_FILE
        best_path.write_text(best.code, encoding="utf-8")
    run.status, run.stop_reason = status, reason
    return Outcome(run, reason, best, best_path)


async def _run_with_sigint(controller: Controller, executor: LocalExecutor, console: Console) -> str:
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, controller.stop_requested.set)
        loop.add_signal_handler(signal.SIGTERM, controller.stop_requested.set)
    except (NotImplementedError, RuntimeError):  # not the main thread
        pass
    reason = await controller.run()
    if reason == "interrupted" or not controller.population:
        return reason
    finishing = asyncio.ensure_future(_finish(controller, executor, console))
    stopper = asyncio.ensure_future(controller.stop_requested.wait())
    await asyncio.wait([finishing, stopper], return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if not finishing.done():  # Ctrl-C while finishing: the search results are kept as they are
        finishing.cancel()
        await asyncio.gather(finishing, return_exceptions=True)
    else:
        finishing.result()
    return reason


async def _finish(controller: Controller, executor: LocalExecutor, console: Console) -> None:
    """Re-evaluate the top programs if the problem asks, then score the best on held-out workloads."""
    problem, factory, run = controller.problem, controller.factory, controller.run_row
    evo = problem.spec.evolution
    again = await finalize.reevaluate_top(problem, factory, run, executor)
    if again:
        console.print(f"re-evaluated the top {len(again)} program(s) {evo.reevaluate.times} more time(s) each")
    if problem.spec.workloads.holdout and evo.holdout_top > 0:
        with factory() as session:
            top = [p.id for p in repo.ranked(session, run.id, limit=evo.holdout_top, status="evaluated")]
        results = await finalize.score_holdout(problem, factory, run, executor, top)
        for r in results:
            held = "-" if r.holdout_score is None else f"{r.holdout_score:.6g}"
            console.print(f"held-out: #{r.program_id} search score {r.score:.6g}, held-out score {held}"
                          + (f" ({r.error.splitlines()[0]})" if r.error else ""), highlight=False)


def spec_of(run: Run) -> ProblemSpec:
    return ProblemSpec.model_validate(run.config)


def holdout(runs_dir: Path, name: str, program_ids: list[int]) -> list[finalize.HoldoutResult]:
    """Score programs of run `name` (default: its top `holdout_top`) on the problem's held-out workloads."""
    factory, run = open_run(runs_dir, name, readonly=False)
    problem = load_problem(run.problem_path)
    if not program_ids:
        with factory() as session:
            program_ids = [p.id for p in repo.ranked(session, run.id, limit=max(1, problem.spec.evolution.holdout_top),
                                                     status="evaluated")]
    executor = LocalExecutor(problem, problem.spec.evolution.concurrency)
    return asyncio.run(finalize.score_holdout(problem, factory, run, executor, program_ids))
