"""evolve.bench.stats against values computed by hand (and the exact test against brute-force enumeration)."""
from __future__ import annotations

import math
import random
from itertools import combinations

import pytest

from evolve.bench import stats


def test_summary_of_seeds():
    s = stats.summarize([1, 2, 3, 4])
    assert (s.n, s.mean, s.median, s.min, s.max) == (4, 2.5, 2.5, 1, 4)
    assert s.sd == pytest.approx(math.sqrt(5 / 3))  # squared deviations 2.25+0.25+0.25+2.25 = 5, over n-1 = 3
    one = stats.summarize([5.0, None])
    assert (one.n, one.mean, one.sd) == (1, 5.0, None)
    assert stats.summarize([]).mean is None


def test_midranks():
    assert stats.ranks([10, 20, 20, 30]) == [1, 2.5, 2.5, 4]
    assert stats.ranks([3, 1, 2]) == [3, 1, 2]


def test_exact_test_separated_samples():
    # U of a: pairs with a > b. All of a below all of b: U = 0; 20 ways to split 6 values 3/3, and only
    # the two extreme splits are as far from the centre: p = 2/20
    low = stats.mann_whitney([1, 2, 3], [4, 5, 6])
    assert (low.u, low.method, low.effect) == (0, "exact", 0.0)
    assert low.p == pytest.approx(0.1) and low.p_min == pytest.approx(0.1)
    high = stats.mann_whitney([4, 5, 6], [1, 2, 3])
    assert (high.u, high.effect) == (9, 1.0) and high.p == pytest.approx(0.1)


def test_two_seeds_each_cannot_give_a_small_p():
    t = stats.mann_whitney([1, 2], [3, 4])  # 6 splits of 4 values, 2 extreme: p = 1/3 at best
    assert t.u == 0 and t.p == pytest.approx(1 / 3) and t.p_min == pytest.approx(1 / 3)
    same = stats.mann_whitney([5, 5], [5, 5])
    assert same.u == 2 and same.p == 1.0 and same.effect == 0.5


def test_exact_test_with_ties_by_hand():
    # pooled [1, 2, 2, 2, 3]: midranks 1, 3, 3, 3, 5. a = [1, 2, 2] has rank sum 7, U = 7 - 3*4/2 = 1.
    # The 10 ways to draw 3 ranks: {1,3,3} x3 -> 7, {1,3,5} x3 -> 9, {3,3,3} x1 -> 9, {3,3,5} x3 -> 11;
    # E = 9, |7 - 9| = 2, and sums 7 and 11 are as far: p = 6/10.
    t = stats.mann_whitney([1, 2, 2], [2, 3])
    assert t.u == 1 and t.p == pytest.approx(0.6) and t.method == "exact"
    assert t.effect == pytest.approx(1 / 6)


def _brute(a, b):
    pooled = stats.ranks(a + b)
    centre = len(a) * (len(a) + len(b) + 1) / 2
    far = abs(sum(pooled[: len(a)]) - centre)
    splits = list(combinations(range(len(pooled)), len(a)))
    return sum(abs(sum(pooled[i] for i in s) - centre) >= far - 1e-9 for s in splits) / len(splits)


def test_exact_test_matches_enumeration():
    rng = random.Random(3)
    for _ in range(40):
        a = [rng.randint(0, 6) for _ in range(rng.randint(1, 6))]
        b = [rng.randint(0, 6) for _ in range(rng.randint(1, 6))]
        assert stats.mann_whitney(a, b).p == pytest.approx(_brute(a, b)), (a, b)


def test_normal_approximation_above_the_exact_limit():
    # 31 even numbers against 31 odd ones (62 > EXACT_MAX): U = sum_k k for k < 31 = 465, mean 31*31/2 = 480.5,
    # sigma = sqrt(31*31*63/12) = 71.0299; with the continuity correction z = (15.5 - 0.5)/sigma = 0.21118
    t = stats.mann_whitney(list(range(0, 61, 2)), list(range(1, 62, 2)))
    assert t.method == "normal" and t.u == 465
    sigma = math.sqrt(31 * 31 * 63 / 12)
    assert t.p == pytest.approx(math.erfc(15 / sigma / math.sqrt(2)))
    assert t.p == pytest.approx(0.83275, abs=1e-5)


def test_empty_sample_is_an_error():
    with pytest.raises(ValueError):
        stats.mann_whitney([], [1])
    with pytest.raises(ValueError):
        stats.bootstrap_diff([1], [])


def test_bootstrap_interval():
    flat = stats.bootstrap_diff([1, 1, 1], [0, 0, 0])
    assert (flat.diff, flat.low, flat.high, flat.level) == (1, 1, 1, 0.95)
    a, b = list(range(10)), [x + 5 for x in range(10)]
    d = stats.bootstrap_diff(a, b)
    assert d.diff == -5 and d.low < -5 < d.high < 0
    assert stats.bootstrap_diff(a, b) == d  # seeded: the same interval each time
