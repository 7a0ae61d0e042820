"""Which model answers the next proposal: fixed weights or a UCB bandit, minus models cooling down.

Bandit reward is a child's improvement over its parent (none or a loss counts
as 0), scaled by the largest improvement seen so the exploration constant
means the same on every problem. A model whose proposals fail `cooldown_after`
times in a row (every retry spent) rests for `cooldown_s`, doubling each time.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from typing import Callable

ALL_DOWN = "every LLM"  # how the stop reason of a run whose every model is cooling down starts


@dataclass
class Arm:
    name: str
    weight: float
    pulls: int = 0
    reward_sum: float = 0.0  # of raw, clipped improvements
    failures_in_row: int = 0
    cooldowns: int = 0
    down_until: float = 0.0


class Ensemble:
    def __init__(self, models: list, selection: str = "weighted", exploration: float = 1.0,
                 cost_aware: bool = False, cooldown_after: int = 3, cooldown_s: float = 120.0,
                 cost_of: Callable[[str], float | None] = lambda name: None,
                 clock: Callable[[], float] = time.monotonic):
        self.arms = {m.name: Arm(m.name, m.weight) for m in models}
        self.selection, self.exploration, self.cost_aware = selection, exploration, cost_aware
        self.cooldown_after, self.cooldown_s = cooldown_after, cooldown_s
        self.cost_of, self.clock = cost_of, clock
        self.best_reward = 0.0

    # --- choosing ------------------------------------------------------------------
    def available(self) -> list[Arm]:
        now = self.clock()
        return [a for a in self.arms.values() if a.down_until <= now and a.weight > 0]

    def pick(self, rng: random.Random) -> str | None:
        """The next model, or None when every model is cooling down."""
        arms = self.available()
        if not arms:
            return None
        if self.selection == "bandit":
            return self._ucb(arms, rng)
        return rng.choices(arms, weights=[a.weight for a in arms])[0].name

    def _ucb(self, arms: list[Arm], rng: random.Random) -> str:
        untried = [a for a in arms if a.pulls == 0]
        if untried:
            return rng.choices(untried, weights=[a.weight for a in untried])[0].name
        total = sum(a.pulls for a in arms)
        scale = self.best_reward or 1.0
        costs = {a.name: self.cost_of(a.name) for a in arms}
        known = [c for c in costs.values() if c]
        mean_cost = sum(known) / len(known) if known else None

        def value(arm: Arm) -> float:
            v = arm.reward_sum / arm.pulls / scale + self.exploration * math.sqrt(2 * math.log(total) / arm.pulls)
            if self.cost_aware and mean_cost and costs[arm.name]:
                v /= costs[arm.name] / mean_cost
            return v

        top = max(value(a) for a in arms)
        return rng.choice([a.name for a in arms if value(a) >= top - 1e-12])

    # --- learning ------------------------------------------------------------------
    def observe(self, model: str, reward: float | None) -> None:
        """A child of `model` was scored: reward = child score - parent score (None: no score)."""
        arm = self.arms.get(model)
        if arm is None:  # a model no longer configured (resume with another list)
            return
        gain = reward if reward is not None and math.isfinite(reward) and reward > 0 else 0.0
        arm.pulls += 1
        arm.reward_sum += gain
        self.best_reward = max(self.best_reward, gain)

    def answered(self, model: str) -> None:
        if model in self.arms:
            self.arms[model].failures_in_row = 0

    def failed(self, model: str) -> None:
        """A proposal got no answer from `model` after every retry."""
        arm = self.arms.get(model)
        if arm is None:
            return
        arm.failures_in_row += 1
        if arm.failures_in_row >= self.cooldown_after:
            arm.down_until = self.clock() + self.cooldown_s * (2 ** arm.cooldowns)
            arm.cooldowns += 1
            arm.failures_in_row = 0

    def all_down(self) -> str:
        """Non-empty when no model can be asked now."""
        if self.available():
            return ""
        now = self.clock()
        soonest = min(a.down_until for a in self.arms.values() if a.weight > 0) - now
        names = ", ".join(self.arms)
        return (f"{ALL_DOWN} ({names}) failed {self.cooldown_after} proposals in a row and is cooling "
                f"down (next back in {max(soonest, 0):.0f} s); check the provider, then `evolve resume` the run")
