"""The LLM mutator: prompt -> model (ensemble) -> answer -> patched child, with every call accounted.

The controller picks parents and writes rows; this module only turns a parent
(plus inspirations, recent failures and maybe a crossover partner) into a
`Proposal` and keeps the ensemble, the budgets and replay. litellm is imported
on the first call, never at import time.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

from evolve.llm import client
from evolve.llm.client import LLMConfigError, prompt_hash, render
from evolve.llm.ensemble import Ensemble
from evolve.llm.ledger import Ledger
from evolve.mutate.patch import PatchError, apply_answer
from evolve.mutate.prompt import PromptBuilder, TemplateError, load_templates

if TYPE_CHECKING:
    from evolve.problem import Problem

REPLAY_MISSES_TO_STOP = 5

__all__ = ["CallRecord", "LLMConfigError", "LLMMutator", "ProgramView", "Proposal", "replay_table"]


@dataclass
class ProgramView:
    """What the mutator sees of a program."""

    id: int
    code: str
    score: float | None
    metrics: dict = field(default_factory=dict)
    feedback: str = ""
    generation: int = 0


@dataclass
class CallRecord:
    """One llm_calls row (the controller adds run_id and program_id)."""

    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_s: float
    outcome: str  # ok | rate_limited | server_error | timeout | empty | error | replayed
    prompt_hash: str
    prompt: str
    response: str | None
    kind: str = ""  # the mutation kind it served, or "probe"
    attempt: int = 1  # 1 = first turn of the conversation, 2 = after a patch error went back, ...
    error: str = ""


@dataclass
class Proposal:
    code: str | None  # the child, or None when there is nothing to evaluate
    mutation: str  # llm:diff | llm:rewrite | llm:crossover
    model: str | None
    calls: list[CallRecord]
    rejection: str | None  # why code is None
    skipped: bool = False  # no call was made (budget, all models down, no recording): write no program


def replay_table(rows: Iterable[tuple[int | None, str | None, str, str | None]]) -> dict[str, list[str | None]]:
    """{prompt_hash: [answer per proposal, in order]} from a run's llm_calls rows
    (program_id, prompt_hash, outcome, response), in id order, for replay.

    A proposal's calls of one prompt (retries included) end in one answer: the response of the
    call that got one ("" for an empty answer), or None when every try failed. The same prompt
    sent by several proposals gets their answers in turn.
    """
    final: dict[tuple[int, str], str | None] = {}
    for program_id, h, outcome, response in rows:
        if h is None or program_id is None:  # preflight probes answer no proposal
            continue
        if outcome in ("ok", "replayed") and response is not None:
            final[(program_id, h)] = response
        elif outcome == "empty":
            final[(program_id, h)] = ""
        else:
            final.setdefault((program_id, h), None)
    table: dict[str, list[str | None]] = {}
    for (_, h), answer in final.items():  # dicts keep the order of the first call of each proposal
        table.setdefault(h, []).append(answer)
    return table


class LLMMutator:
    def __init__(self, problem: "Problem", rng: random.Random, replay: dict[str, list[str | None]] | None = None):
        cfg = problem.spec.llm
        if not cfg.models:
            raise LLMConfigError("llm.models is empty: name at least one model, or use llm.mutator: offline")
        self.cfg, self.rng, self.replay = cfg, rng, replay
        self.models = {m.name: m for m in cfg.models}
        self.ledger = Ledger(cfg.budget.max_usd, cfg.budget.max_llm_calls)
        self.ensemble = Ensemble(cfg.models, cfg.selection, cfg.exploration, cfg.cost_aware,
                                 cfg.cooldown_after, cfg.cooldown_s, cost_of=self.ledger.model_cost)
        try:
            templates = load_templates(problem.root)
        except TemplateError as exc:
            raise LLMConfigError(str(exc)) from None
        self.prompts = PromptBuilder(problem.spec.description, problem.spec.objectives, templates,
                                     cfg.feedback_chars)
        self._jitter = random.Random(0)  # backoff jitter apart from self.rng: replays stay in step
        self.preflight_calls: list[CallRecord] = []  # probe calls, for the ledger (program_id NULL)
        self._replay_misses = 0  # prompts in a row that the replayed run never sent

    # --- before the run ----------------------------------------------------------
    async def preflight(self) -> None:
        """Raise LLMConfigError (naming the model and the fix) when a model cannot be used."""
        if self.replay is not None:
            return  # nothing will be called
        from evolve.llm.preflight import PROBE, preflight

        attempts = await preflight(list(self.models.values()), self.cfg.preflight)
        h, text = prompt_hash(PROBE), render(PROBE)
        for a in attempts:
            self.ledger.begin()
            self.ledger.end(a.model, a.cost_usd)
            self.preflight_calls.append(self._record(a, h, text, "probe", 1))

    # --- one proposal --------------------------------------------------------------
    async def propose(self, parent: ProgramView, inspirations: list[ProgramView], failures: list[str],
                      partner: ProgramView | None) -> Proposal:
        kind = self._kind(partner is not None)
        mutation = f"llm:{kind}"
        stop = self.budget_reason() or self.all_models_down()
        if stop:
            return Proposal(None, mutation, None, [], stop, skipped=True)
        model = self.ensemble.pick(self.rng)
        if model is None:  # every model went down while this proposal waited
            return Proposal(None, mutation, None, [], self.all_models_down(), skipped=True)
        messages = self.prompts.build(kind, parent, inspirations, failures, partner)
        calls: list[CallRecord] = []
        for turn in range(1, self.cfg.max_patch_attempts + 1):
            answer, failure = await self._ask(model, messages, kind, turn, calls)
            if answer is None:
                replayed = failure.startswith("replay:")  # recorded as rejected, like the original
                return Proposal(None, mutation, model, calls, failure, skipped=not calls and not replayed)
            try:
                code = apply_answer(parent.code, answer, kind)
            except PatchError as exc:
                failure = f"patch rejected: {exc}"
                if turn < self.cfg.max_patch_attempts and not self.budget_reason():
                    messages = self.prompts.retry(messages, answer, str(exc))
                    continue
                return Proposal(None, mutation, model, calls, failure)
            return Proposal(code, mutation, model, calls, None)
        raise AssertionError("unreachable")

    def _kind(self, has_partner: bool) -> str:
        odds = self.cfg.mutation
        kinds = [("diff", odds.diff), ("rewrite", odds.rewrite)]
        if has_partner:
            kinds.append(("crossover", odds.crossover))
        kinds = [(k, w) for k, w in kinds if w > 0]
        return self.rng.choices([k for k, _ in kinds], weights=[w for _, w in kinds])[0]

    async def _ask(self, model: str, messages: list[dict], kind: str, turn: int,
                   calls: list[CallRecord]) -> tuple[str | None, str]:
        """The model's answer (None on failure, with the reason); appends the calls made."""
        h, text = prompt_hash(messages), render(messages)
        if self.replay is not None:
            if h not in self.replay:
                self._replay_misses += 1
                return None, (f"replay: no recorded response for this prompt (hash {h[:12]}); the run being "
                              "replayed never sent it — the problem, templates or run state differ")
            answers = self.replay[h]
            answer, self._replay_misses = (answers.pop(0) if len(answers) > 1 else answers[0]), 0
            if answer is None:
                return None, "replay: the recorded call of this prompt got no answer (every retry failed)"
            calls.append(CallRecord(model, 0, 0, 0.0, 0.0, "replayed", h, text, answer, kind, turn))
            return (answer, "") if answer.strip() else (None, f"empty answer from {model} (replayed)")
        attempts, blocked = await client.complete(self.models[model], messages, self.ledger, self.cfg.retries,
                                                  self.cfg.backoff_s, self._jitter)
        calls.extend(self._record(a, h, text, kind, turn) for a in attempts)
        if not attempts:
            return None, blocked
        last = attempts[-1]
        if last.outcome == "ok":
            self.ensemble.answered(model)
            return last.response, ""
        if last.outcome == "empty":
            self.ensemble.answered(model)
            return None, f"empty answer from {model}"
        if blocked:
            return None, blocked
        self.ensemble.failed(model)
        tries = f" after {len(attempts)} tries" if len(attempts) > 1 else ""
        return None, f"model {model} failed{tries}: {last.outcome}: {last.error[:300]}"

    @staticmethod
    def _record(a, h: str, text: str, kind: str, turn: int) -> CallRecord:
        return CallRecord(a.model, a.prompt_tokens, a.completion_tokens, a.cost_usd, a.latency_s, a.outcome,
                          h, text, a.response, kind, turn, a.error)

    # --- state the controller reads and restores ---------------------------------
    def observe(self, model: str, reward: float | None) -> None:
        """Bandit update: reward = child score - parent score (None when the child has no score)."""
        self.ensemble.observe(model, reward)

    def restore(self, history: list[tuple[str, float | None]], spent_usd: float, calls: int) -> None:
        """On resume: the (model, reward) of every earlier LLM child, in order, and the ledger totals."""
        for model, reward in history:
            self.ensemble.observe(model, reward)
        self.ledger.restore(spent_usd, calls)

    def budget_reason(self) -> str:
        """Non-empty when another call would break max_usd / max_llm_calls (or a replay has diverged)."""
        if self.replay is not None:
            if self._replay_misses >= REPLAY_MISSES_TO_STOP:
                return (f"replay: {self._replay_misses} prompts in a row have no recorded response; "
                        "this run has diverged from the one being replayed")
            return ""
        return self.ledger.reason()

    def all_models_down(self) -> str:
        return self.ensemble.all_down()
