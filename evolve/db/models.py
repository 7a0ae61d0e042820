"""SQLAlchemy models: the program database. Plain tables any SQLite tool can read."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA_VERSION = 4  # the Alembic revision count (evolve/db/migrations/versions); kept in `meta`

# JSON columns: plain JSON text on SQLite (readable with json_extract), JSONB on PostgreSQL
JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Meta(Base):
    """Key/value facts about the database itself (schema_version)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    problem: Mapped[str] = mapped_column(String(200))
    problem_path: Mapped[str] = mapped_column(Text)
    config: Mapped[dict] = mapped_column(JSONType)  # the validated problem spec, as run
    status: Mapped[str] = mapped_column(String(20), default="running")  # running|finished|interrupted|failed
    stop_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Program(Base):
    __tablename__ = "programs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    iteration: Mapped[int] = mapped_column(Integer)  # order of creation within the run; 0 = initial
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("programs.id"), nullable=True)
    second_parent_id: Mapped[int | None] = mapped_column(ForeignKey("programs.id"), nullable=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    island: Mapped[int] = mapped_column(Integer, default=0)
    mutation: Mapped[str] = mapped_column(String(100))  # how it was made: initial, offline:constant, ...
    code: Mapped[str] = mapped_column(Text)
    diff: Mapped[str | None] = mapped_column(Text, nullable=True)
    code_hash: Mapped[str] = mapped_column(String(64), index=True)
    # pending -> evaluated | infeasible | failed | duplicate (| rejected: a patch that did not apply)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    violation: Mapped[float | None] = mapped_column(Float, nullable=True)  # how far an infeasible one misses
    score_std: Mapped[float | None] = mapped_column(Float, nullable=True)  # spread over re-evaluations
    score_samples: Mapped[int | None] = mapped_column(Integer, nullable=True)
    holdout_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    holdout_metrics: Mapped[dict | None] = mapped_column(JSONType, nullable=True)
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("programs.id"), nullable=True, index=True)
    ast_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    func_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    dedup_level: Mapped[str | None] = mapped_column(String(20), nullable=True)  # syntactic | functional
    metrics: Mapped[dict | None] = mapped_column(JSONType, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    eval_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    evaluated_at: Mapped[datetime | None] = mapped_column(nullable=True)

    __table_args__ = (
        Index("ix_programs_run_score", "run_id", "score"),
        Index("ix_programs_run_status_score", "run_id", "status", "score"),  # the leaderboard's filter + sort
        Index("ix_programs_run_iteration", "run_id", "iteration", unique=True),
    )


class Evaluation(Base):
    """One attempt of one stage of one program in the sandbox."""

    __tablename__ = "evaluations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    stage: Mapped[str] = mapped_column(String(100))
    workload: Mapped[dict] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(20))  # sandbox status: ok, error, timeout, ...
    passed: Mapped[bool] = mapped_column(default=False)  # met the stage's `require`
    metrics: Mapped[dict | None] = mapped_column(JSONType, nullable=True)
    artifacts: Mapped[dict | None] = mapped_column(JSONType, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    stdout: Mapped[str | None] = mapped_column(Text, nullable=True)
    stderr: Mapped[str | None] = mapped_column(Text, nullable=True)
    wall_s: Mapped[float] = mapped_column(Float, default=0.0)
    cpu_s: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LLMCall(Base):
    """One call to a language model: what it cost and how it went."""

    __tablename__ = "llm_calls"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    program_id: Mapped[int | None] = mapped_column(ForeignKey("programs.id"), nullable=True)
    model: Mapped[str] = mapped_column(String(200))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    latency_s: Mapped[float] = mapped_column(Float, default=0.0)
    outcome: Mapped[str] = mapped_column(String(40))
    prompt_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    response: Mapped[str | None] = mapped_column(Text, nullable=True)
    prompt: Mapped[str | None] = mapped_column(Text, nullable=True)  # the conversation sent, as readable text
    kind: Mapped[str | None] = mapped_column(String(20), nullable=True)  # diff | rewrite | crossover | probe
    attempt: Mapped[int] = mapped_column(Integer, default=1)  # turn of the conversation (patch error sent back)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)  # what went wrong, for a failed call
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IslandMember(Base):
    """Which programs each island's archive holds now (the population, as a table)."""

    __tablename__ = "island_members"
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    island: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), primary_key=True)
    via: Mapped[str] = mapped_column(String(20))  # child | migration | reseed
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)


class Cell(Base):
    """A MAP-Elites cell and the best program in it."""

    __tablename__ = "cells"
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    cell: Mapped[str] = mapped_column(String(200), primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))


class RunLease(Base):
    """Who evolves a run now: one row per run, renewed by its owner's heartbeat (see evolve/db/lease.py)."""

    __tablename__ = "run_leases"
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    token: Mapped[str] = mapped_column(String(32))  # this grant of the lease: a takeover changes it
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    process: Mapped[str | None] = mapped_column(String(200), nullable=True)  # boot id, pid namespace, start tick
    acquired_at: Mapped[datetime] = mapped_column()
    heartbeat_at: Mapped[datetime] = mapped_column()
