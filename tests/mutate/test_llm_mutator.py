"""The LLM mutator end to end through litellm against the fake server: proposals, rejections, budgets (replay: tests/e2e/test_llm_run.py)."""
from __future__ import annotations

import asyncio
import random

import pytest

from evolve.llm.client import LLMConfigError, prompt_hash
from evolve.llm.fake_server import Step
from evolve.mutate.llm import LLMMutator, ProgramView
from tests.llm.fakes import fake_llm, llm_problem  # noqa: F401

CODE = "\ndef value():\n    # EVOLVE-BLOCK-START\n    a = 1.0\n    b = 2.0\n    return a + b\n    # EVOLVE-BLOCK-END\n"
PARENT = ProgramView(id=1, code=CODE.lstrip("\n"), score=-7.0, metrics={"x": 3.0}, feedback="", generation=0)


def edit(search: str, replace: str) -> str:
    return f"Try this.\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


GOOD = edit("    b = 2.0", "    b = 9.0")


def propose(mutator, partner=None, failures=()):
    return asyncio.run(mutator.propose(PARENT, [], list(failures), partner))


def make(tmp_path, url, **llm):
    return LLMMutator(llm_problem(tmp_path / "p", url, **llm), random.Random(0))


def test_good_patch_gives_a_child_and_one_ledger_row(fake_llm, tmp_path):
    server = fake_llm([Step(content=GOOD, usage={"prompt_tokens": 1000, "completion_tokens": 50})])
    m = make(tmp_path, server.url, models=[{"name": "openai/fake", "api_base": server.url,
                                            "input_cost_per_token": 1e-6, "output_cost_per_token": 4e-6}])
    p = propose(m, failures=["#3: SEARCH block 1 not found"])
    assert p.code is not None and "b = 9.0" in p.code and p.rejection is None
    assert (p.mutation, p.model) == ("llm:diff", "openai/fake")
    [c] = p.calls
    assert (c.outcome, c.prompt_tokens, c.completion_tokens, c.response) == ("ok", 1000, 50, GOOD)
    assert abs(c.cost_usd - 0.0012) < 1e-12 and c.kind == "diff" and c.attempt == 1
    assert c.prompt_hash == prompt_hash(server.chat_requests[0]["body"]["messages"])
    assert "#3: SEARCH block 1 not found" in c.prompt and "make value() return 10" in c.prompt
    assert abs(m.ledger.spent_usd - 0.0012) < 1e-12


def test_patch_error_goes_back_to_the_model_once_more(fake_llm, tmp_path):
    server = fake_llm([edit("    c = 5.0", "    c = 6.0"), GOOD])
    m = make(tmp_path, server.url, max_patch_attempts=2)
    p = propose(m)
    assert p.code is not None and [c.attempt for c in p.calls] == [1, 2]
    second = server.chat_requests[1]["body"]["messages"]
    assert [x["role"] for x in second] == ["system", "user", "assistant", "user"]
    assert "SEARCH/REPLACE block 1: the SEARCH text was not found" in second[3]["content"]


@pytest.mark.parametrize("answer, reason", [
    (edit("    c = 5.0", "    c = 6.0"), "patch rejected: SEARCH/REPLACE block 1: the SEARCH text was not found"),
    (edit("def value():", "def value2():"), "outside the EVOLVE-BLOCKs"),
    (edit("    b = 2.0", "    b = 2.0"), "no-op"),
    ("I have no idea.", "no SEARCH/REPLACE block"),
    (Step(content=""), "empty answer from openai/fake"),
])
def test_rejections_say_why_and_are_not_retried_by_default(fake_llm, tmp_path, answer, reason):
    server = fake_llm([answer, GOOD])
    p = propose(make(tmp_path, server.url))
    assert p.code is None and reason in p.rejection and not p.skipped
    assert len(server.chat_requests) == 1 and len(p.calls) == 1


def test_429_then_500_then_ok_are_three_calls_in_one_proposal(fake_llm, tmp_path):
    server = fake_llm([Step(status=429, retry_after=0), Step(status=500), GOOD])
    p = propose(make(tmp_path, server.url))
    assert p.code is not None and [c.outcome for c in p.calls] == ["rate_limited", "server_error", "ok"]


def test_a_model_that_keeps_failing_cools_down_and_the_other_carries_on(fake_llm, tmp_path):
    bad = fake_llm([Step(status=500)] * 50)
    good = fake_llm([GOOD] * 50)
    m = make(tmp_path, bad.url, retries=1, cooldown_after=2, models=[
        {"name": "openai/bad", "api_base": bad.url, "weight": 10}, {"name": "openai/good", "api_base": good.url}])
    results = [propose(m) for _ in range(12)]
    failed = [p for p in results if p.model == "openai/bad"]
    assert len(failed) == 2 and all("model openai/bad failed after 2 tries: server_error" in p.rejection for p in failed)
    assert all(p.code is not None for p in results if p.model == "openai/good")
    assert len(bad.chat_requests) == 4 and m.all_models_down() == ""


def test_all_models_down_stops_with_a_message(fake_llm, tmp_path):
    server = fake_llm([Step(status=500)] * 20)
    m = make(tmp_path, server.url, retries=0, cooldown_after=2)
    propose(m), propose(m)
    assert "every LLM (openai/fake) failed 2 proposals in a row" in m.all_models_down()
    p = propose(m)
    assert p.skipped and p.calls == [] and p.code is None and len(server.chat_requests) == 2


def test_each_rejection_names_its_kind(fake_llm, tmp_path):
    """patch_failed (an answer without a usable program), llm_failed (no answer after the retries), budget_cut
    (a budget stopped the conversation: here between two retries, and before a patch error was sent back)."""
    server = fake_llm(["I have no idea.", Step(status=500), Step(status=500), Step(status=500),
                       Step(status=500), "no patch again"])
    m = make(tmp_path, server.url, retries=2, budget={"max_llm_calls": 6}, max_patch_attempts=2)
    patch = propose(make(tmp_path, fake_llm(["I have no idea."]).url))
    assert patch.rejection.startswith("patch_failed: patch rejected: ")
    failed = propose(m)  # turn 1: no patch; turn 2: three 500s
    assert failed.rejection.startswith("llm_failed: model openai/fake failed after 3 tries: server_error")
    cut = propose(m)  # one 500, then the sixth call would be the last allowed: no retry of the patch error
    assert cut.rejection.startswith("budget_cut: ") and "LLM call budget of 6" in cut.rejection, cut.rejection


def test_call_budget_stops_new_proposals(fake_llm, tmp_path):
    server = fake_llm([GOOD] * 10)
    m = make(tmp_path, server.url, budget={"max_llm_calls": 2})
    assert propose(m).code and propose(m).code
    assert "LLM call budget of 2 reached" in m.budget_reason()
    p = propose(m)
    assert p.skipped and "budget" in p.rejection and len(server.chat_requests) == 2


def test_usd_budget_is_never_passed_by_more_than_calls_in_flight(fake_llm, tmp_path):
    server = fake_llm(lambda req: Step(content=GOOD, usage={"prompt_tokens": 1000, "completion_tokens": 0}, delay=0.05))
    m = make(tmp_path, server.url, budget={"max_usd": 0.0105}, models=[
        {"name": "openai/fake", "api_base": server.url, "input_cost_per_token": 1e-6}])

    async def many():
        slots = asyncio.Semaphore(4)  # the controller's llm.concurrency

        async def one():
            async with slots:
                return await m.propose(PARENT, [], [], None)
        return await asyncio.gather(*(one() for _ in range(30)))

    results = asyncio.run(many())
    spent = sum(c.cost_usd for p in results for c in p.calls)
    assert spent == pytest.approx(m.ledger.spent_usd)
    assert 0.0105 - 0.001 < spent <= 0.0105 + 4 * 0.001  # past the budget by at most the calls in flight
    assert m.budget_reason() and sum(p.skipped for p in results) >= 30 - 15


def test_crossover_and_rewrite_use_the_whole_program(fake_llm, tmp_path):
    new = PARENT.code.replace("    a = 1.0\n    b = 2.0\n    return a + b", "    return 10.0")
    server = fake_llm([f"```python\n{new}```"])
    m = make(tmp_path, server.url, mutation={"diff": 0, "rewrite": 0.0001, "crossover": 1000})
    partner = ProgramView(id=2, code=new, score=0.0)
    p = propose(m, partner=partner)
    assert p.mutation == "llm:crossover" and p.code == new
    assert "Second parent" in server.chat_requests[0]["body"]["messages"][1]["content"]


def test_preflight_probe_is_recorded(fake_llm, tmp_path):
    server = fake_llm(["ok"])
    m = make(tmp_path, server.url)
    asyncio.run(m.preflight())
    assert [c.kind for c in m.preflight_calls] == ["probe"] and m.ledger.calls == 1


def test_preflight_refuses_a_server_that_is_not_there(tmp_path):
    m = make(tmp_path, "http://127.0.0.1:9/v1")
    with pytest.raises(LLMConfigError, match="openai/fake: cannot connect"):
        asyncio.run(m.preflight())


def test_restore_and_observe_feed_the_bandit(fake_llm, tmp_path):
    server = fake_llm([GOOD] * 3)
    m = make(tmp_path, server.url, selection="bandit", models=[
        {"name": "openai/a", "api_base": server.url}, {"name": "openai/b", "api_base": server.url}])
    m.restore([("openai/a", 0.0)] * 5 + [("openai/b", 2.0)] * 5 + [("openai/removed", 9.0)], 1.5, 42)
    assert m.ledger.spent_usd == 1.5 and m.ledger.calls == 42
    assert propose(m).model == "openai/b"
    m.observe("openai/b", -1.0)
    assert m.ensemble.arms["openai/b"].pulls == 6


def test_no_models_is_a_config_error(tmp_path):
    from tests.conftest import write_problem
    from evolve.problem import load_problem
    problem = load_problem(write_problem(tmp_path / "q"))
    with pytest.raises(LLMConfigError, match="llm.models is empty"):
        LLMMutator(problem, random.Random(0))
