"""Repository functions: every read and write of the program database goes through here."""
from __future__ import annotations

from collections import Counter
from typing import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from evolve.db.models import Evaluation, Program, Run, utcnow

FINISHED = ("evaluated", "infeasible", "failed")


def get_run(session: Session, name: str | None = None) -> Run | None:
    """The run called `name`, or the newest run when name is None."""
    query = select(Run).order_by(Run.id.desc()).limit(1) if name is None else select(Run).where(Run.name == name)
    return session.scalars(query).first()


def set_run_status(session: Session, run: Run, status: str, reason: str | None = None) -> None:
    run = session.merge(run)
    run.status = status
    run.stop_reason = reason
    run.updated_at = utcnow()


def add_program(session: Session, **fields) -> Program:
    program = Program(**fields)
    session.add(program)
    session.flush()
    return program


def record_outcome(session: Session, program_id: int, status: str, score: float | None, metrics: dict,
                   error: str | None, outcomes: Iterable) -> None:
    """Write a program's result and all its stage evaluations (in the caller's transaction)."""
    program = session.get(Program, program_id)
    total = 0.0
    for o in outcomes:
        total += o.wall_s
        session.add(Evaluation(
            program_id=program_id, stage=o.stage.name, workload=o.stage.workload, status=o.status,
            passed=o.passed, metrics=o.metrics or None, artifacts=o.artifacts or None, error=o.error or None,
            stdout=o.stdout[-4000:] or None, stderr=o.stderr[-4000:] or None, wall_s=o.wall_s, cpu_s=o.cpu_s,
        ))
    program.status, program.score, program.metrics, program.error = status, score, metrics or None, error
    program.eval_seconds = total
    program.evaluated_at = utcnow()


def programs(session: Session, run_id: int) -> list[Program]:
    return list(session.scalars(select(Program).where(Program.run_id == run_id).order_by(Program.iteration)))


def status_counts(session: Session, run_id: int) -> Counter:
    rows = session.execute(
        select(Program.status, func.count()).where(Program.run_id == run_id).group_by(Program.status))
    return Counter(dict(rows.all()))


def ranked(session: Session, run_id: int, limit: int | None = None, status: str | None = None) -> list[Program]:
    """Programs of a run, scored ones first by score (desc), then the rest by creation order."""
    query = select(Program).where(Program.run_id == run_id)
    if status:
        query = query.where(Program.status == status)
    query = query.order_by(Program.score.is_(None), Program.score.desc(), Program.iteration)
    if limit:
        query = query.limit(limit)
    return list(session.scalars(query))


def best_score(session: Session, run_id: int) -> float | None:
    return session.scalar(select(func.max(Program.score)).where(Program.run_id == run_id))
