"""Where children come from: the offline AST mutator or the LLM ensemble, behind one interface.

A proposer turns a parent (with inspirations and maybe a crossover partner)
into a `Draft`: the child's code, or the reason there is none, plus the LLM
calls it cost. The controller writes drafts; proposers never touch the database
except to restore their own state on resume.
"""
from __future__ import annotations

import asyncio
import json
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from evolve.db.models import Evaluation, LLMCall, Program
from evolve.mutate.offline import OfflineMutator
from evolve.search.population import Member

RECENT_FAILURES = 5
FEEDBACK_KEPT = 4096  # feedback texts kept in memory (parents and inspirations are drawn again and again)


@dataclass
class Draft:
    code: str | None  # None: nothing to evaluate (see rejection)
    mutation: str
    partner_used: bool = False
    model: str | None = None
    calls: list = field(default_factory=list)  # evolve.mutate.llm.CallRecord
    rejection: str | None = None
    skipped: bool = False  # nothing was attempted (a budget or every model down): no program is written


class OfflineProposer:
    """The LLM-free AST mutator; proposals are instant and need no slot of their own."""

    extra_in_flight = 0

    def __init__(self, mutator: OfflineMutator, seen: Callable[[str], bool]):
        self.mutator, self.seen = mutator, seen

    async def propose(self, parent: Member, partner: Member | None, inspirations: list[Member],
                      rng: random.Random | None = None) -> Draft | None:
        shared = getattr(self.mutator, "rng", None)
        if rng is not None:  # a deterministic run's candidate draws from a stream of its own
            self.mutator.rng = rng
        try:
            child = self.mutator.propose(parent.code, self.seen, partner.code if partner else None)
        finally:
            if rng is not None:
                self.mutator.rng = shared
        if child is None:
            return None
        return Draft(child.code, child.mutation, partner_used=child.mutation.endswith("crossover"))

    def stop_reason(self) -> str:
        return ""

    def observe(self, draft: Draft, reward: float | None) -> None:
        pass

    def failed(self, text: str) -> None:
        pass

    def recorded(self, program_id: int, error: str | None, outcomes: list) -> None:
        pass

    def restore(self, session: Session, run_id: int) -> None:
        pass


class LLMProposer:
    """Asks the model ensemble, at most `llm.concurrency` calls at once (apart from evaluation slots)."""

    def __init__(self, llm, factory, feedback_chars: int):
        self.llm, self.factory, self.feedback_chars = llm, factory, feedback_chars
        self.slots = asyncio.Semaphore(llm.cfg.concurrency)
        self.extra_in_flight = llm.cfg.concurrency
        self.failures: deque[str] = deque(maxlen=RECENT_FAILURES)
        self.stopped = ""
        # a member's feedback, read once: a scored program's error and evaluations rows do not change
        self.feedback: dict[int, str] = {}

    async def propose(self, parent: Member, partner: Member | None, inspirations: list[Member],
                      rng: random.Random | None = None) -> Draft | None:
        # what the prompt holds is taken now, as the parent is drawn (not once a call slot is free)
        failures = list(self.failures)
        views = self._views([parent, *inspirations, *([partner] if partner else [])])
        async with self.slots:
            p = await self.llm.propose(views[parent.id], [views[m.id] for m in inspirations], failures,
                                       views[partner.id] if partner else None, rng)
        if p.skipped:
            self.stopped = p.rejection or "the LLM mutator stopped"
            return Draft(None, p.mutation, skipped=True, rejection=p.rejection)
        return Draft(p.code, p.mutation, p.mutation == "llm:crossover" and partner is not None, p.model, p.calls,
                     p.rejection)

    def recorded(self, program_id: int, error: str | None, outcomes: list) -> None:
        """A program just scored: its feedback from the outcomes being written, so that drawing it later
        reads nothing back."""
        rows = [(o.stage.name, o.status, _as_stored(o.metrics), _as_stored(o.artifacts)) for o in outcomes]
        self.feedback[program_id] = feedback_text(error, rows, self.feedback_chars)

    def _views(self, members: list[Member]) -> dict:
        from evolve.mutate.llm import ProgramView

        missing = [m.id for m in members if m.id not in self.feedback]
        if missing:
            with self.factory() as session:
                for program_id in missing:
                    self.feedback[program_id] = feedback(session, program_id, self.feedback_chars)
        for program_id in list(self.feedback)[:max(0, len(self.feedback) - FEEDBACK_KEPT)]:
            del self.feedback[program_id]  # the oldest first (dicts keep insertion order)
        return {m.id: ProgramView(m.id, m.code, m.score, m.metrics, self.feedback[m.id], m.generation)
                for m in members}

    def stop_reason(self) -> str:
        return self.stopped or self.llm.budget_reason() or self.llm.all_models_down()

    def observe(self, draft: Draft, reward: float | None) -> None:
        if draft.model:
            self.llm.observe(draft.model, reward)

    def failed(self, text: str) -> None:
        self.failures.append(text)

    def restore(self, session: Session, run_id: int) -> None:
        """Bandit history (model, reward) per LLM child in order, and the ledger's totals."""
        calls = list(session.scalars(select(LLMCall).where(LLMCall.run_id == run_id).order_by(LLMCall.id)))
        model_of = {c.program_id: c.model for c in calls if c.program_id is not None}
        programs = {p.id: p for p in session.scalars(select(Program).where(Program.run_id == run_id))}
        history = []
        for pid in sorted(model_of, key=lambda i: programs[i].iteration):
            child = programs[pid]
            parent = programs.get(child.parent_id)
            ok = child.status == "evaluated" and parent is not None and parent.score is not None
            history.append((model_of[pid], child.score - parent.score if ok else None))
        self.llm.restore(history, sum(c.cost_usd or 0.0 for c in calls), len(calls))


def feedback(session: Session, program_id: int, chars: int) -> str:
    """What the evaluator said about a program: its error, and each stage's metrics and artifacts, trimmed."""
    error = session.scalar(select(Program.error).where(Program.id == program_id))
    rows = session.execute(select(Evaluation.stage, Evaluation.status, Evaluation.metrics, Evaluation.artifacts)
                           .where(Evaluation.program_id == program_id, ~Evaluation.stage.startswith("holdout:"))
                           .order_by(Evaluation.id))
    return feedback_text(error, rows, chars)


def feedback_text(error: str | None, rows, chars: int) -> str:
    """`feedback` from the error and the (stage, status, metrics, artifacts) of each evaluations row."""
    parts = [f"error: {error}"] if error else []
    for stage, status, metrics, artifacts in rows:
        if stage == "probe" or stage.startswith("holdout:"):
            continue
        line = f"stage {stage}: {status}"
        if metrics:
            line += f", metrics {metrics}"
        if artifacts:
            line += f", artifacts {artifacts}"
        parts.append(line)
    text = "\n".join(parts)
    return text if len(text) <= chars else text[: chars - 20] + "\n... (trimmed)"


def _as_stored(value):
    """A metrics or artifacts dict as the database gives it back (JSON), so a text made before and after
    a resume reads the same."""
    return json.loads(json.dumps(value)) if value else None


def make_proposer(problem, factory, rng: random.Random, seen: Callable[[str], bool], llm=None, mutator=None):
    """The LLM proposer when an LLM mutator is given, else the offline one (or the given offline-style mutator)."""
    if llm is not None:
        return LLMProposer(llm, factory, problem.spec.llm.feedback_chars)
    return OfflineProposer(mutator or OfflineMutator(rng, problem.spec.evolution.crossover_rate), seen)
