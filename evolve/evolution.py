"""One session of evolving a run, under its lease: the controller until a budget or Ctrl-C stops it,
then the post-search steps (re-evaluation, held-out scores), each done once per program.

`evolve.runs` finds or creates the run and claims it (`Claim`); this module evolves what was claimed.
The lease is renewed for the whole session and let go only after the final status is written, so a
run is never shown `running` without a live owner, nor taken by a second process while it evolves.
"""
from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

import sandbox

from evolve import budget, finalize, overrides as settings
from evolve.db import repo
from evolve.db.engine import redact
from evolve.db.lease import Lease
from evolve.db.models import Program, Run
from evolve.executor import LocalExecutor
from evolve.problem import Problem
from evolve.ray_executor import make_executor
from evolve.search.controller import Controller, Limits
from evolve.llm.ensemble import ALL_DOWN
from evolve.search.replay import DIVERGED
from evolve.tui.progress import make_progress

BEST_FILE = "best.py"


@dataclass
class Claim:
    """A run row marked running by this process, the lease that makes it ours, and what it was before."""

    run: Run
    lease: Lease
    resumed: bool
    before: tuple[str, str | None]  # status and stop reason before the claim


@dataclass
class Outcome:
    run: Run
    reason: str
    best: Program | None
    best_path: Path | None
    db_url: str | None = None  # the shared database the run lives in (None: runs/<name>/evolve.db)


def evolve_run(problem: Problem, factory, claim: Claim, overrides, console: Console, folder: Path, llm,
               runner: asyncio.Runner) -> Outcome:
    """Evolve the claimed run until a budget or Ctrl-C stops it, holding its lease throughout."""
    hooks: list = []  # what to do when another process takes the lease over (set once the loop runs)
    with claim.lease.keep(factory, on_lost=lambda: [hook() for hook in hooks]):
        outcome = _session(problem, factory, claim, overrides, console, folder, llm, runner, hooks)
        if claim.lease.lost.is_set():  # the run is someone else's now: leave its status to them
            outcome.reason = "another evolve process took the run over (this one's lease lapsed); stopped"
            return outcome
        with factory.begin() as session:
            repo.set_run_status(session, claim.run, outcome.run.status, outcome.run.stop_reason)
            claim.lease.release(session)
    return outcome


def _session(problem: Problem, factory, claim: Claim, overrides, console: Console, folder: Path, llm,
             runner: asyncio.Runner, hooks: list) -> Outcome:
    run = claim.run
    chosen = budget.plan(problem, run.config if claim.resumed else None, overrides)
    limits, concurrency = chosen.limits, chosen.concurrency
    with factory() as session:
        done = sum(1 for p in repo.programs(session, run.id) if p.iteration > 0 and p.status != "pending")
        pending = repo.status_counts(session, run.id).get("pending", 0)
    if claim.resumed:
        console.print(chosen.describe(), highlight=False, markup=False)
        if claim.before[0] == "finished" and not pending and limits.iterations is not None \
                and done >= limits.iterations:
            return _already_done(factory, claim, limits, folder)
    with factory.begin() as session:
        row = session.get(Run, run.id)
        config = budget.stamped(settings.stamped(row.config, problem), chosen)  # the --set and budget in force
        row.config = run.config = config  # `run` is merged back later: keep it equal
    swept = sandbox.sweep_stale()  # folders and cgroups left by evolve processes that were killed
    if swept:
        console.print(f"removed {swept} sandbox leftover(s) of stopped evolve processes", highlight=False)
    try:
        executor = make_executor(problem, concurrency, overrides)
    except Exception as exc:  # Ray missing or unreachable, a sandbox that cannot run: the run did not start
        with factory.begin() as session:
            repo.set_run_status(session, run, "failed", str(exc))
            claim.lease.release(session)
        raise
    if getattr(problem, "settings", None):
        console.print(settings.describe(problem.settings), highlight=False, markup=False)
    where = "Ray" if not isinstance(executor, LocalExecutor) else "local"
    sandbox_note = getattr(executor, "backend_note", "") or problem.spec.sandbox.backend
    console.print(f"run {run.name}: problem {problem.name}, sandbox {sandbox_note}, "
                  f"mutator {problem.spec.llm.mutator}, {concurrency} evaluation(s) at once ({where}), "
                  f"database {redact(str(factory.kw['bind'].url)).removeprefix('sqlite:///')}",
                  highlight=False, markup=False)
    with make_progress(console, limits.iterations, done, factory=factory, run=run) as progress:
        controller = Controller(problem, factory, run, executor, limits, concurrency, progress, llm=llm)
        loop = runner.get_loop()
        hooks.append(lambda: loop.call_soon_threadsafe(controller.stop_requested.set))
        try:
            reason = runner.run(_run_with_sigint(controller, executor, console))
        except (KeyboardInterrupt, asyncio.CancelledError):  # a second Ctrl-C: stop now, resumable
            reason = "interrupted"
        except BaseException as exc:  # a bug or a lost database: say so in the run row, then raise
            with factory.begin() as session:
                repo.set_run_status(session, run, "failed", f"internal error: {exc!r}")
                claim.lease.release(session)
            raise
    status = {"interrupted": "interrupted"}.get(reason, "finished")
    if reason.startswith("no program scored"):
        status = "failed"
    elif reason.startswith(DIVERGED):  # a replay that could not go on: see the llm_calls row it left
        status = "diverged"
    elif reason.startswith(ALL_DOWN):  # every model cooling down: nothing wrong with the run, resume it later
        status = "interrupted"
    run.status, run.stop_reason = status, reason
    best, best_path = _write_best(factory, run, folder)
    return Outcome(run, reason, best, best_path)


def _already_done(factory, claim: Claim, limits: Limits, folder: Path) -> Outcome:
    """A finished run resumed with no new budget: nothing to do; its status and reason are put back."""
    reason = (f"the run is finished and its budget of {limits.iterations} iterations is spent; give "
              f"--iterations N (more than {limits.iterations}) to go on")
    run = claim.run
    run.status, run.stop_reason = claim.before
    best, best_path = _write_best(factory, run, folder)
    return Outcome(run, reason, best, best_path)


def _write_best(factory, run: Run, folder: Path) -> tuple[Program | None, Path | None]:
    with factory() as session:
        top = repo.ranked(session, run.id, limit=1, status="evaluated")
    if not top:
        return None, None
    path = folder / BEST_FILE
    path.write_text(top[0].code, encoding="utf-8")
    return top[0], path


async def _run_with_sigint(controller: Controller, executor: LocalExecutor, console: Console) -> str:
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()

    def stop() -> None:  # the first Ctrl-C stops cleanly; a second one cancels what is still winding down
        if controller.stop_requested.is_set():
            me.cancel()
        controller.stop_requested.set()

    try:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # SIGHUP: the terminal or ssh closed
            loop.add_signal_handler(sig, stop)
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
        with factory() as session:  # once per program: a resumed run scores only what is new in its top
            top = [p.id for p in repo.ranked(session, run.id, limit=evo.holdout_top, status="evaluated")
                   if p.holdout_score is None and not p.holdout_metrics]
        results = await finalize.score_holdout(problem, factory, run, executor, top)
        for r in results:
            held = "-" if r.holdout_score is None else f"{r.holdout_score:.6g}"
            console.print(f"held-out: #{r.number} search score {r.score:.6g}, held-out score {held}"
                          + (f" ({r.error.splitlines()[0]})" if r.error else ""), highlight=False, markup=False)
