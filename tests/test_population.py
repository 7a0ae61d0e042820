import random
from collections import Counter

import pytest

from evolve.population import Member, Population


def _pop(strategy: str, n: int = 4) -> Population:
    pop = Population(strategy, alpha=1.0)
    for i in range(n):
        pop.add(Member(id=i, score=float(i), code=str(i), generation=0))
    return pop


def test_kept_best_first():
    pop = _pop("power_law")
    assert [m.id for m in pop.top(4)] == [3, 2, 1, 0]
    assert pop.best().id == 3


def test_power_law_matches_rank_weights():
    pop, rng = _pop("power_law"), random.Random(0)
    counts = Counter(pop.select(rng).id for _ in range(20000))
    weights = [1, 1 / 2, 1 / 3, 1 / 4]
    for rank, member_id in enumerate([3, 2, 1, 0]):
        expected = weights[rank] / sum(weights)
        assert counts[member_id] / 20000 == pytest.approx(expected, abs=0.015)


def test_uniform_and_best():
    rng = random.Random(0)
    counts = Counter(_pop("uniform").select(rng).id for _ in range(8000))
    assert all(abs(c / 8000 - 0.25) < 0.03 for c in counts.values())
    assert {_pop("best").select(rng).id for _ in range(50)} == {3}


def test_empty_population_says_why():
    with pytest.raises(LookupError, match="no program has been scored"):
        Population().select(random.Random(0))
