"""The LLM mutator: prompt -> model (ensemble) -> answer -> patched child, with every call accounted.

The controller picks parents and writes rows; this module only turns a parent
(plus inspirations, recent failures and maybe a crossover partner) into a
`Proposal` and keeps the ensemble and the budgets (a replay: evolve/search/replay.py). litellm is imported
on the first call, never at import time.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from evolve.llm import client
from evolve.llm.client import LLMConfigError, prompt_hash, render
from evolve.llm.ensemble import Ensemble
from evolve.llm.ledger import Ledger
from evolve.mutate.outcomes import BUDGET_CUT, LLM_FAILED, PATCH_FAILED
from evolve.mutate.patch import PatchError, apply_answer
from evolve.mutate.prompt import PromptBuilder, TemplateError, load_templates

if TYPE_CHECKING:
    from evolve.problem import Problem


__all__ = ["CallRecord", "LLMConfigError", "LLMMutator", "ProgramView", "Proposal"]


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


class LLMMutator:
    def __init__(self, problem: "Problem", rng: random.Random, recording=None):
        cfg = problem.spec.llm
        if not cfg.models:
            raise LLMConfigError("llm.models is empty: name at least one model, or use llm.mutator: offline")
        self.cfg, self.rng = cfg, rng
        self.recording = recording  # --replay: evolve/search/replay.py walks it; no model is called
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

    # --- before the run ----------------------------------------------------------
    async def preflight(self) -> None:
        """Raise LLMConfigError (naming the model and the fix) when a model cannot be used."""
        if self.recording is not None:
            return  # nothing will be called
        from evolve.llm.preflight import PROBE, preflight

        attempts = await preflight(list(self.models.values()), self.cfg.preflight, self.cfg.retries, self.cfg.backoff_s)
        h, text = prompt_hash(PROBE), render(PROBE)
        for a in attempts:
            self.ledger.begin()
            self.ledger.end(a.model, a.cost_usd)
            self.preflight_calls.append(self._record(a, h, text, "probe", 1))

    # --- one proposal --------------------------------------------------------------
    async def propose(self, parent: ProgramView, inspirations: list[ProgramView], failures: list[str],
                      partner: ProgramView | None, rng: random.Random | None = None) -> Proposal:
        rng = rng or self.rng  # a deterministic run's candidate has a stream of its own
        kind = self._kind(partner is not None, rng)
        mutation = f"llm:{kind}"
        stop = self.budget_reason() or self.all_models_down()
        if stop:
            return Proposal(None, mutation, None, [], stop, skipped=True)
        model = self.ensemble.pick(rng)
        if model is None:  # every model went down while this proposal waited
            return Proposal(None, mutation, None, [], self.all_models_down(), skipped=True)
        messages = self.prompts.build(kind, parent, inspirations, failures, partner)
        calls: list[CallRecord] = []
        for turn in range(1, self.cfg.max_patch_attempts + 1):
            answer, failure = await self._ask(model, messages, kind, turn, calls)
            if answer is None:
                return Proposal(None, mutation, model, calls, failure, skipped=not calls)
            try:
                code = apply_answer(parent.code, answer, kind)
            except PatchError as exc:
                failure = f"{PATCH_FAILED}: patch rejected: {exc}"
                if turn < self.cfg.max_patch_attempts:
                    cut = self.budget_reason()
                    if not cut:
                        messages = self.prompts.retry(messages, answer, str(exc))
                        continue
                    failure = f"{BUDGET_CUT}: {cut}, so the patch error was not sent back ({failure})"
                return Proposal(None, mutation, model, calls, failure)
            return Proposal(code, mutation, model, calls, None)
        raise AssertionError("unreachable")

    def _kind(self, has_partner: bool, rng: random.Random) -> str:
        odds = self.cfg.mutation
        kinds = [("diff", odds.diff), ("rewrite", odds.rewrite)]
        if has_partner:
            kinds.append(("crossover", odds.crossover))
        kinds = [(k, w) for k, w in kinds if w > 0]
        return rng.choices([k for k, _ in kinds], weights=[w for _, w in kinds])[0]

    async def _ask(self, model: str, messages: list[dict], kind: str, turn: int,
                   calls: list[CallRecord]) -> tuple[str | None, str]:
        """The model's answer (None on failure, with the reason); appends the calls made."""
        h, text = prompt_hash(messages), render(messages)
        attempts, blocked = await client.complete(self.models[model], messages, self.ledger, self.cfg.retries,
                                                  self.cfg.backoff_s, self._jitter)
        calls.extend(self._record(a, h, text, kind, turn) for a in attempts)
        if not attempts:
            return None, f"{BUDGET_CUT}: {blocked}"
        last = attempts[-1]
        if last.outcome == "ok":
            self.ensemble.answered(model)
            return last.response, ""
        if last.outcome == "empty":
            self.ensemble.answered(model)
            return None, f"{PATCH_FAILED}: empty answer from {model}"
        if blocked:
            return None, f"{BUDGET_CUT}: {blocked} (the last try ended {last.outcome})"
        self.ensemble.failed(model)
        tries = f" after {len(attempts)} tries" if len(attempts) > 1 else ""
        return None, f"{LLM_FAILED}: model {model} failed{tries}: {last.outcome}: {last.error[:300]}"

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
        """Non-empty when another call would break max_usd / max_llm_calls."""
        return self.ledger.reason()

    def all_models_down(self) -> str:
        return self.ensemble.all_down()
