"""Parent selection strategies over a ranked list of members (best first)."""
from __future__ import annotations

import math
import random
import statistics
from typing import Protocol, Sequence


class Candidate(Protocol):
    score: float
    children: int


def power_law(ranked: Sequence, rng: random.Random, alpha: float) -> int:
    """P(rank r) proportional to r^-alpha."""
    weights = [(r + 1) ** -alpha for r in range(len(ranked))]
    return rng.choices(range(len(ranked)), weights=weights)[0]


def weighted(ranked: Sequence[Candidate], rng: random.Random, sharpness: float = 1.0) -> int:
    """Sigmoid of the score relative to the median, times a bonus for programs with few children."""
    scores = [m.score for m in ranked]
    mid = statistics.median(scores)
    spread = statistics.pstdev(scores) or 1.0
    weights = []
    for m in ranked:
        z = max(-50.0, min(50.0, sharpness * (m.score - mid) / spread))
        weights.append((1.0 / (1.0 + math.exp(-z))) / (1.0 + m.children))
    return rng.choices(range(len(ranked)), weights=weights)[0]


def tournament(ranked: Sequence, rng: random.Random, size: int) -> int:
    """The best of `size` members drawn uniformly (ranked order decides)."""
    return min(rng.sample(range(len(ranked)), min(size, len(ranked))))


def select_index(strategy: str, ranked: Sequence[Candidate], rng: random.Random, alpha: float,
                 tournament_size: int) -> int:
    """Index into `ranked` (best first) of the chosen parent."""
    if not ranked:
        raise LookupError("the population is empty: no program has been scored yet")
    if strategy == "best":
        return 0
    if strategy == "uniform":
        return rng.randrange(len(ranked))
    if strategy == "tournament":
        return tournament(ranked, rng, tournament_size)
    if strategy == "weighted":
        return weighted(ranked, rng)
    return power_law(ranked, rng, alpha)
