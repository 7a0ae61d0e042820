"""moe_expert_affinity: a 2-layer, 4-expert case by hand, invalid placements, determinism, baselines."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evaluators import moe
from evaluators.moe.baselines import BASELINES
from evaluators.moe.placement import PlacementError, check, score
from evaluators.moe.traces import Trace, build, frozen_copy

INITIAL = str(Path(__file__).parents[2] / "problems" / "moe_expert_affinity" / "initial.py")


def hand_trace(bound=1.6):
    # top-1 routing, 4 tokens: three go expert 0 (layer 0) -> expert 1 (layer 1), one goes 2 -> 3
    cooc = np.zeros((1, 4, 4))
    cooc[0, 0, 1], cooc[0, 2, 3] = 3, 1
    loads = np.array([[3, 0, 1, 0], [0, 3, 0, 1]], dtype=float)
    return Trace(cooc, loads, num_gpus=2, top_k=1, balance_bound=bound)


def test_two_layers_four_experts_by_hand():
    t = hand_trace()
    # together: layer 0 {0,1 | 2,3}, layer 1 the same -> 0->1 on GPU 0 both, 2->3 on GPU 1 both: 0 of 4 cross;
    # GPU loads 3 and 1 in each layer, mean 2 -> imbalance 1.5
    m = score(t, [[0, 0, 1, 1], [0, 0, 1, 1]])
    assert m["cross_fraction"] == 0 and m["imbalance"] == 1.5
    # apart: layer 0 {0,2 | 1,3}, layer 1 the same -> 0 (GPU 0) -> 1 (GPU 1): 3 cross; 2 (0) -> 3 (1): 1 cross
    # -> 4 of 4; layer 0 loads GPU 0 = 3 + 1 = 4, GPU 1 = 0 -> imbalance 2.0
    m = score(t, [[0, 1, 0, 1], [0, 1, 0, 1]])
    assert m["cross_fraction"] == 1.0 and m["cross_pairs"] == 4 and m["imbalance"] == 2.0
    # half: layer 1 {1,3 | 0,2}: 0 (GPU 0) -> 1 (GPU 0) stays, 2 (GPU 1) -> 3 (GPU 0) crosses: 1 of 4
    assert score(t, [[0, 0, 1, 1], [1, 0, 1, 0]])["cross_fraction"] == 0.25


@pytest.mark.parametrize("placement, words", [
    ([[0, 0, 1, 1]], "shape"),
    ([[0, 0, 0, 1], [0, 0, 1, 1]], "GPU 0 holds 3 experts"),
    ([[0, 0, 2, 2], [0, 0, 1, 1]], "GPU ids must be in 0..1"),
    ([[0.5, 0, 1, 1], [0, 0, 1, 1]], "integer"),
])
def test_invalid_placements_say_why(placement, words):
    with pytest.raises(PlacementError, match=words):
        check(hand_trace(), placement)


def candidate(tmp_path, body):
    path = tmp_path / "cand.py"
    path.write_text("import numpy as np\n" + body)
    return str(path)


def test_capacity_violation_is_invalid_and_balance_bound_is_reported(tmp_path):
    bad = candidate(tmp_path, "def place(t):\n    return np.zeros((t.num_layers, t.num_experts), dtype=int)\n")
    out = moe.evaluate(bad, {"name": "tiny"})
    assert out["metrics"]["valid"] is False and "holds" in out["artifacts"]["error"]
    # round robin on a tight bound: valid, but its imbalance exceeds the bound (the YAML constraint fails it)
    rr = candidate(tmp_path, "def place(t):\n    return np.tile(np.arange(t.num_experts) % t.num_gpus, "
                             "(t.num_layers, 1))\n")
    out = moe.evaluate(rr, {"name": "small", "seed": 1, "balance_bound": 1.1})
    assert out["metrics"]["valid"] and out["metrics"]["imbalance"] > 1.1
    assert "bound 1.1" in out["artifacts"]["feedback"]


def test_deterministic_traces_and_evaluation():
    a, b = build({"name": "small", "seed": 3}), build({"name": "small", "seed": 3})
    assert np.array_equal(a.cooc, b.cooc) and not np.array_equal(a.cooc, build({"name": "small", "seed": 4}).cooc)
    assert a.cooc.sum() == 7 * 1024 * 4 * 4  # layer pairs x tokens x k x k
    assert moe.evaluate(INITIAL, {"name": "small"}) == moe.evaluate(INITIAL, {"name": "small"})
    assert moe.probe(INITIAL) == moe.probe(INITIAL)


def test_baselines_and_initial_cut_traffic_vs_affinity_blind():
    figs = moe.baseline_figures({"name": "small", "seed": 1})
    assert figs["greedy_affinity"]["cross_fraction"] < figs["load_balanced"]["cross_fraction"]
    assert figs["load_balanced"]["imbalance"] <= figs["round_robin"]["imbalance"]
    t = build({"name": "tiny"})
    for fn in BASELINES.values():
        check(t, fn(t))
    m = moe.evaluate(INITIAL, {"name": "small", "seed": 1})["metrics"]
    assert m["valid"] and m["traffic_cut"] > 0 and m["imbalance"] <= 2.0


def test_greedy_baseline_keeps_the_balance_bound_where_unbounded_greedy_breaks_it():
    # on a tight bound greedy gets stuck (no GPU with room fits the next expert): the bounded baseline
    # retries the layer with a tighter limit (or falls back to LPT), the unbounded one goes over
    t = build({"name": "small", "seed": 1, "balance_bound": 1.15})
    bounded, unbounded = score(t, BASELINES["greedy_affinity"](t)), score(t, BASELINES["greedy_affinity_unbounded"](t))
    assert bounded["imbalance"] <= 1.15 < unbounded["imbalance"]
    assert bounded["cross_fraction"] < score(t, BASELINES["load_balanced"](t))["cross_fraction"]


def test_traces_are_memoized_read_only_and_the_candidate_gets_a_copy():
    from evaluators.moe import traces
    a = build({"name": "tiny", "seed": 5})
    assert build({"name": "tiny", "seed": 5}) is a and not a.cooc.flags.writeable
    assert traces._generate(4, 16, 4, 2, 256, 4.0, 0.5, 5, 2.0).cooc.tolist() == a.cooc.tolist()
    with pytest.raises(ValueError):
        a.loads[0, 0] = 1.0
    copy = frozen_copy(a)
    assert copy.cooc is not a.cooc and np.array_equal(copy.cooc, a.cooc)
    for seed in range(traces.CACHED + 1):  # the oldest goes once more than CACHED traces were built
        build({"name": "tiny", "seed": 100 + seed})
    assert len(traces._CACHE) == traces.CACHED and build({"name": "tiny", "seed": 100}) is not None


def test_bad_workload_is_a_failure():
    out = moe.evaluate(INITIAL, {"name": "huge"})
    assert out["metrics"]["valid"] is False and "unknown instance" in out["artifacts"]["error"]
