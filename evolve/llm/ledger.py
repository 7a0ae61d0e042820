"""What the LLM calls of a run have cost, and whether another call fits the budgets.

A call is admitted only while `spent + (in flight + 1) * estimate <= max_usd`
and `calls + in flight < max_llm_calls`, so the total can pass `max_usd` by no
more than the calls already in flight when the last one was admitted.
"""
from __future__ import annotations

from collections import defaultdict


class Ledger:
    def __init__(self, max_usd: float | None = None, max_calls: int | None = None):
        self.max_usd, self.max_calls = max_usd, max_calls
        self.spent_usd = 0.0
        self.calls = 0  # finished calls (every attempt, failed ones included)
        self.in_flight = 0
        self.by_model: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])  # model -> [usd, calls]

    def restore(self, spent_usd: float, calls: int) -> None:
        self.spent_usd, self.calls = float(spent_usd), int(calls)

    def estimate(self) -> float:
        """Expected dollars of the next call: the mean over the calls so far (0 before any)."""
        return self.spent_usd / self.calls if self.calls else 0.0

    def reason(self, extra: int = 1) -> str:
        """Non-empty when `extra` more calls (beyond those in flight) would break a budget."""
        if self.max_calls is not None and self.calls + self.in_flight + extra > self.max_calls:
            return (f"LLM call budget of {self.max_calls} reached ({self.calls} made, "
                    f"{self.in_flight} in flight)")
        if self.max_usd is not None:
            projected = self.spent_usd + (self.in_flight + extra) * self.estimate()
            if self.spent_usd >= self.max_usd or projected > self.max_usd + 1e-9:
                return (f"LLM budget of ${self.max_usd:g} reached (${self.spent_usd:.4f} spent, "
                        f"{self.in_flight} call(s) in flight)")
        return ""

    def begin(self) -> None:
        self.in_flight += 1

    def end(self, model: str, cost_usd: float) -> None:
        self.in_flight -= 1
        self.calls += 1
        self.spent_usd += cost_usd
        entry = self.by_model[model]
        entry[0] += cost_usd
        entry[1] += 1

    def model_cost(self, model: str) -> float | None:
        """Mean dollars per call of one model in this session, None before its first call."""
        usd, n = self.by_model.get(model, (0.0, 0))
        return usd / n if n else None
