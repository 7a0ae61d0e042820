import ast
import random

import pytest

from evolve.mutate import offline
from evolve.mutate.blocks import find_blocks
from evolve.mutate.offline import OfflineMutator, crossover

PARENT = '''"""A docstring outside the block stays as written."""
import math

# a comment outside the block
def priority(now, hits, total_hits, last_gap, floor):
    # EVOLVE-BLOCK-START
    recency = 1.0
    frequency = 0.0
    if hits > 3:
        frequency = max(frequency, 2.0)
    score = recency * now + frequency * total_hits
    return score
    # EVOLVE-BLOCK-END


def helper():
    return 42
'''


def _outside(code: str) -> list[str]:
    lines = code.splitlines()
    inside = set()
    for b in find_blocks(code):
        inside.update(range(b.start, b.end))
    return [line for i, line in enumerate(lines) if i not in inside]


def test_children_parse_differ_and_only_touch_the_block():
    mutator = OfflineMutator(random.Random(0))
    seen: set[str] = set()
    for _ in range(200):
        child = mutator.propose(PARENT, seen.__contains__)
        assert child is not None
        ast.parse(child.code)
        assert child.code not in seen
        assert ast.dump(ast.parse(child.code)) != ast.dump(ast.parse(PARENT))
        assert _outside(child.code) == _outside(PARENT)
        assert child.mutation.startswith("offline:")
        seen.add(child.code)


def test_every_operator_changes_the_program():
    for name, op in offline.OPERATORS:
        changed = 0
        for seed in range(20):
            tree = ast.parse("recency = 1.0\nfrequency = 0.0\nif hits > 3:\n    frequency = max(frequency, 2.0)\n"
                             "score = recency * now + frequency * hits\nreturn score\n")
            before = ast.dump(tree)
            if op(tree, random.Random(seed)):
                ast.fix_missing_locations(tree)
                after = ast.unparse(tree)
                ast.parse(after)
                changed += ast.dump(tree) != before
        assert changed >= 15, name


def test_seen_programs_are_retried_not_returned():
    mutator = OfflineMutator(random.Random(1))
    # everything counts as seen: the mutator gives up rather than return a duplicate
    assert mutator.propose(PARENT, lambda code: True) is None


def test_crossover_mixes_two_parents():
    other = PARENT.replace("recency = 1.0", "recency = 5.0").replace("return score", "return score + 1")
    kids = {crossover(PARENT, other, random.Random(s)) for s in range(20)} - {None}
    assert kids
    for kid in kids:
        ast.parse(kid)
        assert _outside(kid) == _outside(PARENT)
    assert any("recency = 1.0" in k and "return score + 1" in k for k in kids)


def test_constants_move_off_zero_and_keep_type():
    rng = random.Random(3)
    assert all(offline.new_constant(0.0, rng) != 0.0 for _ in range(50))
    assert all(isinstance(offline.new_constant(3, rng), int) for _ in range(50))


@pytest.mark.parametrize("seed", range(3))
def test_same_seed_same_children(seed):
    a = OfflineMutator(random.Random(seed)).propose(PARENT, lambda c: False)
    b = OfflineMutator(random.Random(seed)).propose(PARENT, lambda c: False)
    assert a == b


def test_many_proposals_from_evolving_parents_never_crash():
    """Chains of edits (children of children) with several operators per child."""
    for seed in range(3):
        rng = random.Random(seed)
        mutator = OfflineMutator(rng, crossover_rate=0.3)
        pool = [PARENT]
        for _ in range(300):
            child = mutator.propose(rng.choice(pool), lambda c: False, other=rng.choice(pool))
            if child is not None:
                ast.parse(child.code)
                pool.append(child.code)
