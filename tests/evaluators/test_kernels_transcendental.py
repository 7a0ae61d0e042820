"""exp_f32 / log_f32: ULP arithmetic by hand, the baselines, op counting, honesty, bad kernels."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from evaluators.kernels import transcendental as T  # noqa: E402
from evaluators.kernels.floatbits import NAN_ULPS, ErrorTally, chunks, count_in, from_ordered, ordered_of, \
    to_ordered, ulp_distance  # noqa: E402
from evaluators.kernels.honesty import Dishonest, check_source, trapped  # noqa: E402
from evaluators.kernels.opcount import OpRefused, count_ops  # noqa: E402
from evaluators.kernels.targets import TARGETS  # noqa: E402

EXP = ROOT / "problems" / "exp_f32" / "initial.py"
LOG = ROOT / "problems" / "log_f32" / "initial.py"
SMALL = {"points": 5000}


def write(tmp_path, body: str) -> str:
    path = tmp_path / "cand.py"
    path.write_text("import numpy as np\nimport math\n\n" + body)
    return str(path)


# ---------------------------------------------------------------- float bits, by hand

def test_ordered_integers_step_by_one_and_merge_zeros():
    x = np.array([0.0, -0.0, 1.0, np.nextafter(np.float32(1), np.float32(2)), -1.0], dtype=np.float32)
    o = to_ordered(x)
    assert o[0] == o[1] == 0
    assert o[3] - o[2] == 1
    assert o[4] == -o[2]
    assert np.array_equal(from_ordered(o[2:]).view(np.int32), x[2:].view(np.int32))
    assert ordered_of(1.401298464324817e-45) == 1


def test_ulp_distance_by_hand():
    one = np.float32(1)
    got = np.array([one, np.nextafter(one, np.float32(2)), np.float32(np.nan), -0.0], dtype=np.float32)
    want = np.array([one, one, one, 1.401298464324817e-45], dtype=np.float32)
    assert ulp_distance(got, want).tolist() == [0, 1, NAN_ULPS, 1]


def test_chunks_cover_range_exactly_once():
    got = np.concatenate(list(chunks(-5, 9, 4)))
    assert to_ordered(got).tolist() == list(range(-5, 10))
    strided = np.concatenate(list(chunks(0, 100, 7, stride=10, phase=3)))
    assert to_ordered(strided).tolist() == list(range(3, 101, 10))
    assert count_in(0, 100, 10, 3) == 10


def test_tally_merge_equals_one_pass():
    x = np.linspace(1, 2, 100, dtype=np.float32)
    got = x.copy()
    got[::7] = np.nextafter(got[::7], np.float32(3))
    got[50] = np.nextafter(np.nextafter(got[50], np.float32(3)), np.float32(3))
    whole, a, b = ErrorTally(), ErrorTally(), ErrorTally()
    whole.add(x, got, x)
    a.add(x[:50], got[:50], x[:50])
    b.add(x[50:], got[50:], x[50:])
    a.merge(b.as_dict())
    assert a.as_dict() == whole.as_dict()
    assert whole.max == 2 and whole.worst_x == float(x[50]) and whole.over_1 == 1


def test_exp_domain_ends():
    t = TARGETS["exp"]
    assert t.lo == pytest.approx(-87.3365, abs=1e-3) and t.hi == pytest.approx(88.7228, abs=1e-3)
    assert np.isfinite(t.reference(np.array([t.hi], dtype=np.float32)))[0]
    assert t.reference(np.array([t.lo], dtype=np.float32))[0] >= np.finfo(np.float32).smallest_normal


# ---------------------------------------------------------------- baselines

@pytest.mark.parametrize("path, function, ops", [(EXP, "exp", 29.0), (LOG, "log", 43.0)])
def test_baselines_within_one_ulp_and_counted(path, function, ops):
    out = T.evaluate(str(path), {"function": function, **SMALL})
    m = out["metrics"]
    assert m["valid"] and m["honest"], out["artifacts"]
    assert m["max_ulp"] <= 1 and m["mean_ulp"] < 0.1
    assert m["ops_per_element"] == ops  # deterministic: the same on every machine
    dense = T.evaluate(str(path), {"function": function, "check": "lattice", "points": 200_000,
                                   "timing_points": 4096, "repeats": 2})
    assert dense["metrics"]["max_ulp"] <= 1 and dense["metrics"]["time_ratio"] > 0
    assert dense["artifacts"]["points"] >= 200_000


def test_verify_part_checks_every_float_in_range():
    wl = {"function": "exp", "domain": [1.0, 1.001], "parts": 3}
    parts = [T.verify(str(EXP), {**wl, "part": i}) for i in range(3)]
    assert sum(p["points"] for p in parts) == ordered_of(1.001) - ordered_of(1.0) + 1
    assert all(p["points"] == p["expected_points"] and p["max_ulp"] <= 1 for p in parts)


def test_probe_is_output_bits_and_op_count_on_the_sample_points():
    out = T.probe(str(EXP), {"function": "exp"})
    assert out == T.probe(str(EXP), {"function": "exp"})
    assert out["points"] == 100_000 and out["costs"] == {"ops_per_element": 29.0}
    sample = T.evaluate(str(EXP), {"function": "exp", "check": "sample"})["metrics"]
    assert sample["ops_per_element"] == out["costs"]["ops_per_element"]  # the same points as the stage


def _score(problem, metrics: dict) -> float:
    from evolve.search.scoring import weighted_score
    return weighted_score(problem.spec.objectives, metrics)


def test_extra_op_variant_is_not_merged_and_scores_worse(tmp_path):
    """One more (unused) float op: the same outputs, 30 ops instead of 29, so not its parent's duplicate."""
    from evolve.problem import load_problem
    from evolve.search import fhash

    problem = load_problem("exp_f32")
    extra = tmp_path / "extra.py"
    extra.write_text(EXP.read_text().replace("    ki = k.astype(np.int32)\n",
                                             "    ki = k.astype(np.int32)\n    unused = p * f32(2.0)\n"))
    workload = problem.spec.workloads.probe
    key = fhash.cache_key(problem.name, problem.evaluator_ref, workload, 20)
    a, b = T.probe(str(EXP), workload), T.probe(str(extra), workload)
    assert a["bits"] == b["bits"]  # what it computes is the same...
    assert fhash.functional_hash(key, [a], 20) != fhash.functional_hash(key, [b], 20)  # ...what it costs is not
    stage = problem.spec.workloads.stages[0].workload
    ma, mb = (T.evaluate(str(f), stage)["metrics"] for f in (EXP, extra))
    assert (ma["ops_per_element"], mb["ops_per_element"]) == (29.0, 30.0)
    timed = {"time_ratio": 1.0}
    assert _score(problem, {**ma, **timed}) - _score(problem, {**mb, **timed}) == 1.0


def test_cost_only_evaluation_measures_the_time_ratio_alone():
    out = T.evaluate(str(EXP), {"function": "exp", "check": "lattice", "points": 1000, "timing_points": 4096,
                                "repeats": 2, "measure": "cost"})
    assert set(out["metrics"]) == {"time_ratio"} and out["metrics"]["time_ratio"] > 0
    assert T.evaluate(str(EXP), {"function": "exp", "measure": "cost"})["metrics"] == {}  # sample: nothing timed


# ---------------------------------------------------------------- inaccurate and bad kernels

def test_inaccurate_kernel_is_valid_but_reports_its_error(tmp_path):
    path = write(tmp_path, "def exp_f32(x):\n    return (1 + x + x * x * np.float32(0.5)).astype(np.float32)\n")
    m = T.evaluate(path, {"function": "exp", **SMALL})["metrics"]
    assert m["valid"] and m["max_ulp"] > 1000 and m["points_over_1ulp"] > 0


@pytest.mark.parametrize("body, reason", [
    ("def exp_f32(x):\n    return x.astype(np.float64)\n", "float32"),
    ("def exp_f32(x):\n    return x[:-1]\n", "shape"),
    ("def exp_f32(x):\n    return list(x)\n", "numpy array"),
    ("def exp_f32(x):\n    raise ValueError('boom')\n", "boom"),
    ("def other(x):\n    return x\n", "exp_f32"),
    ("def exp_f32(x)\n    return x\n", "parse"),
])
def test_bad_kernels_fail_with_reason(tmp_path, body, reason):
    out = T.evaluate(write(tmp_path, body), {"function": "exp", **SMALL})
    assert out["metrics"]["valid"] is False
    assert reason in out["artifacts"]["error"]


def test_nan_output_counts_as_huge_error(tmp_path):
    path = write(tmp_path, "def exp_f32(x):\n    return x * np.float32('nan')\n")
    m = T.evaluate(path, {"function": "exp", **SMALL})["metrics"]
    assert m["max_ulp"] == NAN_ULPS


# ---------------------------------------------------------------- honesty

@pytest.mark.parametrize("body, reason", [
    ("def exp_f32(x):\n    return np.exp(x)\n", "exp"),
    ("def exp_f32(x):\n    return np.power(np.float32(math.e), x)\n", "power"),
    ("def exp_f32(x):\n    return np.float32(2.718281828) ** x\n", "**"),
    ("from scipy import special\ndef exp_f32(x):\n    return special.exp10(x)\n", "scipy"),
    ("def exp_f32(x):\n    f = getattr(np, 'e' + 'xp')\n    return f(x)\n", "getattr"),
    ("def exp_f32(x):\n    return np.cosh(x) + np.sinh(x)\n", "cosh"),
    ("def exp_f32(x):\n    u = np._core.umath\n    return u.add(x, 0)\n", "_core"),
])
def test_forbidden_routines_rejected_by_source_check(tmp_path, body, reason):
    out = T.evaluate(write(tmp_path, body), {"function": "exp", **SMALL})
    assert out["metrics"]["valid"] is False and out["metrics"]["honest"] is False
    assert reason in out["artifacts"]["error"]


def test_runtime_traps_catch_indirect_calls_and_restore():
    with trapped() as log:
        with pytest.raises(Dishonest):
            np.exp(np.float32(1))
        with pytest.raises(Dishonest):
            np.power(2.0, 0.5)
        with pytest.raises(Dishonest):
            math.exp(1.0)
        with pytest.raises(ImportError):
            __import__("scipy")
    assert log[0] == "np.exp" and log[1].startswith("np.pow") and log[2:] == ["math.exp", "import scipy"]
    assert np.exp(0.0) == 1.0 and math.exp(0.0) == 1.0  # restored


def test_source_check_allows_integer_powers_and_numpy_math():
    check_source("import numpy as np\nimport math\ndef f(x):\n    return x ** 2 + x ** -1 + math.pi\n")
    with pytest.raises(Dishonest):
        check_source("import os\n")


def test_op_counting_is_exact_and_refuses_wide_or_transcendental():
    x = np.ones(10, dtype=np.float32)
    out, ledger = count_ops(lambda v: v * np.float32(2) + 1, x)
    assert ledger.elements / x.size == 2.0 and out.tolist() == [3.0] * 10
    for fn, reason in [(lambda v: np.exp(v), "np.exp"), (lambda v: v * np.float64(2), "float64"),
                       (lambda v: np.asarray(v) * 2, "lost")]:
        with pytest.raises(OpRefused, match=reason):
            count_ops(fn, x)


def test_exp_reached_inside_numpy_is_trapped_at_run_time(tmp_path):
    # np.i0 passes the source check, but NumPy computes it with exp: the trap records it
    path = write(tmp_path, "def exp_f32(x):\n    return np.i0(x).astype(np.float32)\n")
    out = T.evaluate(path, {"function": "exp", **SMALL})
    assert out["metrics"]["honest"] is False and "np.exp" in out["artifacts"]["error"]
    assert "forbidden" in T.verify(path, {"function": "exp", "domain": [0, 0.001]})["error"]


def test_bad_workload_is_a_failure_not_an_exception():
    out = T.evaluate(str(EXP), {"function": "sin"})
    assert out["metrics"]["valid"] is False and "sin" in out["artifacts"]["error"]
    assert "unknown" in T.evaluate(str(EXP), {"bogus": 1})["artifacts"]["error"]
