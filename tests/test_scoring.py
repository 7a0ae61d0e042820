from dataclasses import dataclass, field

from evolve.problem import Condition, Objective, Stage
from evolve.search.scoring import assess, first_unmet, unmet, weighted_score


def test_weighted_score_respects_direction():
    objs = [Objective(name="a", direction="max", weight=2.0), Objective(name="t", direction="min", weight=0.5)]
    assert weighted_score(objs, {"a": 3.0, "t": 4.0}) == 2 * 3 - 0.5 * 4


def test_conditions():
    assert unmet(Condition(name="valid", equals=True), {"valid": True}) is None
    assert "required True" in unmet(Condition(name="valid", equals=True), {"valid": False})
    assert "< minimum 0.5" in unmet(Condition(name="b", min=0.5), {"b": 0.4})
    assert "> maximum 1" in unmet(Condition(name="u", max=1), {"u": 2})
    assert "not reported" in unmet(Condition(name="x", max=1), {})
    assert first_unmet([Condition(name="a", min=0), Condition(name="b", min=0)], {"a": 1, "b": -1}).startswith("b")


@dataclass
class FakeOutcome:
    stage: Stage
    status: str
    passed: bool
    metrics: dict = field(default_factory=dict)
    artifacts: dict = field(default_factory=dict)
    error: str = ""


OBJ = [Objective(name="s", direction="max")]
CON = [Condition(name="valid", equals=True)]
STAGE = Stage(name="full")


def test_assess_statuses():
    ok = FakeOutcome(STAGE, "ok", True, {"s": 2.0, "valid": True})
    assert assess(OBJ, CON, [ok]) == ("evaluated", 2.0, {"s": 2.0, "valid": True}, None)
    crashed = FakeOutcome(STAGE, "timeout", False, error="wall limit")
    assert assess(OBJ, CON, [crashed])[0] == "failed"
    bad = FakeOutcome(STAGE, "ok", True, {"s": 1.0, "valid": False}, {"error": "placement invalid"})
    status, score, _, error = assess(OBJ, CON, [bad])
    assert (status, score) == ("infeasible", None) and "placement invalid" in error
    missing = FakeOutcome(STAGE, "ok", True, {"valid": True})
    assert assess(OBJ, CON, [missing])[0] == "failed"
