"""Model choice (weights, UCB bandit, cost-aware), cooldown of failing models, and the budget ledger."""
from __future__ import annotations

import random
from collections import Counter

from evolve.llm.ensemble import Ensemble
from evolve.llm.ledger import Ledger
from evolve.problem import ModelSpec


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def models(*weights):
    return [ModelSpec(name=f"m{i}", weight=w) for i, w in enumerate(weights)]


def test_weighted_choice_follows_the_weights():
    e = Ensemble(models(3, 1, 0))
    rng = random.Random(1)
    counts = Counter(e.pick(rng) for _ in range(4000))
    assert counts["m2"] == 0 and 2.5 < counts["m0"] / counts["m1"] < 3.5


def test_bandit_tries_each_model_then_prefers_the_rewarding_one():
    e = Ensemble(models(1, 1), selection="bandit", exploration=0.3)
    rng = random.Random(0)
    first = {e.pick(rng) for _ in range(1)}
    for _ in range(200):
        name = e.pick(rng)
        e.observe(name, 1.0 if name == "m1" else -0.5)
    assert first <= {"m0", "m1"}
    counts = Counter(e.pick(rng) for _ in range(50))
    assert counts["m1"] == 50
    assert e.arms["m1"].pulls > 3 * e.arms["m0"].pulls


def test_bandit_restored_from_history_ignores_removed_models_and_tries_new_ones():
    e = Ensemble(models(1, 1, 1), selection="bandit")
    for name, reward in [("m0", 1.0), ("m1", 0.0), ("gone", 5.0), ("m0", None)]:
        e.observe(name, reward)
    assert (e.arms["m0"].pulls, e.arms["m1"].pulls, e.arms["m2"].pulls) == (2, 1, 0)
    assert e.pick(random.Random(0)) == "m2"  # never tried: explored first


def test_cost_aware_bandit_prefers_the_cheaper_of_equal_models():
    costs = {"m0": 0.01, "m1": 0.0001}
    e = Ensemble(models(1, 1), selection="bandit", cost_aware=True, cost_of=costs.get)
    for _ in range(20):
        e.observe("m0", 1.0)
        e.observe("m1", 1.0)
    assert e.pick(random.Random(0)) == "m1"


def test_failing_model_cools_down_and_comes_back_later():
    clock = Clock()
    e = Ensemble(models(1, 1), cooldown_after=2, cooldown_s=60, clock=clock)
    e.failed("m0")
    e.answered("m0")
    e.failed("m0")
    assert {a.name for a in e.available()} == {"m0", "m1"}  # an answer in between resets the count
    e.failed("m0")
    assert {a.name for a in e.available()} == {"m1"} and e.all_down() == ""
    e.failed("m1"), e.failed("m1")
    assert e.pick(random.Random(0)) is None
    assert "every LLM (m0, m1)" in e.all_down() and "evolve resume" in e.all_down()
    clock.t += 61
    assert {a.name for a in e.available()} == {"m0", "m1"}
    e.failed("m0"), e.failed("m0")  # a second cooldown is twice as long
    clock.t += 100
    assert {a.name for a in e.available()} == {"m1"}


def test_ledger_counts_calls_in_flight_against_the_call_budget():
    ledger = Ledger(max_calls=3)
    ledger.begin(), ledger.begin()
    assert ledger.reason() == ""
    ledger.begin()
    assert "LLM call budget of 3 reached (0 made, 3 in flight)" in ledger.reason()
    ledger.end("m", 0.0)
    assert ledger.reason() != ""


def test_ledger_usd_budget_projects_calls_in_flight():
    ledger = Ledger(max_usd=1.0)
    for _ in range(3):
        ledger.begin(), ledger.end("m", 0.2)  # 0.6 spent, 0.2 per call
    assert ledger.reason() == ""  # 0.6 + 0.2 <= 1
    ledger.begin()
    assert ledger.reason() == ""  # 0.6 + 2 * 0.2 <= 1
    ledger.begin()
    assert "LLM budget of $1 reached" in ledger.reason()  # 0.6 + 3 * 0.2 > 1
    assert abs(ledger.model_cost("m") - 0.2) < 1e-12 and ledger.model_cost("other") is None
    ledger.restore(2.0, 10)
    assert ledger.reason() != "" and ledger.calls == 10
