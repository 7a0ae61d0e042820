"""cloudcast: a 3-region broadcast's cost worked by hand, invalid paths and reasons, baselines vs bound."""
from __future__ import annotations

import pytest

from evaluators.network import cloudcast
from evaluators.network.cloudcast_sim import normalize, simulate

INITIAL = "problems/cloudcast/initial.py"
G = {"aws:a": {"aws:b": {"cost": 0.02, "throughput": 4.0}, "aws:c": {"cost": 0.09, "throughput": 2.0}},
     "aws:b": {"aws:c": {"cost": 0.01, "throughput": 4.0}, "aws:a": {"cost": 0.02, "throughput": 4.0}},
     "aws:c": {"aws:a": {"cost": 0.09, "throughput": 2.0}, "aws:b": {"cost": 0.01, "throughput": 4.0}}}
OPEN = {"aws": (100.0, 100.0)}  # caps that never bind
VM_S = 0.54 / 3600  # one VM-second


def run(answer, caps=OPEN):
    paths, reason = normalize(answer, "aws:a", ["aws:b", "aws:c"], 2, G)
    assert reason == ""
    return simulate(paths, G, caps, data_gb=10.0, parts=2, num_vms=1)


def test_shared_link_is_paid_once_per_partition():
    # 10 GB in 2 partitions of 5 GB; b via a->b, c via a->b->c: a->b carries {0, 1} once for both
    # egress = 2*5*0.02 (a->b) + 2*5*0.01 (b->c) = 0.3; each link 2*5*8 / 4 Gbps = 20 s; 3 regions * 20 VM-s
    r = run({"aws:b": ["aws:a", "aws:b"], "aws:c": ["aws:a", "aws:b", "aws:c"]})
    assert r["egress_cost"] == pytest.approx(0.3) and r["transfer_time_s"] == pytest.approx(20.0)
    assert r["cost"] == pytest.approx(0.3 + 3 * 20 * VM_S)


def test_direct_and_split_by_hand():
    # direct: a->b 0.2 + a->c 2*5*0.09 = 0.9; a->c takes 80 / 2 = 40 s
    r = run({"aws:b": ["aws:a", "aws:b"], "aws:c": ["aws:a", "aws:c"]})
    assert r["egress_cost"] == pytest.approx(1.1) and r["cost"] == pytest.approx(1.1 + 3 * 40 * VM_S)
    # c's partition 0 direct, 1 via b: a->b {0,1} 0.2 + a->c {0} 0.45 + b->c {1} 0.05 = 0.7
    r = run({"aws:b": ["aws:a", "aws:b"], "aws:c": [["aws:a", "aws:c"], ["aws:a", "aws:b", "aws:c"]]})
    assert r["egress_cost"] == pytest.approx(0.7)


def test_egress_cap_shares_the_source_links():
    # a sends on a->b (4) and a->c (2) = 6 Gbps > cap 3: each gets min(flow, 3/2) = 1.5; a->b 80/1.5 s
    r = run({"aws:b": ["aws:a", "aws:b"], "aws:c": ["aws:a", "aws:c"]}, caps={"aws": (100.0, 3.0)})
    assert r["transfer_time_s"] == pytest.approx(80 / 1.5)


@pytest.mark.parametrize("answer, reason", [
    ({"aws:b": ["aws:a", "aws:b"]}, "no path for destination aws:c"),
    ({"aws:b": ["aws:b", "aws:a"], "aws:c": ["aws:a", "aws:c"]},
     "aws:b partition 0: path must go from aws:a to aws:b, got aws:b -> aws:a"),
    ({"aws:b": ["aws:a", "aws:b"], "aws:c": [["aws:a", "aws:c"]]},
     "aws:c: expected 2 paths (one per partition), got 1"),
    ({"aws:b": ["aws:a", "aws:b"], "aws:c": ["aws:a", "aws:x", "aws:c"]}, "aws:c partition 0: no link aws:a -> aws:x"),
    ({"aws:b": ["aws:a", "aws:c", "aws:a", "aws:b"], "aws:c": ["aws:a", "aws:c"]},
     "aws:b partition 0: path visits a region twice: ['aws:a', 'aws:c', 'aws:a', 'aws:b']"),
    ("nope", "expected a dict destination -> paths, got str"),
])
def test_invalid_paths_name_the_reason(answer, reason):
    assert normalize(answer, "aws:a", ["aws:b", "aws:c"], 2, G) == (None, reason)


def test_evaluate_reports_invalid_candidates(tmp_path):
    path = tmp_path / "c.py"
    path.write_text("def search_algorithm(src, dsts, g, n):\n    return {d: [src, 'gcp:nowhere', d] for d in dsts}\n")
    out = cloudcast.evaluate(str(path), {"configs": ["intra_aws"]})
    assert out["metrics"]["valid"] is False and "no link" in out["artifacts"]["error"]


def test_deterministic():
    first = cloudcast.evaluate(INITIAL, {})
    assert first["metrics"] == cloudcast.evaluate(INITIAL, {})["metrics"]
    assert cloudcast.probe(INITIAL, {"configs": "all"}) == cloudcast.probe(INITIAL, {"configs": "all"})


def test_baselines_respect_the_bound():
    base = cloudcast.baseline_metrics({})
    bound = base["lower_bound"]["total_cost"]
    for name in ("direct", "cheapest_path_tree", "greedy_steiner"):
        assert base[name]["total_cost"] >= bound
    assert base["greedy_steiner"]["total_cost"] <= base["cheapest_path_tree"]["total_cost"] <= base["direct"]["total_cost"]
    assert cloudcast.evaluate(INITIAL, {})["metrics"]["total_cost"] >= bound
