"""SEARCH/REPLACE edits and rewrites inside EVOLVE-BLOCKs: what applies and what is rejected, and why."""
from __future__ import annotations

import pytest

from evolve.mutate.patch import PatchError, apply_answer, parse_edits

PARENT = """\
import math

HELPER = 3


def value():
    # EVOLVE-BLOCK-START
    a = 1.0
    b = 2.0
    return a + b
    # EVOLVE-BLOCK-END


def other():
    a = 1.0
    return a
"""

TWO_BLOCKS = """\
def f(x):
    # EVOLVE-BLOCK-START
    y = x * 2
    return y
    # EVOLVE-BLOCK-END


def g(x):
    # EVOLVE-BLOCK-START
    y = x * 2
    return y + 1
    # EVOLVE-BLOCK-END
"""


def edit(search: str, replace: str) -> str:
    return f"<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


def test_exact_edit_applies_inside_the_block():
    child = apply_answer(PARENT, "Make b larger.\n" + edit("    b = 2.0", "    b = 9.0"), "diff")
    assert "    b = 9.0\n" in child and "b = 2.0" not in child
    assert child.replace("b = 9.0", "b = 2.0") == PARENT


def test_several_blocks_in_one_answer_apply_in_order():
    answer = edit("    a = 1.0\n    b = 2.0", "    a = 4.0\n    b = 2.0") + "and\n" + edit("    return a + b", "    return a * b")
    child = apply_answer(PARENT, answer, "diff")
    assert "a = 4.0" in child and "return a * b" in child
    assert child.count("a = 1.0") == 1  # other() is untouched


def test_answer_in_a_fence_with_prose_is_parsed():
    answer = "Idea: scale.\n```python\n" + edit("    b = 2.0", "    b = 3.0") + "```\n"
    assert "b = 3.0" in apply_answer(PARENT, answer, "diff")


def test_a_match_outside_the_blocks_is_rejected_even_when_unique_there():
    with pytest.raises(PatchError, match="outside the EVOLVE-BLOCKs"):
        apply_answer(PARENT, edit("HELPER = 3", "HELPER = 4"), "diff")


def test_a_match_only_inside_counts_when_the_text_also_appears_outside():
    # `a = 1.0` is in the block and in other(): only the block's occurrence is eligible
    child = apply_answer(PARENT, edit("    a = 1.0", "    a = 5.0"), "diff")
    assert "    a = 5.0\n    b = 2.0" in child and child.endswith("    a = 1.0\n    return a\n")


def test_ambiguous_match_inside_blocks_is_rejected_with_lines():
    with pytest.raises(PatchError, match=r"block 1: .*matches 2 times.*lines 3, 10"):
        apply_answer(TWO_BLOCKS, edit("    y = x * 2", "    y = x * 3"), "diff")


def test_not_found_names_the_block_number():
    answer = edit("    b = 2.0", "    b = 3.0") + edit("    c = 7", "    c = 8")
    with pytest.raises(PatchError, match=r"block 2: the SEARCH text was not found"):
        apply_answer(PARENT, answer, "diff")


def test_whitespace_insensitive_match_reindents_the_replacement():
    answer = edit("a = 1.0\nb=2.0", "a = 1.5\nif a > 1:\n    b = 2.5")
    child = apply_answer(PARENT, answer, "diff")
    assert "    a = 1.5\n    if a > 1:\n        b = 2.5\n    return a + b" in child


def test_deletion_with_an_empty_replace():
    parent = PARENT.replace("    return a + b", "    b = b * 1\n    return a + b")
    child = apply_answer(parent, edit("    b = b * 1", ""), "diff")
    assert "b * 1" not in child and "    b = 2.0\n    return a + b" in child


def test_insertion_at_the_start_marker():
    answer = edit("    # EVOLVE-BLOCK-START", "    # EVOLVE-BLOCK-START\n    scale = 3.0")
    child = apply_answer(PARENT, answer, "diff")
    assert "    # EVOLVE-BLOCK-START\n    scale = 3.0\n    a = 1.0" in child


def test_insertion_before_the_end_marker():
    answer = edit("    return a + b\n    # EVOLVE-BLOCK-END", "    return a + b + 1\n    # EVOLVE-BLOCK-END")
    assert "return a + b + 1\n    # EVOLVE-BLOCK-END" in apply_answer(PARENT, answer, "diff")


def test_changing_a_marker_is_rejected():
    answer = edit("    # EVOLVE-BLOCK-START\n    a = 1.0", "    a = 1.0")
    with pytest.raises(PatchError, match="markers"):
        apply_answer(PARENT, answer, "diff")


def test_an_edit_spanning_past_the_end_marker_is_rejected():
    answer = edit("    # EVOLVE-BLOCK-END\n\n\ndef other():", "    # EVOLVE-BLOCK-END\n\n\ndef other2():")
    with pytest.raises(PatchError, match="outside the EVOLVE-BLOCKs"):
        apply_answer(PARENT, answer, "diff")


def test_no_op_patch_is_rejected():
    with pytest.raises(PatchError, match="no-op"):
        apply_answer(PARENT, edit("    b = 2.0", "    b = 2.0"), "diff")


def test_comment_only_change_is_a_no_op():
    with pytest.raises(PatchError, match="only comments or whitespace"):
        apply_answer(PARENT, edit("    b = 2.0", "    b = 2.0  # two"), "diff")


def test_child_that_does_not_parse_is_rejected_with_its_line():
    with pytest.raises(PatchError, match=r"does not parse: line 9"):
        apply_answer(PARENT, edit("    b = 2.0", "    b = (2.0"), "diff")


def test_empty_answer_and_answer_without_blocks():
    with pytest.raises(PatchError, match="empty"):
        apply_answer(PARENT, "  \n", "diff")
    with pytest.raises(PatchError, match="no SEARCH/REPLACE block"):
        apply_answer(PARENT, "I would make b bigger.", "diff")


def test_unclosed_block_is_rejected():
    with pytest.raises(PatchError, match="not closed"):
        parse_edits("<<<<<<< SEARCH\n    b = 2.0\n=======\n    b = 3.0\n")


def test_crlf_program_and_answer_keep_crlf():
    parent = PARENT.replace("\n", "\r\n")
    answer = edit("    b = 2.0", "    b = 5.0").replace("\n", "\r\n")
    child = apply_answer(parent, answer, "diff")
    assert "    b = 5.0\r\n" in child and "\n" not in child.replace("\r\n", "")


def test_crlf_program_with_lf_answer():
    child = apply_answer(PARENT.replace("\n", "\r\n"), edit("    b = 2.0", "    b = 5.0"), "diff")
    assert "    b = 5.0\r\n" in child


def test_tabs_in_the_program_match_a_space_indented_search():
    parent = PARENT.replace("    ", "\t")
    child = apply_answer(parent, edit("    b = 2.0\n    return a + b", "    b = 6.0\n    return a - b"), "diff")
    assert "\tb = 6.0\n\treturn a - b\n" in child


def test_rewrite_of_the_whole_program_keeps_the_outside():
    new = PARENT.replace("    a = 1.0\n    b = 2.0\n    return a + b", "    return 10.0")
    child = apply_answer(PARENT, f"A constant.\n```python\n{new}```\n", "rewrite")
    assert child == new


def test_rewrite_that_changes_outside_is_rejected():
    new = PARENT.replace("HELPER = 3", "HELPER = 4").replace("b = 2.0", "b = 3.0")
    with pytest.raises(PatchError, match="outside the EVOLVE-BLOCKs.*HELPER = 4"):
        apply_answer(PARENT, f"```python\n{new}```", "rewrite")


def test_rewrite_that_drops_a_marker_is_rejected():
    new = PARENT.replace("    # EVOLVE-BLOCK-END\n", "")
    with pytest.raises(PatchError, match="markers"):
        apply_answer(PARENT, f"```python\n{new}```", "rewrite")


def test_rewrite_with_one_fence_per_block_body():
    child = apply_answer(TWO_BLOCKS, "```python\nreturn x\n```\nand\n```python\nreturn -x\n```", "rewrite")
    assert "    return x\n    # EVOLVE-BLOCK-END" in child and "    return -x\n" in child


def test_rewrite_without_a_program_is_rejected():
    with pytest.raises(PatchError, match="whole program"):
        apply_answer(PARENT, "Just use a constant.", "rewrite")


def test_diff_answer_holding_a_whole_program_is_taken_as_rewrite():
    new = PARENT.replace("b = 2.0", "b = 8.0")
    assert apply_answer(PARENT, f"```python\n{new}```", "diff") == new


def test_rewrite_answered_with_edits_takes_the_edits():
    assert "b = 4.0" in apply_answer(PARENT, edit("    b = 2.0", "    b = 4.0"), "rewrite")
