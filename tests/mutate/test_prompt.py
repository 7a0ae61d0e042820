"""Prompts: what the model is shown, template overrides from the problem directory, trimming."""
from __future__ import annotations

import pytest

from evolve.mutate.llm import ProgramView
from evolve.mutate.prompt import PromptBuilder, TemplateError, load_templates, trim
from evolve.problem import Objective

OBJECTIVES = [Objective(name="hit_rate", direction="max"), Objective(name="runtime_s", direction="min", weight=0.5)]
PARENT = ProgramView(id=7, code="def f():\n    # EVOLVE-BLOCK-START\n    return 1\n    # EVOLVE-BLOCK-END\n",
                     score=0.25, metrics={"hit_rate": 0.25, "valid": True}, feedback="trace zipf: ok", generation=3)


def builder(root=None, feedback_chars=3000) -> PromptBuilder:
    return PromptBuilder("Evict well.", OBJECTIVES, load_templates(root), feedback_chars)


def test_diff_prompt_holds_problem_parent_feedback_inspirations_failures_and_format():
    insp = [ProgramView(id=2, code="def f():\n    return 2\n", score=0.5, metrics={"hit_rate": 0.5})]
    system, user = builder().build("diff", PARENT, insp, ["#9: SEARCH block 1 not found"], None)
    assert system["role"] == "system" and "Evict well." in system["content"]
    assert "hit_rate (max), runtime_s (min, weight 0.5)" in system["content"]
    text = user["content"]
    for piece in ("score 0.25", "    return 1", "hit_rate=0.25", "valid=True", "trace zipf: ok",
                  "Program 2 (score 0.5", "#9: SEARCH block 1 not found", "<<<<<<< SEARCH", ">>>>>>> REPLACE"):
        assert piece in text, piece


def test_rewrite_and_crossover_ask_for_the_whole_program():
    partner = ProgramView(id=4, code="def f():\n    return 4\n", score=None)
    _, user = builder().build("crossover", PARENT, [], [], partner)
    assert "Second parent (score not scored)" in user["content"] and "return 4" in user["content"]
    assert "```python fence" in user["content"]
    _, user = builder().build("rewrite", PARENT, [], [], None)
    assert "Rewrite the code inside the EVOLVE-BLOCK" in user["content"] and "SEARCH" not in user["content"]


def test_long_feedback_is_trimmed_head_and_tail():
    long = "HEAD" + "x" * 10_000 + "TAIL"
    p = ProgramView(**{**PARENT.__dict__, "feedback": long})
    _, user = builder(feedback_chars=500).build("diff", p, [], [], None)
    assert "HEAD" in user["content"] and "TAIL" in user["content"] and "characters cut" in user["content"]
    assert len(user["content"]) < 3000
    assert trim("short", 100) == "short"


def test_problem_directory_overrides_a_template(tmp_path):
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "diff.txt").write_text("CUSTOM TASK for program $id costing $$1")
    _, user = builder(tmp_path).build("diff", PARENT, [], [], None)
    assert "CUSTOM TASK for program 7 costing $1" in user["content"]
    assert "<<<<<<< SEARCH" not in user["content"]


def test_bad_placeholder_in_an_override_names_the_file(tmp_path):
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "system.txt").write_text("About $problem_name")
    with pytest.raises(TemplateError, match=r"system.txt: unknown or malformed placeholder 'problem_name'"):
        load_templates(tmp_path)


def test_retry_continues_the_conversation_with_the_error():
    messages = builder().build("diff", PARENT, [], [], None)
    more = builder().retry(messages, "my answer", "SEARCH block 1: not found")
    assert [m["role"] for m in more] == ["system", "user", "assistant", "user"]
    assert more[2]["content"] == "my answer" and "SEARCH block 1: not found" in more[3]["content"]
