"""EPLB evaluator: hand-worked validation and balancedness, baselines, workloads, bad input."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from evaluators.common import CandidateError  # noqa: E402
from evaluators.eplb import evaluate, probe  # noqa: E402
from evaluators.eplb.baselines import (  # noqa: E402
    balanced_packing, global_greedy, hierarchical, hierarchical_stable, log2phy_from_phy2log, no_rebalancing)
from evaluators.eplb.simulate import adrs_score, score_window  # noqa: E402
from evaluators.eplb.validate import check_placement  # noqa: E402
from evaluators.eplb.workloads import (  # noqa: E402
    NAMED, Setup, WorkloadError, build_workload, load_trace)

PROBLEM = ROOT / "problems" / "eplb"
# 1 layer, 4 experts, 1 group, 1 node, 2 GPUs, 6 slots (3 per GPU)
TINY = Setup(num_layers=1, num_logical=4, num_groups=1, num_nodes=1, num_gpus=2, num_replicas=6)
LOAD = np.array([[6.0, 2.0, 2.0, 2.0]])


def placement(row):
    phy2log = np.array([row], dtype=np.int64)
    log2phy, logcnt = log2phy_from_phy2log(phy2log, 4)
    return phy2log, log2phy, logcnt


def write(tmp_path, body: str, name: str = "cand.py") -> str:
    path = tmp_path / name
    path.write_text(body)
    return str(path)


def load_initial():
    spec = importlib.util.spec_from_file_location("eplb_initial", PROBLEM / "initial.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- simulation, hand-worked

def test_balancedness_hand_worked():
    # slots: GPU0 = [e0, e1, e2], GPU1 = [e0, e3, e3]; e0 splits 3+3, e3 splits 1+1
    phy2log, _, logcnt = placement([0, 1, 2, 0, 3, 3])
    assert logcnt.tolist() == [[2, 1, 1, 2]]
    out = score_window(LOAD, phy2log, logcnt, TINY)
    assert out["balancedness"] == pytest.approx(6 / 7)  # GPU loads 7 and 5
    assert out["node_balancedness"] == pytest.approx(1.0)
    two_nodes = Setup(num_layers=1, num_logical=4, num_groups=1, num_nodes=2, num_gpus=2, num_replicas=6)
    assert score_window(LOAD, phy2log, logcnt, two_nodes)["node_balancedness"] == pytest.approx(6 / 7)


def test_unserved_tokens_and_empty_layer():
    phy2log, _, logcnt = placement([0, 1, 2, 0, 1, 2])  # expert 3 has no replica
    out = score_window(np.array([[3.0, 3.0, 3.0, 3.0]]), phy2log, logcnt, TINY)
    assert out["unserved"] == pytest.approx(0.25)
    assert score_window(np.zeros((1, 4)), phy2log, logcnt, TINY)["balancedness"] == 1.0


def test_adrs_score_hand_worked():
    assert adrs_score(0.9, 0.001) == pytest.approx(81 + 10)
    assert adrs_score(0.9, 0.004) == pytest.approx(81 + 2.5)
    assert adrs_score(0.9, 0.5) == pytest.approx(81 + 5 * 0.004 - 10)
    assert adrs_score(0.9, 5.0) == pytest.approx(81 + 5 * 0.0004 - 20)


# ---------------------------------------------------------------- validation, hand-worked

def test_valid_placement_passes():
    check_placement(*placement([0, 1, 2, 0, 3, 3]), TINY, LOAD)


def _bad(mutate, expect):
    phy2log, log2phy, logcnt = (a.copy() for a in placement([0, 1, 2, 0, 3, 3]))
    arrays = mutate(phy2log, log2phy, logcnt) or (phy2log, log2phy, logcnt)
    with pytest.raises(CandidateError, match=expect):
        check_placement(*arrays, TINY, LOAD)


def test_wrong_shape_and_dtype():
    _bad(lambda p, l, c: (p[:, :5], l, c), r"phy2log.*shape")
    _bad(lambda p, l, c: (p, l, c[:, :3]), r"logcnt.*shape")
    _bad(lambda p, l, c: (p, l[0], c), r"log2phy.*shape")
    _bad(lambda p, l, c: (p.astype(float), l, c), r"integers")


def test_expert_out_of_range():
    def m(p, l, c):
        p[0, 5] = 4
    _bad(m, r"phy2log\[0, 5\] = 4 is not a logical expert")


def test_counts_must_sum_to_slots_and_agree():
    def wrong_sum(p, l, c):
        c[0, 1] = 2
    _bad(wrong_sum, r"sums to 7, but there are 6")

    def disagree(p, l, c):
        c[0, 1], c[0, 3] = 2, 1  # still sums to 6
    _bad(disagree, r"logcnt\[0, 1\] = 2 but phy2log places expert 1 1 time")


def test_loaded_expert_needs_a_replica_but_idle_one_may_have_none():
    phy2log, log2phy, logcnt = placement([0, 1, 2, 0, 1, 2])
    with pytest.raises(CandidateError, match="expert 3 of layer 0 has load 2 but no replica"):
        check_placement(phy2log, log2phy, logcnt, TINY, LOAD)
    check_placement(phy2log, log2phy, logcnt, TINY, np.array([[6.0, 2.0, 2.0, 0.0]]))


def test_log2phy_must_agree_with_phy2log():
    def wrong_slot(p, l, c):
        l[0, 1, 0] = 2  # slot 2 holds expert 2, not 1
    _bad(wrong_slot, r"log2phy\[0, 1, 0\] = 2 but phy2log\[0, 2\] = 2, not 1")

    def not_padded(p, l, c):
        l[0, 1, 1] = 1
    _bad(not_padded, r"pad with -1")

    def duplicate(p, l, c):
        l[0, 0, 1] = 0  # expert 0 lists slot 0 twice, slot 3 never
    _bad(duplicate, r"physical slot 0 of layer 0 appears 2 times")

    def out_of_range(p, l, c):
        l[0, 3, 1] = 6
    _bad(out_of_range, r"not a physical slot")


def test_log2phy_any_order_is_accepted():
    phy2log, log2phy, logcnt = placement([0, 1, 2, 0, 3, 3])
    log2phy[0, 0, :2] = log2phy[0, 0, 1::-1]
    check_placement(phy2log, log2phy, logcnt, TINY, LOAD)


# ---------------------------------------------------------------- baselines, hand-worked

def test_balanced_packing_hand_worked():
    pack, rank = balanced_packing(np.array([[5.0, 4.0, 3.0, 3.0, 2.0, 1.0]]), 2)
    assert pack.tolist() == [[0, 1, 1, 0, 1, 0]]  # both packs weigh 9
    assert rank.tolist() == [[0, 0, 1, 1, 2, 2]]


def test_global_greedy_hand_worked():
    phy2log, _, logcnt = global_greedy(LOAD, 6, 1, 1, 2)
    assert logcnt.tolist() == [[3, 1, 1, 1]]  # e0: 6 -> 3 -> 2 per replica
    assert phy2log.tolist() == [[0, 2, 0, 1, 3, 0]]
    assert score_window(LOAD, phy2log, logcnt, TINY)["balancedness"] == pytest.approx(1.0)


def test_hierarchical_hand_worked_keeps_groups_on_nodes():
    load = np.array([[1.0, 1.0, 8.0, 2.0]])  # groups {0,1}=2, {2,3}=10
    phy2log, _, logcnt = hierarchical(load, 6, 2, 2, 2)
    # one group per node: the reference puts group i on node i without sorting, so {0,1} on node 0;
    # node 0: e0 (first of the tied 1, 1) gets the extra replica, replicas [e0 .5, e1 1, e0 .5] largest first
    assert phy2log.tolist() == [[1, 0, 0, 2, 2, 3]]
    assert hierarchical_stable(load, 6, 2, 2, 2)[0].tolist() == [[2, 2, 3, 1, 0, 0]]  # largest group first
    setup = Setup(num_layers=1, num_logical=4, num_groups=2, num_nodes=2, num_gpus=2, num_replicas=6)
    assert score_window(load, phy2log, logcnt, setup)["balancedness"] == pytest.approx(0.6)


def test_no_rebalancing_keeps_experts_home():
    phy2log, _, logcnt = no_rebalancing(LOAD, 6, 1, 1, 2)
    assert phy2log.tolist() == [[0, 1, 0, 2, 3, 2]]
    assert score_window(LOAD, phy2log, logcnt, TINY)["balancedness"] == pytest.approx(6 / 8)


@pytest.mark.parametrize("name", sorted(NAMED))
def test_baselines_valid_on_every_named_workload(name):
    wl = build_workload({"name": name, "seed": 3})
    s = wl.setup
    bal = {}
    for fn in (no_rebalancing, hierarchical, global_greedy):
        out = fn(wl.load[0], s.num_replicas, s.num_groups, s.num_nodes, s.num_gpus)
        check_placement(*out, s, wl.load[0])
        bal[fn.__name__] = score_window(wl.load[0], out[0], out[2], s)["balancedness"]
    assert bal["no_rebalancing"] < bal["hierarchical"] <= bal["global_greedy"] + 1e-9


def test_initial_program_matches_vectorized_hierarchical():
    """initial.py is the stable-tie hierarchical; the reference-tie one has its replica counts and balance."""
    initial = load_initial()
    for name, seed in (("small", 1), ("drift-lognormal", 2)):
        wl = build_workload({"name": name, "seed": seed})
        s = wl.setup
        args = (s.num_replicas, s.num_groups, s.num_nodes, s.num_gpus)
        plain = initial.rebalance_experts(wl.load[0], *args)
        for got, want in zip(plain, hierarchical_stable(wl.load[0], *args)):
            np.testing.assert_array_equal(got, want)
        ref = hierarchical(wl.load[0], *args)
        np.testing.assert_array_equal(ref[2], plain[2])
        assert (score_window(wl.load[0], ref[0], ref[2], s)["balancedness"]
                == pytest.approx(score_window(wl.load[0], plain[0], plain[2], s)["balancedness"], abs=1e-12))


# ---------------------------------------------------------------- workloads

def test_generator_is_seeded_and_shaped():
    a = build_workload({"name": "drift-lognormal", "seed": 5}).load
    b = build_workload({"name": "drift-lognormal", "seed": 5}).load
    c = build_workload({"name": "drift-lognormal", "seed": 6}).load
    assert a.shape == (5, 58, 256)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert (a >= 0).all() and (a == np.round(a)).all()


def _window_corr(load):
    x = np.log1p(load)
    return np.mean([np.corrcoef(x[0, l], x[1, l])[0, 1] for l in range(x.shape[1])])


def test_generator_features():
    base = build_workload({"name": "drift-lognormal", "seed": 1}).load
    share = base[0] / base[0].sum(axis=1, keepdims=True)
    assert share.max(axis=1).mean() > 5 / 256  # heavy tail: hottest expert >> fair share
    stable = build_workload({"name": "stable-lognormal", "seed": 1}).load
    heavy = build_workload({"name": "heavy-drift", "seed": 1}).load
    assert _window_corr(stable) > _window_corr(base) > _window_corr(heavy)
    x = np.log1p(base[0])
    adjacent = np.mean([np.corrcoef(x[l], x[l + 1])[0, 1] for l in range(57)])
    far = np.mean([np.corrcoef(x[l], x[(l + 29) % 58])[0, 1] for l in range(57)])
    assert adjacent > far + 0.2
    flat = build_workload({"name": "drift-lognormal", "seed": 1, "skew": 0.0, "group_skew": 0.0}).load
    bursty = build_workload({"name": "drift-lognormal", "seed": 1, "skew": 0.0, "group_skew": 0.0,
                             "burst_prob": 0.05, "burst_scale": 8.0}).load
    assert bursty.max() > 3 * flat.max()


@pytest.mark.parametrize("spec, expect", [
    ({"name": "nope"}, "unknown workload name"),
    ({"name": "small", "colour": 1}, "unknown workload key"),
    ({"name": "small", "version": 99}, "generator version"),
    ({"name": "small", "gpus": 7}, "divide evenly"),
    ({"name": "small", "seed": "x"}, "integer"),
    ({"name": "small", "array": "jax"}, "numpy"),
    ({"name": "small", "skew": "high"}, "must be a number"),
    ({"name": "small", "windows": 2.5}, "integer"),
    ({"name": "small", "popularity": "pareto"}, "lognormal' or 'zipf"),
    ({"name": "small", "drift": 1.5}, "drift"),
    ({"name": "small", "time_budget_s": "x"}, "number"),
])
def test_bad_workload_mapping(spec, expect):
    with pytest.raises(WorkloadError, match=expect):
        build_workload(spec)


def test_npz_and_json_traces_round_trip(tmp_path):
    load = build_workload({"name": "small", "seed": 1}).load
    np.savez(tmp_path / "t.npz", load=load)
    np.testing.assert_array_equal(load_trace(tmp_path / "t.npz"), load)
    doc = {"load_history": [{"timestamp": i, "logical_expert_load": w.tolist()} for i, w in enumerate(load)]}
    (tmp_path / "t.json").write_text(json.dumps(doc))
    np.testing.assert_array_equal(load_trace(tmp_path / "t.json"), load)
    wl = build_workload({"path": str(tmp_path / "t.json"), "groups": 8, "nodes": 2, "gpus": 8, "replicas": 80})
    assert wl.setup.num_layers == 8 and wl.setup.num_logical == 64 and wl.eval_windows == 2


@pytest.mark.parametrize("content, expect", [
    ({"load_history": [{"logical_expert_load": [[1, float("nan")]]}] * 2}, "not finite"),
    ({"load_history": [{"other": 1}]}, "no 'logical_expert_load'"),
    ({"load_history": [{"logical_expert_load": [[1, 2]]}, {"logical_expert_load": [[1, 2, 3]]}]}, "differ in shape"),
    ({"load_history": [{"logical_expert_load": [[1, 2]]}]}, "at least 2 windows"),
    ({"load_history": [{"logical_expert_load": [[1, -2]]}] * 2}, "negative"),
    ({"something": []}, "load_history"),
])
def test_bad_json_trace_is_a_clear_failure(tmp_path, content, expect):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(content))
    result = evaluate(str(PROBLEM / "initial.py"), {"path": str(path), "groups": 1, "replicas": 4,
                                                    "nodes": 1, "gpus": 2})
    assert result["metrics"]["valid"] is False
    assert expect in result["artifacts"]["error"]


def test_bad_npz_layout(tmp_path):
    np.savez(tmp_path / "two.npz", a=np.ones((2, 2, 4)), b=np.ones(3))
    with pytest.raises(WorkloadError, match="named 'load'"):
        load_trace(tmp_path / "two.npz")
    np.savez(tmp_path / "flat.npz", load=np.ones(8))
    with pytest.raises(WorkloadError, match=r"\[windows, layers, experts\]"):
        load_trace(tmp_path / "flat.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(WorkloadError, match="cannot read NPZ"):
        load_trace(tmp_path / "junk.npz")


# ---------------------------------------------------------------- evaluate / probe end to end

def test_evaluate_initial_on_small():
    result = evaluate(str(PROBLEM / "initial.py"), {"name": "small", "seed": 1})
    m = result["metrics"]
    assert m["valid"] is True
    assert 0.8 < m["balancedness"] <= 1.0 and 0 < m["balancedness_next"] < m["balancedness"]
    assert m["runtime_s"] > 0 and len(result["artifacts"]["call_seconds"]) >= 5
    assert m["adrs_score"] == pytest.approx(adrs_score(m["balancedness"], m["runtime_s"]))
    assert all(isinstance(v, (bool, int, float)) for v in m.values())
    assert len(json.dumps(result["artifacts"])) < 20_000


BAD_CANDIDATES = {
    "raises": ("def rebalance_experts(*a):\n    raise RuntimeError('boom')\n", "boom"),
    "lists": ("from evaluators.eplb.baselines import hierarchical\n"
              "def rebalance_experts(*a):\n    return tuple(x.tolist() for x in hierarchical(*a))\n",
              "numpy array"),
    "missing": ("def other():\n    pass\n", "must define a function `rebalance_experts`"),
    "syntax": ("def rebalance_experts(:\n", "importing the candidate failed"),
    "two": ("def rebalance_experts(*a):\n    return 1, 2\n", "returned a tuple of length 2"),
    "shape": ("import numpy as np\ndef rebalance_experts(w, r, g, n, k):\n"
              "    return np.zeros((1, r), int), np.zeros((1, 1, 1), int), np.zeros((1, 1), int)\n",
              "window 0: `phy2log` must have shape"),
    "exit": ("import sys\ndef rebalance_experts(*a):\n    sys.exit(3)\n", "SystemExit"),
}


@pytest.mark.parametrize("case", sorted(BAD_CANDIDATES))
def test_bad_candidates_fail_with_a_reason(tmp_path, case):
    body, expect = BAD_CANDIDATES[case]
    result = evaluate(write(tmp_path, body), {"name": "small", "seed": 1})
    assert result["metrics"]["valid"] is False
    assert expect in result["artifacts"]["error"]
    assert "error" in probe(write(tmp_path, body, "p.py"))


def test_torch_requested_without_torch(tmp_path):
    if importlib.util.find_spec("torch") is not None:
        pytest.skip("torch is installed here")
    result = evaluate(str(PROBLEM / "initial.py"), {"name": "small", "seed": 1, "array": "torch"})
    assert result["metrics"]["valid"] is False and "torch is not installed" in result["artifacts"]["error"]


def test_runtime_uses_evaluators_clock(tmp_path):
    body = ("import time\nfrom evaluators.eplb.baselines import hierarchical\n"
            "time.perf_counter = lambda: 0.0\n"
            "def rebalance_experts(*a):\n    time.sleep(0.02)\n    return hierarchical(*a)\n")
    m = evaluate(write(tmp_path, body), {"name": "small", "seed": 1})["metrics"]
    assert m["valid"] is True and m["runtime_s"] >= 0.02


def test_candidate_writing_into_its_input_does_not_change_scoring(tmp_path):
    body = ("from evaluators.eplb.baselines import hierarchical\n"
            "def rebalance_experts(w, *a):\n    out = hierarchical(w, *a)\n    w[:] = 0\n    return out\n")
    clean = write(tmp_path, "from evaluators.eplb.baselines import hierarchical as rebalance_experts\n", "c.py")
    dirty = evaluate(write(tmp_path, body), {"name": "small", "seed": 1})["metrics"]
    assert dirty["balancedness"] == evaluate(clean, {"name": "small", "seed": 1})["metrics"]["balancedness"]


def test_probe_is_deterministic_and_functional(tmp_path):
    initial = probe(str(PROBLEM / "initial.py"), {"name": "tiny", "seed": 0})
    assert initial == probe(str(PROBLEM / "initial.py"), {"name": "tiny", "seed": 0})
    json.dumps(initial)
    same = write(tmp_path, "from evaluators.eplb.baselines import hierarchical as rebalance_experts\n")
    other = write(tmp_path, "from evaluators.eplb.baselines import global_greedy as rebalance_experts\n", "g.py")
    assert probe(same, {"name": "tiny", "seed": 0}) == initial
    assert probe(other, {"name": "tiny", "seed": 0}) != initial
    # one window; per layer (2), nodes (2) of GPUs (2) of sorted experts: 20 slots
    assert len(initial) == 1 and len(initial[0]) == 2 and sum(len(g) for n in initial[0][0] for g in n) == 20


def test_probe_ignores_what_no_metric_sees(tmp_path):
    """GPUs swapped within a node and slots reversed within a GPU: other arrays, the same loads, one hash."""
    body = ("import numpy as np\nfrom evaluators.eplb.baselines import hierarchical, log2phy_from_phy2log\n"
            "def rebalance_experts(w, r, g, n, gpus):\n    phy2log, _, _ = hierarchical(w, r, g, n, gpus)\n"
            "    per = phy2log.reshape(len(phy2log), gpus, r // gpus)[:, :, ::-1]\n"
            "    per = per.reshape(len(phy2log), n, gpus // n, r // gpus)[:, :, ::-1].reshape(len(phy2log), r)\n"
            "    log2phy, logcnt = log2phy_from_phy2log(np.ascontiguousarray(per), w.shape[1])\n"
            "    return np.ascontiguousarray(per), log2phy, logcnt\n")
    workload = {"name": "drift-lognormal", "seed": 0, "layers": 4, "eval_windows": 2}
    same = write(tmp_path, "from evaluators.eplb.baselines import hierarchical as rebalance_experts\n")
    assert probe(write(tmp_path, body, "shuffled.py"), workload) == probe(same, workload)
    a, b = (evaluate(f, {"name": "small", "seed": 1})["metrics"] for f in (same, str(tmp_path / "shuffled.py")))
    assert a["balancedness"] == b["balancedness"] and a["node_balancedness"] == b["node_balancedness"]


def test_cost_only_evaluation_times_the_candidate_alone():
    known = {"balancedness": 0.9}
    out = evaluate(str(PROBLEM / "initial.py"), {"name": "small", "seed": 1, "measure": "cost", "known": known})
    m = out["metrics"]
    assert set(m) == {"runtime_s", "adrs_score"} and m["runtime_s"] > 0
    assert m["adrs_score"] == adrs_score(0.9, m["runtime_s"])


# ---------------------------------------------------------------- the ready problem

def test_problem_yaml_follows_the_contract():
    from evolve.problem import load_problem

    load_problem(PROBLEM)  # the controller's own schema accepts every key
    doc = yaml.safe_load((PROBLEM / "problem.yaml").read_text())
    assert (PROBLEM / doc["program"]).is_file() and doc["evaluator"] == "evaluators.eplb"
    text = (PROBLEM / doc["program"]).read_text()
    assert "# EVOLVE-BLOCK-START" in text and "# EVOLVE-BLOCK-END" in text
    for stage in doc["workloads"]["stages"]:
        build_workload(stage["workload"])  # every stage's workload is understood
    smoke = evaluate(str(PROBLEM / doc["program"]), doc["workloads"]["stages"][0]["workload"])
    assert smoke["metrics"]["valid"] is True
    names = {o["name"] for o in doc["objectives"]} | {c["name"] for c in doc["constraints"]}
    assert names <= set(smoke["metrics"])


def test_hierarchical_baseline_meets_the_full_stage_constraint(tmp_path):
    doc = yaml.safe_load((PROBLEM / "problem.yaml").read_text())
    floor = next(c["min"] for c in doc["constraints"] if c["name"] == "balancedness")
    full = doc["workloads"]["stages"][-1]["workload"]
    cand = write(tmp_path, "from evaluators.eplb.baselines import hierarchical as rebalance_experts\n")
    m = evaluate(cand, full)["metrics"]
    assert m["valid"] is True and floor < m["balancedness"] < floor + 0.05
    static = write(tmp_path, "from evaluators.eplb.baselines import no_rebalancing as rebalance_experts\n", "s.py")
    assert evaluate(static, full)["metrics"]["balancedness"] < floor
