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
    probe = {"stages": [{"seed": 1, "cases": 5}, {"seed": 42, "cases": 50}]}
    assert prism.probe(ROOT_INITIAL, probe) == prism.probe(ROOT_INITIAL, probe)


def test_baselines_respect_the_bound_and_the_initial_program_beats_round_robin():
    base = prism.baseline_metrics({"seed": 42, "cases": 50})
    bound = base["lower_bound"]["max_pressure"]
    for name in ("round_robin", "first_fit_by_size", "greedy_least_pressure"):
        assert base[name]["valid"] and base[name]["max_pressure"] >= bound
    assert base["greedy_least_pressure"]["max_pressure"] < base["round_robin"]["max_pressure"]
    initial = prism.evaluate(ROOT_INITIAL, {"seed": 42, "cases": 50})["metrics"]
    assert bound <= initial["max_pressure"] < base["round_robin"]["max_pressure"] and initial["adrs_score"] > 0


# Shortened from a corpus run (s0 run #2 and run #80): size-ordered greedy, the first GPU it fits on vs
# packing the fullest; they place alike on 49 of the 50 full-stage cases and the old probe (6 cases, seed 7)
# merged them. PACK_RENAMED keeps PACK's behaviour; MIRRORED is FIRST_FIT with GPU ids reversed (same score).
GREEDY = """
def place(gpu_num, models):
    gpus = [[] for _ in range(gpu_num)]
    for m in sorted(models, key=lambda m: m.model_size, reverse=True):
        fits = [g for g in range(gpu_num) if sum(x.model_size for x in gpus[g]) + m.model_size < 80]
        best = min(fits or range(gpu_num), key=lambda g: (gpu_score(gpus[g], m), g))
        gpus[best].append(m)
    return {IDS: [m.model_name for m in ms] for g, ms in enumerate(gpus)}
"""
FIRST_FIT = GREEDY.replace("IDS", "g") + "\ndef gpu_score(ms, m):\n    return 0\n"
MIRRORED = GREEDY.replace("IDS", "gpu_num - 1 - g") + "\ndef gpu_score(ms, m):\n    return 0\n"
PACK = GREEDY.replace("IDS", "g") + """
def gpu_score(ms, m):
    free = 80 - sum(x.model_size for x in ms) - m.model_size
    return (sum(x.req_rate / x.slo for x in ms) + m.req_rate / m.slo) / free + 24.0957 * free
"""
PACK_RENAMED = GREEDY.replace("IDS", "g") + """
def gpu_score(placed, new):  # the same score, renamed and commuted
    room = 80 - new.model_size - sum(x.model_size for x in placed)
    return 24.0957 * room + (new.req_rate / new.slo + sum(x.req_rate / x.slo for x in placed)) / room
"""


def functional_hash(tmp_path, name: str, code: str, workload=None) -> str:
    from evolve.problem import load_problem
    from evolve.search import fhash

    problem = load_problem("gpu_model_placement")
    workload = workload or problem.spec.workloads.probe
    (tmp_path / name).write_text(code)
    key = fhash.cache_key(problem.name, problem.evaluator_ref, workload, 20)
    return fhash.functional_hash(key, [prism.probe(str(tmp_path / name), workload)], 20)


def test_probe_tells_apart_programs_that_differ_on_one_case_in_50(tmp_path):
    full = {"seed": 42, "cases": 50}
    first_fit, pack = (prism.evaluate(write(tmp_path, code), full)["metrics"] for code in (FIRST_FIT, PACK))
    assert first_fit["max_pressure"] != pack["max_pressure"]
    old = {"seed": 7, "cases": 6}
    assert functional_hash(tmp_path, "a.py", FIRST_FIT, old) == functional_hash(tmp_path, "b.py", PACK, old)
    assert functional_hash(tmp_path, "a.py", FIRST_FIT) != functional_hash(tmp_path, "b.py", PACK)
    assert functional_hash(tmp_path, "b.py", PACK) == functional_hash(tmp_path, "c.py", PACK_RENAMED)
    # placed alike up to the GPUs' ids: the same metrics, so the same hash
    assert prism.evaluate(write(tmp_path, MIRRORED), full)["metrics"] == first_fit
    assert functional_hash(tmp_path, "a.py", FIRST_FIT) == functional_hash(tmp_path, "d.py", MIRRORED)


def test_probe_returns_the_last_stages_metrics_exactly_or_the_failure(tmp_path):
    from evolve.problem import load_problem

    spec = load_problem("gpu_model_placement").spec
    probe = spec.workloads.probe
    assert probe["stages"] == [s.workload for s in spec.workloads.stages]  # the probe follows the stages
    full = prism.evaluate(ROOT_INITIAL, spec.workloads.stages[-1].workload)["metrics"]
    assert prism.probe(ROOT_INITIAL, probe) == {k: repr(v) for k, v in full.items()}
    # valid on the smoke cases, invalid on a full-stage one: the smoke metrics (which the run keeps) and why
    late = write(tmp_path, FIRST_FIT.replace("    gpus = [", "    assert models[0].model_size >= 17\n    gpus = ["))
    out = prism.probe(late, probe)
    smoke = prism.evaluate(late, spec.workloads.stages[0].workload)["metrics"]
    assert out["before"] == [{k: repr(v) for k, v in smoke.items()}] and "stage 1: " in out["error"]
