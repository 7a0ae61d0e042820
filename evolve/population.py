"""The scored programs evolution draws parents from, and how it picks them."""
from __future__ import annotations

import bisect
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Member:
    id: int
    score: float
    code: str
    generation: int


class Population:
    """Feasible programs kept sorted by score (best first); selection is by rank."""

    def __init__(self, strategy: str = "power_law", alpha: float = 1.0):
        self.strategy = strategy
        self.alpha = alpha
        self._members: list[Member] = []  # sorted by (-score, id)
        self._keys: list[tuple[float, int]] = []
        self._weights_cache: tuple[int, list[float]] | None = None

    def __len__(self) -> int:
        return len(self._members)

    def add(self, member: Member) -> None:
        key = (-member.score, member.id)
        i = bisect.bisect(self._keys, key)
        self._keys.insert(i, key)
        self._members.insert(i, member)

    def best(self) -> Member | None:
        return self._members[0] if self._members else None

    def top(self, n: int) -> list[Member]:
        return self._members[:n]

    def select(self, rng: random.Random) -> Member:
        """A parent: rank power-law (P(rank r) ~ r^-alpha), uniform, or always the best."""
        if not self._members:
            raise LookupError("the population is empty: no program has been scored yet")
        if self.strategy == "best":
            return self._members[0]
        if self.strategy == "uniform":
            return rng.choice(self._members)
        return rng.choices(self._members, cum_weights=self._cum_weights())[0]

    def _cum_weights(self) -> list[float]:
        n = len(self._members)
        if self._weights_cache is None or self._weights_cache[0] != n:
            cum, total = [], 0.0
            for rank in range(1, n + 1):
                total += rank ** -self.alpha
                cum.append(total)
            self._weights_cache = (n, cum)
        return self._weights_cache[1]
