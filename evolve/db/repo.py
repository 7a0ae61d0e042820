"""Repository functions: every read and write of the program database goes through here."""
from __future__ import annotations

from collections import Counter
from functools import lru_cache
from typing import Iterable

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from evolve.db.engine import upsert
from evolve.db.models import Cell, Evaluation, IslandMember, LLMCall, Program, Run, utcnow


def get_run(session: Session, name: str | None = None) -> Run | None:
    """The run called `name`, or the newest run when name is None."""
    query = select(Run).order_by(Run.id.desc()).limit(1) if name is None else select(Run).where(Run.name == name)
    return session.scalars(query).first()


def set_run_status(session: Session, run: Run, status: str, reason: str | None = None) -> None:
    run = session.merge(run)
    run.status = status
    run.stop_reason = reason
    run.updated_at = utcnow()


def number(program: Program) -> int:
    """The program's number in its run, as users see and give it (`RUN:ID`): creation order from 1."""
    return program.iteration + 1


def by_number(session: Session, run_id: int, number: int) -> Program | None:
    return session.scalars(select(Program).where(Program.run_id == run_id, Program.iteration == number - 1)).first()


def add_program(session: Session, **fields) -> Program:
    """Insert a program row; the returned Program holds its fields and id (not tracked by `session`)."""
    values = {"generation": 0, "island": 0, "status": "pending", **fields, "created_at": utcnow()}
    program_id = session.execute(_INSERT_PROGRAM, values).inserted_primary_key[0]
    return Program(id=program_id, **values)


# The per-candidate writes (add_evaluations, record_outcome, apply_population_ops, credit_duplicates) are
# Core statements built once: the ORM's unit of work cost more controller CPU than the evaluation of a
# trivial candidate (benchmarks/throughput.py). They run in the caller's transaction as before.


def add_evaluations(session: Session, program_id: int, outcomes: Iterable, prefix: str = "") -> float:
    """One evaluations row per stage outcome; returns their total wall seconds."""
    rows = [dict(program_id=program_id, stage=prefix + o.stage.name, workload=o.stage.workload, status=o.status,
                 passed=o.passed, metrics=o.metrics or None, artifacts=o.artifacts or None, error=o.error or None,
                 stdout=o.stdout[-4000:] or None, stderr=o.stderr[-4000:] or None, wall_s=o.wall_s,
                 cpu_s=o.cpu_s, created_at=utcnow()) for o in outcomes]
    if rows:
        session.execute(_INSERT_EVALUATION, rows)
    return sum(r["wall_s"] for r in rows)


def record_outcome(session: Session, program_id: int, outcomes: Iterable, **fields) -> None:
    """Write a program's result fields and its stage evaluations (in the caller's transaction)."""
    spent = add_evaluations(session, program_id, outcomes)
    session.execute(_UPDATE_PROGRAM, {"b_id": program_id, "eval_seconds": spent, "evaluated_at": utcnow(), **fields})


def apply_population_ops(session: Session, run_id: int, ops: Iterable) -> None:
    """Persist island membership and MAP-Elites cell changes (see population.Op), in their order."""
    add, remove, cell = _population_statements(session.get_bind().dialect.name)
    for op in ops:
        if op.kind == "add":
            session.execute(add, dict(run_id=run_id, island=op.island, program_id=op.program_id, via=op.via,
                                      joined_at=utcnow()))
        elif op.kind == "remove":
            session.execute(remove, dict(run_id=run_id, island=op.island, program_id=op.program_id))
        elif op.kind == "cell":
            session.execute(cell, dict(run_id=run_id, cell=op.cell, program_id=op.program_id))


_INSERT_PROGRAM = insert(Program.__table__)
_INSERT_EVALUATION = insert(Evaluation.__table__)
_INSERT_LLM_CALL = insert(LLMCall.__table__)
_UPDATE_PROGRAM = update(Program.__table__).where(Program.__table__.c.id == bindparam("b_id"))  # SET: the keys given
_CREDIT = (update(Program.__table__)
           .where(Program.__table__.c.duplicate_of == bindparam("b_original"), Program.__table__.c.status == "duplicate")
           .values(score=bindparam("b_score", type_=Program.__table__.c.score.type),
                   metrics=bindparam("b_metrics", type_=Program.__table__.c.metrics.type)))


@lru_cache(maxsize=2)
def _population_statements(dialect: str) -> tuple:
    """(add a member, remove one, set a cell) for `dialect`, with their values bound at execution."""
    members, cells = IslandMember.__table__, Cell.__table__
    keys = ["run_id", "island", "program_id"]
    add = upsert(dialect, members, {k: None for k in [*keys, "via", "joined_at"]}, keys, update=["via"],
                 bound=False)
    remove = delete(members).where(*(members.c[k] == bindparam(k) for k in keys))
    cell = upsert(dialect, cells, {k: None for k in ("run_id", "cell", "program_id")}, ["run_id", "cell"],
                  bound=False)
    return add, remove, cell


def population_rows(session: Session, run_id: int) -> tuple[list[IslandMember], list[Cell]]:
    members = list(session.scalars(select(IslandMember).where(IslandMember.run_id == run_id)))
    cells = list(session.scalars(select(Cell).where(Cell.run_id == run_id)))
    return members, cells


def programs_at(session: Session, run_id: int, iterations) -> dict[int, Program]:
    """{iteration: program} of a run's programs at these iterations (None entries ignored)."""
    wanted = [i for i in iterations if i is not None]
    if not wanted:
        return {}
    query = select(Program).where(Program.run_id == run_id, Program.iteration.in_(wanted))
    return {p.iteration: p for p in session.scalars(query)}


def programs(session: Session, run_id: int) -> list[Program]:
    return list(session.scalars(select(Program).where(Program.run_id == run_id).order_by(Program.iteration)))


def status_counts(session: Session, run_id: int) -> Counter:
    rows = session.execute(
        select(Program.status, func.count()).where(Program.run_id == run_id).group_by(Program.status))
    return Counter(dict(rows.all()))


def ranked(session: Session, run_id: int, limit: int | None = None, status: str | None = None) -> list[Program]:
    """Programs of a run: evaluated ones by score (desc), then the rest (duplicates, which carry their
    original's score; infeasible ones by how far they miss; failed ones), each group in creation order."""
    query = select(Program).where(Program.run_id == run_id)
    if status:
        query = query.where(Program.status == status)
    if status == "evaluated":  # the common top-N: plain ORDER BY score, served by ix_programs_run_status_score
        query = query.order_by(Program.score.desc(), Program.iteration)
    else:
        query = query.order_by(Program.status != "evaluated", Program.score.is_(None), Program.score.desc(),
                               Program.violation.is_(None), Program.violation, Program.iteration)
    if limit:
        query = query.limit(limit)
    return list(session.scalars(query))


def best_score(session: Session, run_id: int) -> float | None:
    return session.scalar(select(func.max(Program.score)).where(Program.run_id == run_id))


def add_probe_evaluation(session: Session, program_id: int, wall_s: float, note: str = "") -> None:
    """The functional-hash probe as an evaluation row, so its cost shows up with the others."""
    session.add(Evaluation(program_id=program_id, stage="probe", workload={}, status="ok" if not note else "error",
                           passed=not note, error=note or None, wall_s=wall_s))


def record_duplicate(session: Session, program_id: int, original: Program, level: str, func_hash: str | None,
                     probe_wall_s: float, outcomes: Iterable = ()) -> Program:
    """Mark a program as a duplicate of `original`, credited with its score (none yet if it is in flight);
    `outcomes` are the stages it ran before the hit was known (the probe rode with the first)."""
    program = session.get(Program, program_id)
    if probe_wall_s:
        add_probe_evaluation(session, program_id, probe_wall_s)
    spent = add_evaluations(session, program_id, outcomes)
    program.status, program.duplicate_of, program.dedup_level = "duplicate", original.id, level
    program.func_hash = func_hash
    program.score, program.metrics = original.score, original.metrics
    program.evaluated_at = utcnow()
    program.eval_seconds = spent
    return program


COST_PREFIX = "cost:"  # the evaluations rows of a cost-only run (a partial evaluation of a hit)


def record_partial(session: Session, program_id: int, original: Program, ran: Iterable, costs: list,
                   **fields) -> Program:
    """A hit scored by a partial evaluation: the stages it ran in full (`ran`), then its cost-only runs
    (rows `cost:STAGE`; the last one notes the original and the seconds saved against its evaluation)."""
    ran = list(ran)
    spent = sum(o.wall_s for o in [*ran, *costs])
    if costs:
        costs[-1].artifacts = {**costs[-1].artifacts, "behaviour_of": number(original),
                               "seconds_saved": max(0.0, (original.eval_seconds or 0.0) - spent)}
    program = session.get(Program, program_id)
    program.eval_seconds = add_evaluations(session, program_id, ran) + add_evaluations(
        session, program_id, costs, prefix=COST_PREFIX)
    for key, value in fields.items():
        setattr(program, key, value)
    program.evaluated_at = utcnow()
    return program


def partial_hits(session: Session, run_id: int) -> set[int]:
    """Ids of the run's programs scored by a partial evaluation (they have `cost:` evaluations rows)."""
    query = select(Evaluation.program_id).join(Program).where(
        Program.run_id == run_id, Evaluation.stage.like(COST_PREFIX + "%")).distinct()
    return set(session.scalars(query))


def stage_metrics(session: Session, program_id: int) -> list[tuple[str, dict | None]]:
    """(stage, metrics) of a program's evaluations rows, in the order they were written."""
    query = select(Evaluation.stage, Evaluation.metrics).where(Evaluation.program_id == program_id)
    return [tuple(r) for r in session.execute(query.order_by(Evaluation.id))]


def credit_duplicates(session: Session, original_id: int, score: float | None, metrics: dict | None) -> None:
    """Give the duplicates recorded while `original_id` was in flight its score and metrics."""
    session.execute(_CREDIT, {"b_original": original_id, "b_score": score, "b_metrics": metrics})


def fold_sample(session: Session, program_id: int, score: float) -> float:
    """Fold one more evaluation's score into a program's mean score and spread; return the new mean."""
    program = session.get(Program, program_id)
    n = program.score_samples or 1
    mean = program.score
    m2 = (program.score_std or 0.0) ** 2 * (n - 1)  # Welford's sum of squares, from the stored spread
    n += 1
    delta = score - mean
    mean += delta / n
    m2 += delta * (score - mean)
    program.score, program.score_samples = mean, n
    program.score_std = (m2 / (n - 1)) ** 0.5
    credit_duplicates(session, program_id, mean, program.metrics)
    return mean


def dedup_stats(session: Session, run_id: int, tolerance: float = 1e-9) -> dict:
    """Duplicates caught per level, evaluations and seconds saved, unhashable count, collision rate."""
    rows = list(session.scalars(select(Program).where(Program.run_id == run_id)))
    by_id = {p.id: p for p in rows}
    dups = [p for p in rows if p.status == "duplicate"]
    partial_ids = partial_hits(session, run_id)
    partial = [p for p in rows if p.id in partial_ids]
    audits = [p for p in rows if p.duplicate_of is not None and p.status != "duplicate" and p.id not in partial_ids]
    collisions = [p for p in audits if _differs(p, by_id.get(p.duplicate_of), tolerance)]
    probe_s = session.scalar(select(func.coalesce(func.sum(Evaluation.wall_s), 0.0)).join(Program).where(
        Program.run_id == run_id, Evaluation.stage == "probe"))
    return {
        "syntactic": sum(p.dedup_level == "syntactic" for p in dups),
        "functional": sum(p.dedup_level == "functional" for p in dups),
        "evaluations_saved": len(dups),
        "seconds_saved": sum(max(0.0, (by_id[p.duplicate_of].eval_seconds or 0.0) - (p.eval_seconds or 0.0))
                             for p in dups if p.duplicate_of in by_id),
        "partial": len(partial),  # hits scored by measuring their costs only (kind: cost objectives)
        "partial_seconds_saved": sum(max(0.0, (by_id[p.duplicate_of].eval_seconds or 0.0) - (p.eval_seconds or 0.0))
                                     for p in partial if p.duplicate_of in by_id),
        "probe_seconds": float(probe_s or 0.0),
        "unhashable": sum(p.dedup_level == "unhashable" for p in rows),
        "audited": len(audits),
        "collisions": len(collisions),
        "collision_rate": len(collisions) / len(audits) if audits else None,
    }


def _differs(a: Program, b: Program | None, tolerance: float) -> bool:
    if b is None:
        return False
    if a.score is None or b.score is None:
        return (a.score is None) != (b.score is None)
    return abs(a.score - b.score) > tolerance * max(1.0, abs(b.score))


def cascade_stats(session: Session, run_id: int, stage_names: list[str]) -> dict:
    """Evaluation seconds the cascade saved: the skipped later stages of programs that stopped early,
    each priced at the mean time that stage took for the programs that ran it."""
    rows = session.execute(select(Evaluation.program_id, Evaluation.stage, Evaluation.wall_s).join(Program).where(
        Program.run_id == run_id, Evaluation.stage.in_(stage_names))).all()
    reached: dict[int, set[str]] = {}
    times: dict[str, list[float]] = {name: [] for name in stage_names}
    for program_id, stage, wall in rows:
        reached.setdefault(program_id, set()).add(stage)
        times[stage].append(wall)
    mean = {name: sum(t) / len(t) for name, t in times.items() if t}
    saved, stopped = 0.0, 0
    for stages in reached.values():
        skipped = [name for name in stage_names if name not in stages]
        if skipped:
            stopped += 1
            saved += sum(mean.get(name, 0.0) for name in skipped)
    spent = sum(wall for _, _, wall in rows)
    return {"stopped_early": stopped, "seconds_saved": saved, "seconds_spent": spent,
            "share_saved": saved / (saved + spent) if saved + spent else 0.0}


def add_llm_calls(session: Session, run_id: int, program_id: int | None, calls: Iterable) -> None:
    """One llm_calls row per call record (evolve.mutate.llm.CallRecord)."""
    rows = [dict(run_id=run_id, program_id=program_id, model=c.model, prompt_tokens=c.prompt_tokens,
                 completion_tokens=c.completion_tokens, cost_usd=c.cost_usd, latency_s=c.latency_s, outcome=c.outcome,
                 prompt_hash=c.prompt_hash, prompt=c.prompt, response=c.response, kind=c.kind, attempt=c.attempt,
                 error=c.error or None, created_at=utcnow()) for c in calls]
    if rows:  # a Core statement, as the other per-candidate writes (the ORM's flush cost more than the call)
        session.execute(_INSERT_LLM_CALL, rows)
