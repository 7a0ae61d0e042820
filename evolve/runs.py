"""Runs on disk (runs/<name>/evolve.db) or in a shared database (--db URL). Start, resume, find and list them."""
from __future__ import annotations

import asyncio
import os
import random
from dataclasses import dataclass, field
from typing import Any, Callable
from datetime import datetime
from pathlib import Path

from rich.console import Console
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from evolve import finalize, overrides as settings
from evolve.db import lease, repo
from evolve.db.engine import EmptyDatabase, open_database, redact, sqlite_url
from evolve.db.models import Run
from evolve.ray_executor import join_cluster, make_executor
from evolve.problem import Problem, ProblemSpec, load_problem
from evolve.evolution import BEST_FILE, Claim, Outcome, evolve_run  # noqa: F401 (Outcome, BEST_FILE: API)

DB_FILE = "evolve.db"


class RunError(Exception):
    """A run cannot be started, resumed or found; the message says what to do."""


@dataclass
class Overrides:
    """Command-line values that take precedence over the problem YAML."""

    iterations: int | None = None
    wall_time_s: float | None = None
    concurrency: int | None = None
    executor: str | None = None  # local | ray
    ray_address: str | None = None
    models: list[str] | None = None  # replace llm.models with these litellm names
    api_base: str | None = None  # for the --model models
    replay: str | None = None  # serve the recorded LLM answers of this run
    settings: dict[str, Any] = field(default_factory=dict)  # --set KEY=VALUE, in order (evolve/overrides.py)


class RunsDir(type(Path())):
    """The runs folder (best.py, reports), carrying the database URL the runs live in when that is not
    runs/<name>/evolve.db (`--db`): every command that is handed the folder finds the runs there."""

    db_url: str | None = None


def runs_location(path: Path, db_url: str | None = None) -> Path:
    where = RunsDir(path)
    where.db_url = db_url or None
    return where


def run_dir(runs_dir: Path, name: str) -> Path:
    return Path(runs_dir) / name


def open_run(runs_dir: Path, name: str | None, readonly: bool = True,
             db_url: str | None = None) -> tuple[sessionmaker[Session], Run]:
    """The database and run row of run `name` (the newest run when None); `db_url`: a shared database."""
    db_url = db_url or getattr(runs_dir, "db_url", None)
    if db_url:
        return _open_shared(db_url, name, readonly)
    if name is None:
        dbs = sorted(Path(runs_dir).glob(f"*/{DB_FILE}"), key=lambda p: p.stat().st_mtime)
        if not dbs:
            raise RunError(f"no runs in {runs_dir}/; start one with `evolve start PROBLEM`.")
        name = dbs[-1].parent.name
    db = run_dir(runs_dir, name) / DB_FILE
    if not db.is_file():
        known = ", ".join(sorted(p.parent.name for p in Path(runs_dir).glob(f"*/{DB_FILE}"))) or "none"
        raise RunError(f"no run named '{name}' in {runs_dir}/ (runs there: {known}). A run kept in another "
                       "database needs --db URL (or EVOLVE_DB).")
    factory = open_database(sqlite_url(db), create=not readonly, readonly=readonly)
    with factory() as session:
        run = repo.get_run(session, name)
    if run is None:
        raise RunError(f"{db} holds no run named '{name}': the process stopped while creating it. Start it "
                       f"afresh with `evolve start PROBLEM --name {name}` (the database is reused).")
    return factory, run


def _open_shared(db_url: str, name: str | None, readonly: bool) -> tuple[sessionmaker[Session], Run]:
    factory = open_database(db_url, create=not readonly, readonly=readonly)
    with factory() as session:
        run = repo.get_run(session, name)
        known = ", ".join(session.scalars(select(Run.name).order_by(Run.id))) if run is None else ""
    if run is None:
        factory.kw["bind"].dispose()
        if name is None:
            raise RunError(f"no runs in {redact(db_url)}; start one with `evolve --db URL start PROBLEM`.")
        raise RunError(f"no run named '{name}' in {redact(db_url)} (runs there: {known or 'none'}).")
    return factory, run


def list_runs(runs_dir: Path, db_url: str | None = None) -> list[dict]:
    """Every run with its problem, status as shown (`stale`, `incomplete`), best score and counts, by name."""
    db_url = db_url or getattr(runs_dir, "db_url", None)
    if db_url:
        return each_shared_run(db_url, _listing)
    out = []
    for db in sorted(Path(runs_dir).glob(f"*/{DB_FILE}")):
        try:
            factory, run = open_run(runs_dir, db.parent.name)
        except (RunError, EmptyDatabase):  # stopped while being created: listed, so it can be resumed or removed
            out.append({"name": db.parent.name, "problem": "-", "status": "incomplete", "best_score": None,
                        "programs": 0, "counts": {}, "created_at": None})
            continue
        try:
            with factory() as session:
                out.append(_listing(session, run))
        finally:
            factory.kw["bind"].dispose()
    return out


def each_shared_run(db_url: str, visit: Callable[[Session, Run], Any]) -> list:
    """`visit(session, run)` for each run of a shared database, by name (none when it holds no runs yet)."""
    try:
        factory = open_database(db_url, create=False, readonly=True)
    except EmptyDatabase:
        return []
    try:
        with factory() as session:
            return [visit(session, run) for run in session.scalars(select(Run).order_by(Run.name))]
    finally:
        factory.kw["bind"].dispose()


def _listing(session: Session, run: Run) -> dict:
    counts = repo.status_counts(session, run.id)
    return {"name": run.name, "problem": run.problem, "status": lease.effective_status(session, run.id, run.status),
            "best_score": repo.best_score(session, run.id), "programs": sum(counts.values()), "counts": dict(counts),
            "created_at": run.created_at.isoformat(timespec="seconds")}


def default_run_name(problem: Problem) -> str:
    return f"{problem.name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def start(problem_ref: str, runs_dir: Path, name: str | None, overrides: Overrides, console: Console,
          resume: bool = False) -> Outcome:
    """Create (or with resume=True, continue) a run and evolve until a budget or Ctrl-C stops it."""
    problem = _load(problem_ref, runs_dir, name if resume else None, overrides)
    with asyncio.Runner() as runner:  # one event loop for the LLM preflight and the run
        llm = _prepare_llm(problem, runs_dir, overrides.replay, runner)
        _note_unanswered(llm, console)
        join_cluster(problem, overrides)  # a Ray address that cannot be joined stops here, nothing recorded
        return _start(problem, runs_dir, name, overrides, console, resume, llm, runner)


def _load(problem_ref: str, runs_dir: Path, name: str | None, overrides: Overrides) -> Problem:
    """The problem with the command's flags and --set; resuming run `name`, over the --set it remembers."""
    problem = settings.load(problem_ref, overrides)
    if name is None:
        return problem
    kept = _remembered(runs_dir, name, problem.spec.database.url)
    return settings.load(problem_ref, overrides, kept, name) if kept else problem


def _remembered(runs_dir: Path, name: str, db_url: str | None) -> dict:
    """The --set values run `name` was started (or last resumed) with; none when there is no such run."""
    db_url = getattr(runs_dir, "db_url", None) or db_url
    if not db_url and not (run_dir(runs_dir, name) / DB_FILE).is_file():
        return {}
    try:
        factory, run = open_run(runs_dir, name, db_url=db_url)
    except (RunError, EmptyDatabase):
        return {}
    factory.kw["bind"].dispose()
    return settings.remembered(run.config)


def _note_unanswered(llm, console: Console) -> None:
    """Say so when a model's start-up probe got no answer in time: the run goes on, its calls retry."""
    if llm is not None:
        from evolve.llm.preflight import unanswered

        note = unanswered(getattr(llm, "preflight_calls", []))
        if note:
            console.print(f"note: {note}", highlight=False, markup=False)


def _prepare_llm(problem: Problem, runs_dir: Path, replay: str | None, runner: asyncio.Runner):
    """The LLM mutator, checked before anything is written (a missing key or a wrong model stops here)."""
    if problem.spec.llm.mutator != "llm":
        if replay:
            raise RunError(f"--replay serves recorded LLM answers, but {problem.yaml_path} uses the offline "
                           "mutator; configure llm.models (or pass --model) to replay an LLM run.")
        return None
    from evolve.mutate.llm import LLMConfigError, LLMMutator
    from evolve.search.replay import Recording

    recording = None
    if replay:
        factory, run = open_run(runs_dir, replay)
        with factory() as session:
            recording = Recording.load(session, run)
        factory.kw["bind"].dispose()
    try:
        llm = LLMMutator(problem, random.Random(problem.spec.evolution.seed), recording)
        runner.run(llm.preflight())
    except LLMConfigError as exc:
        raise RunError(f"{problem.yaml_path}: {exc}") from None
    return llm


def _start(problem: Problem, runs_dir: Path, name: str | None, overrides: Overrides, console: Console,
           resume: bool, llm, runner: asyncio.Runner) -> Outcome:
    name = name or default_run_name(problem)
    db_url = getattr(runs_dir, "db_url", None) or problem.spec.database.url
    if db_url:
        factory, claim = _start_shared(db_url, problem, name, resume)
        run_dir(runs_dir, name).mkdir(parents=True, exist_ok=True)
        outcome = evolve_run(problem, factory, claim, overrides, console, run_dir(runs_dir, name), llm, runner)
        outcome.db_url = db_url
        return outcome
    db = run_dir(runs_dir, name) / DB_FILE
    factory = open_database(sqlite_url(db)) if db.exists() else None
    existing = _named(factory, name)
    if existing is not None and not resume:
        factory.kw["bind"].dispose()
        raise RunError(f"a run named '{name}' already exists in {db.parent}/. Continue it with "
                       f"`evolve resume {name}` (or `--resume`), or pick another --name.")
    if existing is None and resume and not _half_created(db, factory):
        raise RunError(f"there is no run named '{name}' to resume in {runs_dir}/; start it with "
                       f"`evolve start PROBLEM --name {name}`.")
    if factory is None:
        _create_local(db, problem, name)
        factory = open_database(sqlite_url(db))
    with factory.begin() as session:  # (a database left without a run row by an older evolve gains one here)
        claim = _claim(session, problem, name, repo.get_run(session, name), resumed=existing is not None)
    return evolve_run(problem, factory, claim, overrides, console, db.parent, llm, runner)


def _create_local(db: Path, problem: Problem, name: str) -> None:
    """Write runs/<name>/evolve.db with its run row, all or nothing: it is built beside its place and
    linked there (never over another process's), so a kill while creating it leaves no half-made run."""
    db.parent.mkdir(parents=True, exist_ok=True)
    for old in db.parent.glob(f"{DB_FILE}.partial-*"):  # left by a process killed while creating
        pid = old.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            old.unlink(missing_ok=True)
    partial = db.with_name(f"{DB_FILE}.partial-{os.getpid()}")
    factory = open_database(sqlite_url(partial))
    try:
        with factory.begin() as session:
            session.add(_new_run(problem, name, status="created"))
        raw = factory.kw["bind"].raw_connection()
        try:  # one self-contained file to link into place (the writer turns WAL on again)
            raw.driver_connection.execute("PRAGMA journal_mode=DELETE")
        finally:
            raw.close()
    finally:
        factory.kw["bind"].dispose()
    try:
        os.link(partial, db)
    except FileExistsError:
        raise RunError(f"another process just created a run named '{name}' in {db.parent}/; pick another "
                       "--name.") from None
    finally:
        partial.unlink(missing_ok=True)


def _new_run(problem: Problem, name: str, status: str = "running") -> Run:
    return Run(name=name, problem=problem.name, problem_path=str(problem.yaml_path), status=status,
               config=problem.spec.model_dump(mode="json"), seed=problem.spec.evolution.seed)


def _named(factory: sessionmaker[Session] | None, name: str) -> Run | None:
    if factory is None:
        return None
    with factory() as session:
        return repo.get_run(session, name)


def _half_created(db: Path, factory) -> bool:
    """A run folder whose database holds no run row: the process stopped while creating the run."""
    return factory is not None or db.parent.is_dir()


def _claim(session: Session, problem: Problem, name: str, run: Run | None, resumed: bool) -> Claim:
    """The run row to evolve in (created when new), checked against the problem, leased to this process
    and marked running, in the caller's write transaction: of two processes racing for it, one wins."""
    if run is None:
        run = _new_run(problem, name)
        session.add(run)
        session.flush()
    elif run.problem != problem.name:
        raise RunError(f"run '{name}' was made for problem '{run.problem}', not '{problem.name}'.")
    before = (run.status, run.stop_reason)
    held = lease.acquire(session, run.id)  # LeaseHeld (exit 2, one paragraph) when a live process has it
    repo.set_run_status(session, run, "running")
    return Claim(run, held, resumed, before)


def _start_shared(db_url: str, problem: Problem, name: str, resume: bool) -> tuple[sessionmaker[Session], Claim]:
    """Create (or find, to resume) run `name` in a shared database; its name is unique there."""
    factory = open_database(db_url)
    where = redact(db_url)
    try:
        with factory.begin() as session:
            run = repo.get_run(session, name)
            if run is not None and not resume:
                raise RunError(f"a run named '{name}' already exists in {where}. Continue it with "
                               f"`evolve --db URL resume {name}` (or `--resume`), or pick another --name.")
            if run is None and resume:
                raise RunError(f"there is no run named '{name}' to resume in {where}; start it with "
                               f"`evolve --db URL start PROBLEM --name {name}`.")
            claim = _claim(session, problem, name, run, resumed=run is not None)
    except IntegrityError:
        raise RunError(f"another process just created a run named '{name}' in {where}; pick another --name.") from None
    return factory, claim


def resume(runs_dir: Path, name: str, overrides: Overrides, console: Console) -> Outcome:
    """Continue run `name` with the problem it was started with."""
    try:
        factory, run = open_run(runs_dir, name)
    except EmptyDatabase:  # a run folder whose database was never filled: the run was stopped being created
        raise RunError(f"{run_dir(runs_dir, name)}/ holds a database left before the run '{name}' was recorded "
                       f"(the process stopped while creating it); start it afresh with "
                       f"`evolve start PROBLEM --name {name}` (the empty database is reused).") from None
    factory.kw["bind"].dispose()
    return start(run.problem_path, runs_dir, name, overrides, console, resume=True)


def spec_of(run: Run) -> ProblemSpec:
    return ProblemSpec.model_validate({k: v for k, v in run.config.items() if k != "overrides"})


def holdout(runs_dir: Path, name: str, numbers: list[int]) -> list[finalize.HoldoutResult]:
    """Score programs `numbers` of run `name` (default: its top `holdout_top`) on the held-out workloads."""
    factory, run = open_run(runs_dir, name, readonly=False)
    problem = load_problem(run.problem_path)
    with factory() as session:
        if not numbers:
            program_ids = [p.id for p in repo.ranked(session, run.id, limit=max(1, problem.spec.evolution.holdout_top),
                                                     status="evaluated")]
        else:
            found = {n: repo.by_number(session, run.id, n) for n in numbers}
            missing = [n for n, p in found.items() if p is None]
            if missing:
                raise RunError(f"run '{run.name}' has no program {', '.join(f'#{n}' for n in missing)}; "
                               f"`evolve leaderboard {run.name}` lists them.")
            program_ids = [p.id for p in found.values()]
    executor = make_executor(problem, problem.spec.evolution.concurrency)
    return asyncio.run(finalize.score_holdout(problem, factory, run, executor, program_ids))
