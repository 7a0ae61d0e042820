"""`--replay RUN`: walk a recorded LLM run's proposals again, exactly, whatever the timing.

A live run's proposals depend on timing: which children had finished when a prompt was built
decided its parent and inspirations. A replay therefore does not rebuild prompts; it takes each
recorded proposal in turn (its iteration, parent, second parent, island, mutation and model),
applies the recorded answers of each conversation turn to the parent's code as the live run did,
and checks that this gives the recorded child. The child is then evaluated for real. So a replay
reproduces every program's code (and, with a deterministic evaluator, its score) however the
answers were timed, retried or interleaved with evaluations, and costs no LLM call.

When a recorded child cannot be rebuilt (the starting program, the templates or the patch rules
changed), the replay stops there: the run ends `diverged` (exit 1) and the unmatched proposal is
recorded as an llm_calls row (outcome `replay_diverged`, its prompt and the reason).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from evolve.db.models import LLMCall, Program

DIVERGED = "replay diverged"  # how a diverged replay's stop reason starts (the run's status: diverged)


@dataclass
class Turn:
    """One conversation turn of a recorded proposal: its final answer ("" empty, None: every try failed)."""

    model: str
    prompt_hash: str | None
    prompt: str | None
    answer: str | None


@dataclass
class Step:
    """One recorded proposal that wrote a program."""

    iteration: int
    parent: int | None  # iterations, in the recorded run
    partner: int | None
    island: int
    mutation: str
    status: str
    code: str
    error: str | None
    generation: int
    turns: list[Turn] = field(default_factory=list)


@dataclass
class Rebuilt:
    code: str | None  # None: rejected, as recorded
    rejection: str | None
    calls: list  # evolve.mutate.llm.CallRecord
    diverged: str = ""  # why the recorded child could not be rebuilt


class Recording:
    """The recorded proposals of a run, in iteration order, served one at a time."""

    def __init__(self, name: str, steps: list[Step]):
        self.name, self.steps = name, steps
        self.position = 0
        self.diverged = ""

    @classmethod
    def load(cls, session: Session, run) -> "Recording":
        programs = list(session.scalars(select(Program).where(Program.run_id == run.id).order_by(Program.iteration)))
        iteration_of = {p.id: p.iteration for p in programs}
        calls = list(session.scalars(select(LLMCall).where(LLMCall.run_id == run.id).order_by(LLMCall.id)))
        turns: dict[int, dict[int, Turn]] = {}
        for c in calls:
            if c.program_id is None:
                continue
            turn = turns.setdefault(c.program_id, {}).setdefault(c.attempt, Turn(c.model, c.prompt_hash, c.prompt, None))
            if c.outcome in ("ok", "replayed") and c.response is not None:
                turn.answer, turn.model = c.response, c.model
            elif c.outcome == "empty" and turn.answer is None:
                turn.answer = ""
        steps = [Step(p.iteration, iteration_of.get(p.parent_id), iteration_of.get(p.second_parent_id), p.island,
                      p.mutation, p.status, p.code, p.error, p.generation,
                      [t for _, t in sorted(turns.get(p.id, {}).items())])
                 for p in programs if p.iteration > 0 and p.mutation.startswith("llm:")]
        return cls(run.name, steps)

    def next(self) -> Step | None:
        if self.diverged or self.position >= len(self.steps):
            return None
        self.position += 1
        return self.steps[self.position - 1]

    def stop_reason(self) -> str:
        if self.diverged:
            return self.diverged
        if self.position >= len(self.steps):
            return f"replayed all {len(self.steps)} recorded proposals of run {self.name}"
        return ""

    def rebuild(self, step: Step, parent_code: str, iteration: int) -> Rebuilt:
        """The child of `parent_code` that the recorded answers make, turn by turn, as the live run made it."""
        from evolve.mutate.llm import CallRecord  # the LLM path only: an offline run never loads it
        from evolve.mutate.patch import PatchError, apply_answer

        kind = step.mutation.removeprefix("llm:")
        calls, code, rejection = [], None, step.error
        for number, turn in enumerate(step.turns, 1):
            calls.append(CallRecord(turn.model, 0, 0, 0.0, 0.0, "replayed", turn.prompt_hash, turn.prompt or "",
                                    turn.answer, kind, number))
            if not turn.answer:  # no answer, or an empty one: the live proposal stopped there
                break
            try:
                code = apply_answer(parent_code, turn.answer, kind)
                break
            except PatchError:
                continue
        want = None if step.status == "rejected" else step.code
        why = ""
        if iteration != step.iteration:
            why = f"iteration {iteration + 1} would hold recorded #{step.iteration + 1}"
        elif code != want:
            why = ("the recorded answers no longer give the recorded child" if want is not None and code is not None
                   else "the recorded answers give a child where the run recorded a rejection" if want is None
                   else "the recorded answers no longer apply to the parent")
        if why:
            self.diverged = f"{DIVERGED} at #{step.iteration + 1} (of run {self.name}): {why}"
        return Rebuilt(code, None if code is not None else rejection, calls, self.diverged)

    def divergence_call(self, step: Step):
        """The unmatched proposal, for the ledger (a CallRecord): its last prompt and the reason."""
        from evolve.mutate.llm import CallRecord

        last = step.turns[-1] if step.turns else Turn("replay", None, None, None)
        return CallRecord(last.model, 0, 0, 0.0, 0.0, "replay_diverged", last.prompt_hash, last.prompt or "",
                          None, step.mutation.removeprefix("llm:"), len(step.turns), self.diverged)
