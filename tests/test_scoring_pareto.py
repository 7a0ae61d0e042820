"""Property tests for non-dominated sorting and crowding distance."""
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from evolve.problem import Condition
from evolve.search.scoring import crowding_distances, dominates, order_keys, pareto_ranks, violation

points = st.lists(st.tuples(st.integers(-5, 5), st.integers(-5, 5), st.integers(-5, 5)), min_size=1, max_size=30)


@given(points)
@settings(max_examples=200, deadline=None)
def test_front_is_exactly_the_non_dominated(pts):
    ranks = pareto_ranks(pts)
    for i, p in enumerate(pts):
        assert (ranks[i] == 0) == (not any(dominates(q, p) for q in pts))


@given(points)
@settings(max_examples=200, deadline=None)
def test_dominated_points_rank_strictly_lower(pts):
    ranks = pareto_ranks(pts)
    for i, p in enumerate(pts):
        for j, q in enumerate(pts):
            if dominates(p, q):
                assert ranks[i] < ranks[j]
        if ranks[i] > 0:  # every point past the front is dominated by one exactly one front above
            assert any(dominates(pts[j], p) and ranks[j] == ranks[i] - 1 for j in range(len(pts)))


@given(points)
@settings(max_examples=200, deadline=None)
def test_crowding_boundaries_are_infinite_and_values_non_negative(pts):
    ranks = pareto_ranks(pts)
    dist = crowding_distances(pts, ranks)
    assert all(d >= 0 for d in dist)
    for r in set(ranks):
        members = [i for i in range(len(pts)) if ranks[i] == r]
        for d in range(3):
            extreme = max(members, key=lambda i: pts[i][d])
            assert any(math.isinf(dist[i]) and pts[i][d] == pts[extreme][d] for i in members)


def test_crowding_by_hand():
    pts = [(0, 3), (1, 2), (2, 1), (3, 0)]
    dist = crowding_distances(pts, pareto_ranks(pts))
    assert math.isinf(dist[0]) and math.isinf(dist[3])
    assert dist[1] == dist[2] == 2 / 3 + 2 / 3


def test_order_keys_methods():
    pts, scores = [(1.0, 0.0), (0.0, 5.0)], [1.0, 5.0]
    assert order_keys("weighted", pts, scores) == [(-1.0,), (-5.0,)]
    assert order_keys("lexicographic", pts, scores)[0] < order_keys("lexicographic", pts, scores)[1]
    assert [k[0] for k in order_keys("pareto", pts, scores)] == [0, 0]


def test_violation_grows_with_the_miss():
    cons = [Condition(name="b", min=0.9), Condition(name="valid", equals=True)]
    assert violation(cons, {"b": 0.95, "valid": True}) == 0
    assert 0 < violation(cons, {"b": 0.85, "valid": True}) < violation(cons, {"b": 0.5, "valid": True})
    assert violation(cons, {"b": 0.95, "valid": False}) == 1.0
    assert violation(cons, {"valid": True}) >= 1e6
