"""After the search: re-evaluate the top programs (noisy metrics) and score them on held-out workloads.

Held-out workloads are never shown to the search: they appear only in the
requests of these evaluations, never in prompts, feedback or selection.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from evolve.db import repo
from evolve.db.models import Program, Run
from evolve.problem import Problem
from evolve.search.scoring import assess


class HoldoutError(Exception):
    """Held-out scoring was asked for but cannot be done; the message says why."""


@dataclass
class HoldoutResult:
    program_id: int
    number: int  # the program's number in the run, as shown to users
    score: float | None
    holdout_score: float | None
    status: str
    error: str | None


async def score_holdout(problem: Problem, factory: sessionmaker[Session], run: Run, executor,
                        program_ids: list[int]) -> list[HoldoutResult]:
    """Evaluate each program on the problem's holdout stages and store its held-out score."""
    stages = problem.spec.workloads.holdout
    if not stages:
        raise HoldoutError(f"{problem.yaml_path}: the problem declares no `workloads.holdout` stages; "
                           "add some to score programs on workloads the search never sees.")
    spec, results = problem.spec, []
    for program_id in program_ids:
        with factory() as session:
            program = session.get(Program, program_id)
            if program is None or program.run_id != run.id:
                raise HoldoutError(f"run '{run.name}' has no program {program_id}.")
            code = program.code
        outcomes = await executor.evaluate(code, stages)
        status, score, metrics, error = assess(spec.objectives, spec.constraints, outcomes)
        with factory.begin() as session:
            repo.add_evaluations(session, program_id, outcomes, prefix="holdout:")
            row = session.get(Program, program_id)
            row.holdout_score, row.holdout_metrics = score, metrics or {"error": error}
            results.append(HoldoutResult(program_id, repo.number(row), row.score, score, status, error))
    return results


async def reevaluate_top(problem: Problem, factory: sessionmaker[Session], run: Run, executor) -> list[int]:
    """Evaluate the top programs `times` more; their score becomes the mean, with its spread."""
    cfg = problem.spec.evolution.reevaluate
    if cfg.top <= 0:
        return []
    with factory() as session:
        top = [(p.id, p.code, p.score) for p in repo.ranked(session, run.id, limit=cfg.top, status="evaluated")
               if p.score_samples is None]  # once per program: a resumed run re-evaluates only what is new
    spec, done = problem.spec, []
    for program_id, code, first in top:
        samples = [first]
        for _ in range(cfg.times):
            outcomes = await executor.evaluate(code)
            _, score, _, _ = assess(spec.objectives, spec.constraints, outcomes)
            with factory.begin() as session:
                repo.add_evaluations(session, program_id, outcomes, prefix="reeval:")
            samples.append(score if score is not None else float("nan"))
        valid = [s for s in samples if s == s]
        with factory.begin() as session:
            row = session.get(Program, program_id)
            row.score = statistics.fmean(valid)
            row.score_std = statistics.stdev(valid) if len(valid) > 1 else 0.0
            row.score_samples = len(valid)
            if len(valid) < len(samples):
                row.error = f"{len(samples) - len(valid)} of {len(samples)} re-evaluations did not score"
        done.append(program_id)
    return done
