"""Syntactic and functional hashes: what they merge and what they keep apart."""
import math

import pytest

from evolve.search import fhash

BASE = '''
def priority(now, hits, total_hits, last_gap, floor):
    """Docstring."""
    # EVOLVE-BLOCK-START
    recency = 1.0
    frequency = 2.0
    score = recency * now + frequency * total_hits
    return score
    # EVOLVE-BLOCK-END
'''


def h(code: str) -> str:
    return fhash.syntactic_hash(code)


def test_comments_docstrings_formatting_and_annotations_do_not_matter():
    other = '''
def priority(now: int, hits, total_hits: int, last_gap, floor) -> float:
    # a different comment
    recency=1.0
    frequency  =  2.0
    score = (recency * now) + (frequency * total_hits)
    return score
'''
    assert h(BASE) == h(other)


def test_local_and_argument_renames_do_not_matter():
    renamed = BASE.replace("recency", "r").replace("frequency", "f").replace("score", "s") \
        .replace("total_hits", "th").replace("now", "t")
    assert h(BASE) == h(renamed)


def test_real_changes_do():
    assert h(BASE) != h(BASE.replace("2.0", "2.5"))
    assert h(BASE) != h(BASE.replace("recency * now", "recency * hits"))
    assert h(BASE) != h(BASE.replace("def priority", "def priority2"))  # the API name is not local
    assert h(BASE) != h(BASE.replace("score = recency", "score = -recency"))


def test_unparseable_code_has_no_hash():
    assert fhash.syntactic_hash("def (:") is None


def test_global_names_are_not_renamed():
    a = "import math\ndef f(x):\n    return math.sqrt(x)\n"
    b = "import math\ndef f(y):\n    return math.sqrt(y)\n"
    c = "import math\ndef f(x):\n    return math.log(x)\n"
    assert h(a) == h(b) != h(c)


@pytest.mark.parametrize("a,b,same", [
    (1.0, 1.0 + 1e-12, True), (1.0, 1.01, False), (0.0, -0.0, True), (math.nan, float("nan"), True),
    (math.inf, -math.inf, False), (3, 3.0, False), ([1, 2], (1, 2), True), ({"a": 1}, {"a": 1}, True),
])
def test_quantize(a, b, same):
    assert (fhash.quantize(a, 20) == fhash.quantize(b, 20)) == same


def test_quantize_rounding_carry_stays_canonical():
    just_below = math.nextafter(2.0, 0.0)
    assert fhash.quantize(just_below, 10) == fhash.quantize(2.0, 10)


def test_arrays_exceptions_and_timeouts_are_tagged():
    arr = {"__ndarray__": {"dtype": "int64", "shape": [2], "data": [1, 2]}}
    assert fhash.quantize(arr, 20) != fhash.quantize([1, 2], 20)
    assert fhash.quantize({"__exception__": "ZeroDivisionError"}, 20) == ("e", "ZeroDivisionError")
    assert fhash.quantize({"__timeout__": True}, 20) == ("t",)
    with pytest.raises(fhash.Unhashable):
        fhash.quantize(object(), 20)


def test_functional_hash_needs_agreeing_runs():
    assert fhash.functional_hash("k", [[1.0, 2.0], [1.0, 2.0]], 20) == fhash.functional_hash("k", [[1.0, 2.0]], 20)
    assert fhash.functional_hash("k", [[1.0]], 20) != fhash.functional_hash("k2", [[1.0]], 20)
    with pytest.raises(fhash.Unhashable, match="not deterministic"):
        fhash.functional_hash("k", [[1.0], [2.0]], 20)


def test_cache_key_depends_on_everything_that_could_change_outputs(tmp_path):
    ev = tmp_path / "evaluate.py"
    ev.write_text("def probe(p, w): return 1\n")
    k = fhash.cache_key("p", str(ev), {"seed": 0}, 20)
    assert k != fhash.cache_key("q", str(ev), {"seed": 0}, 20)
    assert k != fhash.cache_key("p", str(ev), {"seed": 1}, 20)
    assert k != fhash.cache_key("p", str(ev), {"seed": 0}, 16)
    ev.write_text("def probe(p, w): return 2\n")
    assert k != fhash.cache_key("p", str(ev), {"seed": 0}, 20)
    assert fhash.evaluator_version("evaluators.caching") != fhash.evaluator_version("evaluators.eplb")
