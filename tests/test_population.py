"""Islands, archives, MAP-Elites cells, migration and reseeding."""
import random
from collections import Counter

import pytest

from evolve.search.population import Member, Population, cell_key, neighbours
from evolve.problem import Evolution, Feature


def evo(**kw) -> Evolution:
    return Evolution.model_validate(kw)


def m(i: int, score: float, island: int = 0, **metrics) -> Member:
    return Member(i, score, code="x" * (10 * i), island=island, vector=(score,), metrics=metrics)


def test_best_and_top_across_islands():
    pop = Population(evo(islands=2))
    pop.add(m(1, 1.0, 0))
    pop.add(m(2, 5.0, 1))
    pop.add(m(3, 3.0, 0))
    assert pop.best().id == 2
    assert [x.id for x in pop.top(3)] == [2, 3, 1]
    assert len(pop) == 3


def test_archive_is_bounded_and_keeps_the_best():
    pop = Population(evo(population_size=3))
    ops = []
    for i, s in enumerate([5, 1, 4, 3, 0.5], start=1):
        ops += pop.add(m(i, s))
    assert sorted(pop.islands[0].members) == [1, 3, 4]  # 1.0 and 0.5 were pushed out
    removed = [op.program_id for op in ops if op.kind == "remove"]
    assert removed == [2, 5]


def test_seed_opens_every_island():
    pop = Population(evo(islands=3))
    ops = pop.seed(m(1, 1.0))
    assert all(1 in isl.members for isl in pop.islands)
    assert [(op.kind, op.island, op.via) for op in ops] == [("add", 0, "seed"), ("add", 1, "seed"), ("add", 2, "seed")]


def test_next_island_takes_turns_and_skips_empty():
    pop = Population(evo(islands=3))
    pop.add(m(1, 1.0, 0))
    pop.add(m(2, 1.0, 2))
    assert [pop.next_island() for _ in range(4)] == [0, 2, 0, 2]


def test_migration_on_a_ring_moves_each_islands_best():
    pop = Population(evo(islands=3, migration={"interval": 6, "count": 1}))
    for i in range(6):
        pop.add(m(i + 1, float(i), island=i % 3))  # island0: 1,4  island1: 2,5  island2: 3,6
    ops = pop.maybe_migrate()
    moved = {(op.program_id, op.island) for op in ops if op.kind == "add"}
    assert moved == {(4, 1), (5, 2), (6, 0)}
    assert all(op.via == "migration" for op in ops if op.kind == "add")
    assert pop.maybe_migrate() == []  # not due again until 6 more are recorded
    assert 6 in pop.islands[0].members


def test_migration_all_topology_and_interval():
    assert neighbours(0, 4, "all") == [1, 2, 3] and neighbours(3, 4, "ring") == [0]
    pop = Population(evo(islands=2, migration={"interval": 0}))
    pop.add(m(1, 1.0, 0))
    assert pop.maybe_migrate() == []


def test_stagnant_island_is_reseeded_from_the_others():
    pop = Population(evo(islands=2, reseed_after=3, migration={"interval": 0}))
    pop.add(m(1, 10.0, 0))
    pop.add(m(2, 1.0, 1))
    for i in range(3, 6):
        pop.add(m(i, 0.5, 1))  # island 1 does not improve on 1.0
    ops = pop.maybe_reseed()
    assert sorted(pop.islands[1].members) == [1]
    assert {op.kind for op in ops} == {"remove", "add"}
    assert pop.maybe_reseed() == []


def test_map_elites_cell_keeps_best_occupant():
    features = [Feature(name="code_length", bins=2, min=0, max=100), Feature(name="speed", bins=2, min=0, max=1)]
    pop = Population(evo(features=[f.model_dump() for f in features]))
    a, b, c = m(1, 1.0, speed=0.2), m(2, 2.0, speed=0.3), m(3, 0.5, speed=0.9)
    assert cell_key(features, a) == "0,0" and cell_key(features, c) == "0,1"
    pop.add(a)
    pop.add(b)
    pop.add(c)
    assert {k: v.id for k, v in pop.cells.items()} == {"0,0": 2, "0,1": 3}
    assert cell_key(features, m(4, 1.0)) is None  # metric missing: no cell


def test_inspirations_are_top_and_diverse():
    pop = Population(evo(islands=2, inspirations_top=1, inspirations_diverse=1))
    for i, (s, isl) in enumerate([(5, 0), (4, 0), (3, 0), (9, 1)], start=1):
        pop.add(m(i, float(s), isl))
    parent = pop.islands[0].members[1]
    chosen = pop.inspirations(random.Random(0), parent)
    assert chosen[0].id == 2 and chosen[1].id == 4 and parent not in chosen


@pytest.mark.parametrize("strategy", ["power_law", "weighted", "tournament", "uniform", "best"])
def test_selection_strategies_hit_expected_distributions(strategy):
    pop = Population(evo(selection=strategy, power_law_alpha=1.0, tournament_size=2))
    for i in range(4):
        pop.add(m(i, float(i)))
    rng = random.Random(0)
    counts = Counter(pop.select(rng, 0).id for _ in range(20000))
    freq = [counts[i] / 20000 for i in (3, 2, 1, 0)]  # best first
    expected = {
        "power_law": [w / sum([1, 1 / 2, 1 / 3, 1 / 4]) for w in [1, 1 / 2, 1 / 3, 1 / 4]],
        "tournament": [1 - 3 / 6, 2 / 6, 1 / 6, 0.0],  # best of 2 drawn without replacement from 4
        "uniform": [0.25] * 4,
        "best": [1.0, 0, 0, 0],
    }
    if strategy == "weighted":
        assert freq[0] > freq[1] > freq[2] > freq[3]
    else:
        assert freq == pytest.approx(expected[strategy], abs=0.015)


def test_weighted_selection_favours_programs_with_few_children():
    pop = Population(evo(selection="weighted"))
    a, b = m(1, 1.0), m(2, 1.0)
    a.children = 9
    pop.add(a)
    pop.add(b)
    counts = Counter(pop.select(random.Random(1), 0).id for _ in range(5000))
    assert counts[2] > 5 * counts[1]


def test_pareto_ranking_orders_the_island():
    pop = Population(evo(), ranking="pareto")
    for i, vec in enumerate([(1.0, 1.0), (2.0, 0.0), (0.5, 0.5), (0.0, 2.0)], start=1):
        pop.add(Member(i, sum(vec), "c", vector=vec))
    ranked = [x.id for x in pop.islands[0].ranked()]
    assert set(ranked[:3]) == {1, 2, 4} and ranked[3] == 3


def test_empty_population_says_why():
    with pytest.raises(LookupError, match="no program has been scored"):
        Population(evo()).select(random.Random(0))
