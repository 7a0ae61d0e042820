"""gpu_model_placement: pressure worked by hand, invalid answers and their reasons, baselines vs bounds."""
from __future__ import annotations

import pytest

from evaluators.placement import prism
from evaluators.placement.prism_sim import Case, Model, check, lower_bound, make_cases, max_pressure

ROOT_INITIAL = "problems/gpu_model_placement/initial.py"
A, B, C = Model("A", 20, 8, 4), Model("B", 30, 6, 6), Model("C", 40, 9, 3)  # loads rate/slo: 2, 1, 3
HAND = Case(2, (A, B, C))


def test_two_gpu_pressure_by_hand():
    # GPU0 {A, B}: (2 + 1) / (80 - 50) = 0.1;  GPU1 {C}: 3 / (80 - 40) = 0.075;  max = 0.1
    placement, reason = check(HAND, {0: ["A", "B"], 1: ["C"]})
    assert reason == "" and max_pressure(placement) == pytest.approx(0.1)
    # {A, C} | {B}: (2 + 3) / (80 - 60) = 0.25 beats 1 / 50 = 0.02, so max = 0.25
    assert max_pressure(check(HAND, {0: ["A", "C"], 1: ["B"]})[0]) == pytest.approx(0.25)


def test_lower_bound_by_hand():
    # balance: 6 / (160 - 90) = 0.0857; alone: max(2/60, 1/50, 3/40) = 0.075; the bound is the larger
    assert lower_bound(HAND) == pytest.approx(6 / 70)


@pytest.mark.parametrize("answer, reason", [
    ({0: ["A", "B", "C"]}, "GPU 0 overflows: 90 GB > 80 GB"),
    ({0: ["A"], 1: ["C"]}, "1 model(s) not placed, e.g. B"),
    ({0: ["A", "B"], 1: ["C", "A"]}, "model A placed twice (GPUs 0 and 1)"),
    ({0: ["A", "B"], 2: ["C"]}, "unknown GPU 2: ids are 0..1"),
    ({0: ["A", "B"], 1: ["Z"]}, "GPU 1: unknown model 'Z'"),
    ([["A"]], "expected a dict gpu id -> list of model names, got list"),
])
def test_invalid_answers_name_the_reason(answer, reason):
    assert check(HAND, answer) == (None, reason)


def write(tmp_path, body: str) -> str:
    path = tmp_path / "cand.py"
    path.write_text(body)
    return str(path)


def test_evaluate_reports_overflow_and_crash(tmp_path):
    all_on_zero = write(tmp_path, "def place(n, models):\n    return {0: [m.model_name for m in models]}\n")
    out = prism.evaluate(all_on_zero, {"seed": 1, "cases": 3})
    assert out["metrics"]["valid"] is False and "overflows" in out["artifacts"]["error"]
    crash = write(tmp_path, "def place(n, models):\n    return 1 / 0\n")
    out = prism.evaluate(crash, {"seed": 1, "cases": 3})
    assert "ZeroDivisionError" in out["artifacts"]["error"]
    missing = write(tmp_path, "x = 1\n")
    assert "`place`" in prism.evaluate(missing, {})["artifacts"]["error"]


def test_deterministic_and_published_shape():
    cases = make_cases(42, 50)
    assert len(cases) == 50 and all(5 <= c.gpu_num <= 9 and len(c.models) == 2 * c.gpu_num for c in cases)
    assert all(10 <= m.model_size <= 29 and 1 <= m.req_rate <= 9 and 5 <= m.slo <= 9
               for c in cases for m in c.models)
    first = prism.evaluate(ROOT_INITIAL, {"seed": 42, "cases": 50})
    assert first["metrics"] == prism.evaluate(ROOT_INITIAL, {"seed": 42, "cases": 50})["metrics"]
    assert prism.probe(ROOT_INITIAL, {"seed": 7, "cases": 6}) == prism.probe(ROOT_INITIAL, {"seed": 7, "cases": 6})


def test_baselines_respect_the_bound_and_the_initial_program_beats_round_robin():
    base = prism.baseline_metrics({"seed": 42, "cases": 50})
    bound = base["lower_bound"]["max_pressure"]
    for name in ("round_robin", "first_fit_by_size", "greedy_least_pressure"):
        assert base[name]["valid"] and base[name]["max_pressure"] >= bound
    assert base["greedy_least_pressure"]["max_pressure"] < base["round_robin"]["max_pressure"]
    initial = prism.evaluate(ROOT_INITIAL, {"seed": 42, "cases": 50})["metrics"]
    assert bound <= initial["max_pressure"] < base["round_robin"]["max_pressure"] and initial["adrs_score"] > 0
