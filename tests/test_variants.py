"""The rewrite corpus: behaviour-keeping edits inside EVOLVE-BLOCKs at any indentation."""
import random

from evolve.search import fhash
from evolve.search.variants import REWRITES, dead_copy, rename_locals, variants

METHOD = '''import math


# EVOLVE-BLOCK-START
class Policy:
    def step(self, state):
        left = math.floor(state.left / 2)
        need = state.need + 1
        if need >= left:
            return "A"
        return "B" if state.ok else "C"
# EVOLVE-BLOCK-END
'''

BODY = '''def f(x):
    # EVOLVE-BLOCK-START
    y = x * 2.0
    z = y + 1.0
    return z
    # EVOLVE-BLOCK-END
'''


def run(code: str, name: str, values) -> list:
    scope: dict = {}
    exec(compile(code, "<variant>", "exec"), scope)
    if name == "Policy":
        from types import SimpleNamespace
        return [scope["Policy"]().step(SimpleNamespace(left=v, need=3, ok=v > 5)) for v in values]
    return [scope[name](v) for v in values]


def test_every_rewrite_of_a_method_in_a_class_keeps_its_decisions():
    got = variants(METHOD, random.Random(0))
    assert {label for label, _ in got} >= {"rename locals", "comments", "mirrored comparison", "ternary as if",
                                            "dead copy", "commuted operands"}
    for label, code in got:
        assert "    def step(self, state):" in code, label  # still a method, at its indentation
        assert run(code, "Policy", range(12)) == run(METHOD, "Policy", range(12)), label


def test_rewrites_of_an_indented_function_body_keep_its_outputs():
    for label, code in variants(BODY, random.Random(1)):
        assert code.startswith("def f(x):\n    # a comment") or "def f(x):\n" in code, label
        assert run(code, "f", [0.5, 3.0]) == run(BODY, "f", [0.5, 3.0]), label


def test_renamed_locals_share_the_syntactic_hash_and_leave_arguments_and_outside_names():
    renamed = rename_locals(BODY, random.Random(0))
    assert "y_v = x * 2.0" in renamed and "def f(x):" in renamed
    assert fhash.syntactic_hash(renamed) == fhash.syntactic_hash(BODY)
    outside = BODY + "\n\ndef g():\n    return z\n"  # `z` is used outside the block: kept
    assert "z_v" not in rename_locals(outside, random.Random(0))


def test_a_dead_copy_adds_a_computation_nothing_reads():
    copy = dead_copy(BODY, random.Random(0))
    assert "_unused_copy = " in copy and fhash.syntactic_hash(copy) != fhash.syntactic_hash(BODY)
    assert run(copy, "f", [2.0]) == run(BODY, "f", [2.0])


def test_a_rewrite_with_nothing_to_rewrite_gives_none():
    assert all(REWRITES[name](BODY, random.Random(0)) is None for name in ("ternary as if", "x += y as x = x + y"))
