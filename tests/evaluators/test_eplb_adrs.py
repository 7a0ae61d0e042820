"""EPLB `scoring: adrs`, vLLM-style load histories and the reference's tie order, all hand-worked."""
from __future__ import annotations

import importlib.util
import itertools
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from evaluators.eplb import evaluate, runner  # noqa: E402
from evaluators.eplb.adrs import harness_window, leaderboard_score  # noqa: E402
from evaluators.eplb.baselines import (  # noqa: E402
    balanced_packing, global_greedy, hierarchical, hierarchical_stable)
from evaluators.eplb.compare import format_rows, published_rows  # noqa: E402
from evaluators.eplb.history import load_history  # noqa: E402
from evaluators.eplb.simulate import score_window  # noqa: E402
from evaluators.eplb.torch_order import descending_order  # noqa: E402
from evaluators.eplb.workloads import Setup, WorkloadError, build_workload  # noqa: E402

HIER = "from evaluators.eplb.baselines import hierarchical as rebalance_experts\n"
# 16 experts in 4 groups, 2 nodes x 2 GPUs, 20 slots (5 per GPU)
TINY = {"groups": 4, "nodes": 2, "gpus": 4, "replicas": 20}


def write(tmp_path, body: str, name: str = "cand.py") -> str:
    path = tmp_path / name
    path.write_text(body)
    return str(path)


@pytest.fixture
def fake_clock(monkeypatch):
    """Every reading of the evaluator's clock advances it by 4 ms: every call takes 4 ms (speed term 2.5).
    Calling the fixture's value starts the clock again from 0."""
    def restart():
        ticks = itertools.count()
        monkeypatch.setattr(runner, "perf_counter", lambda: next(ticks) * 0.004)
    restart()
    return restart


# ---------------------------------------------------------------- the harness's balancedness, by hand

TWO_LAYERS = Setup(num_layers=2, num_logical=4, num_groups=1, num_nodes=1, num_gpus=2, num_replicas=4)
IDENTITY = np.array([[0, 1, 2, 3], [0, 1, 2, 3]])
ONES = np.ones((2, 4), dtype=np.int64)


def test_harness_balancedness_is_a_ratio_of_sums_over_layers():
    load = np.array([[3.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
    # GPU loads: layer 0 [3+1, 1+1] = [4, 2] (mean 3, max 4); layer 1 [2, 2] (mean 2, max 2)
    out = harness_window(load, IDENTITY, ONES, TWO_LAYERS)
    assert out["adrs_balancedness"] == pytest.approx((3 + 2) / (4 + 2))  # 0.8333...
    assert score_window(load, IDENTITY, ONES, TWO_LAYERS)["balancedness"] == pytest.approx((3 / 4 + 1) / 2)  # 0.875
    # slots: layer 0 [3, 1, 1, 1] (mean 1.5, max 3); layer 1 [1, 1, 1, 1] (mean 1, max 1)
    assert out["adrs_balancedness_expert"] == pytest.approx((1.5 + 1) / (3 + 1))
    assert out["adrs_unhandled"] == 0


def test_harness_window_without_load_and_unhandled_experts():
    out = harness_window(np.zeros((2, 4)), IDENTITY, ONES, TWO_LAYERS)
    assert out == {"adrs_balancedness": 0.0, "adrs_balancedness_expert": 0.0, "adrs_unhandled": 0}
    phy2log = np.array([[0, 0, 1, 2], [0, 1, 2, 3]])  # layer 0: expert 3 has no replica
    logcnt = np.array([[2, 1, 1, 0], [1, 1, 1, 1]])
    out = harness_window(np.array([[2.0, 1.0, 1.0, 5.0], [1.0] * 4]), phy2log, logcnt, TWO_LAYERS)
    assert out["adrs_unhandled"] == 1
    # layer 0 GPUs [1+1, 1+1] (expert 3's 5 tokens are lost), layer 1 [2, 2]
    assert out["adrs_balancedness"] == pytest.approx(1.0)


@pytest.mark.parametrize("balance, t, unhandled, want", [
    (0.8, 0.004, 0, 72 + 5 * 0.5),           # 2 ms / 4 ms = 0.5
    (0.8, 0.0005, 0, 72 + 10),               # speed capped at 2 * 5
    (0.8, 0.01, 0, 72 + 1),                  # exactly 10 ms: no penalty yet
    (0.8, 0.02, 0, 72 + 0.5 - 0.4),          # penalty 20 t
    (0.8, 2.0, 0, 72 + 0.005 - 20),          # penalty capped at 20
    (0.8, 0.0, 0, 72 + 10),                  # zero time: the harness's speed_raw = 2
    (0.8, 0.004, 3, 0.0),                    # unhandled next-window load zeroes the score
])
def test_leaderboard_score_hand_worked(balance, t, unhandled, want):
    assert leaderboard_score(balance, t, unhandled) == pytest.approx(want)


# ---------------------------------------------------------------- evaluate / cost under scoring: adrs

def test_ours_is_the_default_and_unchanged(tmp_path, fake_clock):
    cand = write(tmp_path, HIER)
    plain = json.dumps(evaluate(cand, {"name": "small", "seed": 1}))
    fake_clock()
    ours = json.dumps(evaluate(cand, {"name": "small", "seed": 1, "scoring": "ours"}))
    assert plain == ours and "adrs_balancedness_next" not in plain and '"scoring"' not in plain


def test_adrs_metrics_hand_checked(tmp_path, fake_clock):
    cand = write(tmp_path, HIER)
    ours = evaluate(cand, {"name": "small", "seed": 1})
    adrs = evaluate(cand, {"name": "small", "seed": 1, "scoring": "adrs"})
    m, rows = adrs["metrics"], adrs["artifacts"]["windows"]
    for key in ("balancedness", "balancedness_next", "node_balancedness", "worst_layer_balancedness"):
        assert m[key] == ours["metrics"][key]  # our own metrics keep their meaning
    assert len(rows) == 2  # small has 3 windows: every window but the last, as the harness
    assert m["adrs_balancedness_next"] == pytest.approx(np.mean([r["adrs_balancedness_next"] for r in rows]))
    assert m["adrs_balancedness_next"] < m["balancedness_next"]
    assert m["runtime_s"] == pytest.approx(0.004) and m["adrs_unhandled_next"] == 0
    assert m["adrs_score"] == pytest.approx(90 * m["adrs_balancedness_next"] + 2.5)
    assert adrs["artifacts"]["workload"]["scoring"] == "adrs"
    assert "mean of" in adrs["artifacts"]["feedback"] and "ADRS leaderboard" in adrs["artifacts"]["feedback"]


def test_adrs_runtime_is_the_mean_ours_the_median(tmp_path):
    body = ("import time\nfrom evaluators.eplb.baselines import hierarchical\ncalls = []\n"
            "def rebalance_experts(*a):\n    calls.append(1)\n"
            "    if len(calls) == 1:\n        time.sleep(0.1)\n    return hierarchical(*a)\n")
    spec = {"name": "small", "seed": 1, "repeats": 5}
    ours = evaluate(write(tmp_path, body, "a.py"), spec)["metrics"]["runtime_s"]
    adrs = evaluate(write(tmp_path, body, "b.py"), {**spec, "scoring": "adrs"})
    times = adrs["artifacts"]["call_seconds"]
    assert len(times) == 5 and times[0] >= 0.1
    assert adrs["metrics"]["runtime_s"] == pytest.approx(statistics.mean(times), abs=1e-5)
    assert ours < 0.1 / 5 <= adrs["metrics"]["runtime_s"]


def test_adrs_score_is_zero_when_the_next_window_has_unhandled_load(tmp_path, fake_clock):
    # window 0: expert 0 idle, so the candidate may leave it without a replica; window 1 gives it load
    load = np.ones((2, 1, 4), dtype=np.int64) * 100
    load[0, 0, 0] = 0
    np.save(tmp_path / "h.npy", load)
    body = ("import numpy as np\nfrom evaluators.eplb.baselines import log2phy_from_phy2log\n"
            "def rebalance_experts(w, r, g, n, gpus):\n    p = np.array([[1, 2, 3, 1]] * len(w))\n"
            "    l2p, cnt = log2phy_from_phy2log(p, w.shape[1])\n    return p, l2p, cnt\n")
    spec = {"load_history": str(tmp_path / "h.npy"), "window_steps": 1, "groups": 1, "nodes": 1, "gpus": 2,
            "replicas": 4, "scoring": "adrs"}
    m = evaluate(write(tmp_path, body), spec)["metrics"]
    assert m["valid"] is True and m["adrs_unhandled_next"] == 1 and m["unserved_next"] == pytest.approx(0.25)
    assert m["adrs_score"] == 0.0


def test_cost_only_under_adrs(tmp_path, fake_clock):
    cand = write(tmp_path, HIER)
    known = {"balancedness": 0.93, "adrs_balancedness_next": 0.7, "adrs_unhandled_next": 0}
    spec = {"name": "small", "seed": 1, "scoring": "adrs", "measure": "cost", "known": known}
    m = evaluate(cand, spec)["metrics"]
    assert set(m) == {"runtime_s", "adrs_score"} and m["runtime_s"] == pytest.approx(0.004)
    assert m["adrs_score"] == pytest.approx(90 * 0.7 + 2.5)  # the next-window figure, not 0.93
    zero = evaluate(cand, {**spec, "known": {**known, "adrs_unhandled_next": 2}})["metrics"]
    assert zero["adrs_score"] == 0.0
    assert set(evaluate(cand, {**spec, "known": {"balancedness": 0.9}})["metrics"]) == {"runtime_s"}
    ours = evaluate(cand, {**spec, "scoring": "ours"})["metrics"]  # unchanged: median, in-sample
    assert ours["adrs_score"] == pytest.approx(90 * 0.93 + 2.5)


def test_bad_scoring_names_the_key():
    with pytest.raises(WorkloadError, match="'scoring' must be 'ours'.*or 'adrs'"):
        build_workload({"name": "small", "scoring": "leaderboard"})


# ---------------------------------------------------------------- vLLM-style load history

def _history(tmp_path, steps=250, name="h.npy"):
    # step s gives every (layer, expert) s % 3 + 1 tokens, expert e of layer l also gets e * (l + 1)
    s = np.arange(steps)[:, None, None]
    counts = (s % 3 + 1) + np.arange(16)[None, None, :] * np.arange(1, 3)[None, :, None]
    np.save(tmp_path / name, counts.astype(np.int64))
    return tmp_path / name, counts


def test_history_sums_windows_of_100_steps(tmp_path):
    path, counts = _history(tmp_path)
    load = load_history(path)
    assert load.shape == (3, 2, 16) and load.dtype == np.float64  # 100 + 100 + 50 steps
    # steps 0..99: s % 3 + 1 sums to 34 * 1 + 33 * 2 + 33 * 3 = 199; expert 5 of layer 1 adds 10 per step
    assert load[0, 0, 0] == 199 and load[0, 1, 5] == 199 + 100 * 10
    # steps 100..199: 100 % 3 = 1, so 34 twos, 33 threes, 33 ones = 200; steps 200..249: 17 * 3 + 17 * 1 + 16 * 2
    assert load[1, 0, 0] == 200 and load[2, 0, 0] == 17 * 3 + 17 * 1 + 16 * 2
    np.testing.assert_array_equal(load.sum(axis=0), counts.sum(axis=0))
    assert load_history(path, window_steps=125).shape == (2, 2, 16)


def test_history_as_a_workload(tmp_path):
    path, _ = _history(tmp_path)
    wl = build_workload({"load_history": str(path), **TINY})
    assert wl.load.shape == (3, 2, 16) and wl.eval_windows == 2 and wl.describe()["window_steps"] == 100
    adrs = build_workload({"load_history": str(path), "window_steps": 10, "scoring": "adrs", **TINY})
    assert adrs.load.shape == (25, 2, 16) and adrs.eval_windows == 24  # every window but the last
    m = evaluate(str(ROOT / "problems" / "eplb" / "initial.py"),
                 {"load_history": str(path), "scoring": "adrs", **TINY})["metrics"]
    assert m["valid"] is True and 0 < m["adrs_balancedness_next"] <= 1


def test_history_from_json_in_the_harness_layout(tmp_path):
    path, counts = _history(tmp_path, steps=120)
    doc = {"load_history": [{"timestamp": i, "logical_expert_load": c.tolist()} for i, c in enumerate(counts)]}
    (tmp_path / "h.json").write_text(json.dumps(doc))
    np.testing.assert_array_equal(load_history(tmp_path / "h.json"), load_history(path))


def test_history_from_torch_file(tmp_path):
    path, counts = _history(tmp_path)
    if importlib.util.find_spec("torch") is None:
        (tmp_path / "h.pt").write_bytes(b"whatever")
        with pytest.raises(WorkloadError, match=r"h\.pt: reading a \.pt file needs torch"):
            build_workload({"load_history": str(tmp_path / "h.pt"), **TINY})
        return
    import torch
    torch.save(torch.from_numpy(counts), tmp_path / "h.pt")
    np.testing.assert_array_equal(load_history(tmp_path / "h.pt"), load_history(path))


@pytest.mark.parametrize("array, expect", [
    (np.ones((250, 16), dtype=np.int64), r"shaped \[steps, layers, experts\], got shape \(250, 16\); for a single"),
    (np.ones((250, 2, 16)), r"integer token counts .* got dtype float64; .*astype\(numpy.int64\)"),
    (np.ones((250, 2, 16), dtype=bool), "got dtype bool"),
    (np.ones((0, 2, 16), dtype=np.int64), r"got shape \(0, 2, 16\)"),
    (np.ones((100, 2, 16), dtype=np.int64), "100 steps make 1 window of 100 steps; need at least 2"),
    (-np.ones((250, 2, 16), dtype=np.int64), "negative count -1 at step 0, layer 0, expert 0"),
])
def test_bad_history_names_the_file_and_the_fix(tmp_path, array, expect):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(WorkloadError, match=expect) as err:
        build_workload({"load_history": str(tmp_path / "bad.npy"), **TINY})
    assert "bad.npy" in str(err.value)
    spec = {"load_history": str(tmp_path / "bad.npy"), **TINY}
    result = evaluate(str(ROOT / "problems" / "eplb" / "initial.py"), spec)
    assert result["metrics"]["valid"] is False and "bad.npy" in result["artifacts"]["error"]


@pytest.mark.parametrize("spec, expect", [
    ({"window_steps": 0}, "'window_steps' must be a positive integer"),
    ({"window_steps": "100"}, "'window_steps' must be a positive integer"),
    ({"path": "x.npz"}, "either 'path'.*or 'load_history'"),
])
def test_bad_history_keys(tmp_path, spec, expect):
    path, _ = _history(tmp_path)
    with pytest.raises(WorkloadError, match=expect):
        build_workload({"load_history": str(path), **TINY, **spec})


def test_bad_history_files(tmp_path):
    with pytest.raises(WorkloadError, match="load_history file not found: nowhere.npy"):
        build_workload({"load_history": "nowhere.npy", **TINY})
    with pytest.raises(WorkloadError, match="'window_steps' applies to a 'load_history' trace only"):
        build_workload({"name": "small", "window_steps": 100})
    with pytest.raises(WorkloadError, match="must be a file path"):
        build_workload({"load_history": 3, **TINY})
    (tmp_path / "h.csv").write_text("1,2\n")
    with pytest.raises(WorkloadError, match=r"h\.csv: load_history must be a \.npy, \.pt/\.pth or \.json file"):
        build_workload({"load_history": str(tmp_path / "h.csv"), **TINY})
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(WorkloadError, match=r"junk\.npy: cannot read as \.npy"):
        build_workload({"load_history": str(tmp_path / "junk.npy"), **TINY})
    (tmp_path / "h.json").write_text(json.dumps({"load_history": [{"other": 1}]}))
    with pytest.raises(WorkloadError, match=r"h\.json: step 0 has no 'logical_expert_load'"):
        build_workload({"load_history": str(tmp_path / "h.json"), **TINY})
    (tmp_path / "r.json").write_text(json.dumps({"load_history": [{"logical_expert_load": [[1, 2]]},
                                                                  {"logical_expert_load": [[1, 2, 3]]}]}))
    with pytest.raises(WorkloadError, match=r"r\.json: steps differ in shape"):
        build_workload({"load_history": str(tmp_path / "r.json"), **TINY})


# ---------------------------------------------------------------- the reference's tie order, by hand

def test_torch_order_is_stable_up_to_16_items():
    assert descending_order(np.array([[1.0, 3.0, 3.0, 2.0]])).tolist() == [[1, 2, 3, 0]]
    assert descending_order(np.zeros((1, 16))).tolist() == [list(range(16))]


def test_torch_order_of_17_and_18_equal_items():
    # 17 ties: median of (1, 8, 16) is item 8 -> front; the two pointers stop on every tie and swap
    # (1,16) (2,15) ... (8,9): the cut lands at 9, both parts are <= 16, the insertion pass keeps the rest
    assert descending_order(np.zeros((1, 17))).tolist() == [[8, 16, 15, 14, 13, 12, 11, 10, 9, 0,
                                                             7, 6, 5, 4, 3, 2, 1]]
    # 18 ties: pivot item 9, swaps (1,17) ... (8,10), cut at 9
    assert descending_order(np.zeros((1, 18))).tolist() == [[9, 17, 16, 15, 14, 13, 12, 11, 10, 0,
                                                             8, 7, 6, 5, 4, 3, 2, 1]]
    # without ties the order is the sorted one, whatever the algorithm
    row = np.random.default_rng(0).permutation(40).astype(np.float32)[None]
    assert descending_order(row).tolist() == np.argsort(-row, axis=1).tolist()


def test_balanced_packing_follows_the_reference_order_on_ties():
    pack, rank = balanced_packing(np.ones((1, 18)), 2)
    # items in order 9, 17, 16, ..., 10, 0, 8, ..., 1 alternate between the (equally light) packs
    assert pack.tolist() == [[1, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1]]
    assert rank.tolist() == [[4, 8, 8, 7, 7, 6, 6, 5, 5, 0, 4, 3, 3, 2, 2, 1, 1, 0]]
    stable, _ = balanced_packing(np.ones((1, 18)), 2, ties="stable")
    assert stable.tolist() == [[i % 2 for i in range(18)]]
    # one item per pack: item i goes to pack i, whatever the loads (the reference does not sort)
    assert balanced_packing(np.array([[1.0, 5.0, 3.0]]), 3)[0].tolist() == [[0, 1, 2]]
    assert balanced_packing(np.array([[1.0, 5.0, 3.0]]), 3, ties="stable")[0].tolist() == [[2, 0, 1]]


def test_hierarchical_placement_on_ties_hand_worked():
    # 16 experts, 1 group, 1 node, 2 GPUs x 9 slots. Loads 2, 2, 1 x 14: the two extra replicas go to
    # expert 0 then expert 1 (first maximum), leaving 18 replicas of load 1 each: a full tie.
    load = np.array([[2.0, 2.0] + [1.0] * 14])
    phy2log, _, logcnt = hierarchical(load, 18, 1, 1, 2)
    # replica j is expert j (j < 16), replica 16 expert 0, 17 expert 1; packed in the 18-tie order above
    assert phy2log.tolist() == [[9, 0, 14, 12, 10, 8, 6, 4, 2, 1, 15, 13, 11, 0, 7, 5, 3, 1]]
    stable, _, stable_cnt = hierarchical_stable(load, 18, 1, 1, 2)
    assert stable.tolist() == [[0, 2, 4, 6, 8, 10, 12, 14, 0, 1, 3, 5, 7, 9, 11, 13, 15, 1]]
    np.testing.assert_array_equal(logcnt, stable_cnt)
    setup = Setup(num_layers=1, num_logical=16, num_groups=1, num_nodes=1, num_gpus=2, num_replicas=18)
    assert score_window(load, phy2log, logcnt, setup)["balancedness"] == 1.0  # 9 and 9 either way
    assert score_window(load, stable, stable_cnt, setup)["balancedness"] == 1.0
    nxt = np.array([[4.0] + [1.0] * 15])  # expert 0 heats up: 2 per replica
    # reference: GPU0 = 1 + 2 + 7 = 10, GPU1 = .5 + 3 + 2 + 3 + .5 = 9; stable: GPU0 = 2 + 7 + 2 = 11, GPU1 = 8
    assert score_window(nxt, phy2log, logcnt, setup)["balancedness"] == pytest.approx(9.5 / 10)
    assert score_window(nxt, stable, stable_cnt, setup)["balancedness"] == pytest.approx(9.5 / 11)


def test_baselines_are_computed_in_float32_like_the_reference():
    # 2**24 + 1 and 2**24 are one float32: a tie for the reference (first index wins), not in float64
    load = np.array([[2.0 ** 24, 2.0 ** 24 + 1, 1.0, 1.0]])
    assert global_greedy(load, 5, 1, 1, 1)[2].tolist() == [[2, 1, 1, 1]]
    assert global_greedy(load, 5, 1, 1, 1, ties="stable")[2].tolist() == [[1, 2, 1, 1]]
    with pytest.raises(ValueError, match="ties must be one of"):
        hierarchical(load, 5, 1, 1, 1, ties="random")


CPP = r"""
#include <algorithm>
#include <cstdio>
#include <utility>
#include <vector>
int main() {
  int n;
  while (std::scanf("%d", &n) == 1) {
    std::vector<std::pair<float, long>> v(n);
    for (int i = 0; i < n; ++i) { std::scanf("%f", &v[i].first); v[i].second = i; }
    std::sort(v.begin(), v.end(), [](const std::pair<float, long>& a, const std::pair<float, long>& b) {
      return a.first > b.first; });
    for (int i = 0; i < n; ++i) std::printf("%ld ", v[i].second);
    std::printf("\n");
  }
}
"""


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs a C++ compiler to run the real std::sort")
def test_torch_order_matches_libstdcxx_std_sort(tmp_path):
    """torch's CPU sort(stable=False) is std::sort on (value, index) pairs compared by value."""
    (tmp_path / "s.cpp").write_text(CPP)
    subprocess.run(["g++", "-O1", "-o", str(tmp_path / "s"), str(tmp_path / "s.cpp")], check=True)
    rng = np.random.default_rng(7)
    rows = [rng.integers(0, k, n).astype(np.float32) for n in (17, 33, 72, 288) for k in (1, 2, 5, 50)
            for _ in range(5)]
    rows.append(np.minimum(np.arange(1000), 1000 - np.arange(1000)).astype(np.float32))  # reaches the heap sort
    text = "".join(f"{len(r)} " + " ".join(repr(float(x)) for x in r) + "\n" for r in rows)
    out = subprocess.run([str(tmp_path / "s")], input=text, capture_output=True, text=True, check=True).stdout
    for row, line in zip(rows, out.splitlines()):
        assert descending_order(row[None])[0].tolist() == [int(x) for x in line.split()]


def test_torch_order_matches_torch_sort_itself():
    """Where torch is installed (CI installs the gpu extra): the emulation against torch.sort(descending=True),
    the call DeepSeek's reference makes, on rows with many ties."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    rows = [rng.integers(0, k, n).astype(np.float32) for n in (9, 16, 17, 33, 72, 288) for k in (1, 2, 5, 50)
            for _ in range(5)]
    rows.append(np.minimum(np.arange(1000), 1000 - np.arange(1000)).astype(np.float32))
    for row in rows:
        expected = torch.from_numpy(row).sort(-1, descending=True).indices.tolist()
        assert descending_order(row[None])[0].tolist() == expected, len(row)


# ---------------------------------------------------------------- the README's comparison table

def test_published_rows():
    rows = published_rows({"name": "small", "seed": 1})
    assert [r["baseline"] for r in rows] == ["no_rebalancing", "hierarchical", "global_greedy"]
    for r in rows:
        assert 0 < r["adrs_balancedness_next"] <= 1 and 0 < r["ours_balancedness_next"] <= 1
        assert r["adrs_runtime"] > 0 and r["ours_runtime"] > 0
        assert r["adrs_score"] == pytest.approx(leaderboard_score(r["adrs_balancedness_next"], r["adrs_runtime"]))
        assert r["balancedness_next_diff_pct"] == pytest.approx(
            100 * (r["adrs_balancedness_next"] / r["ours_balancedness_next"] - 1))
    assert format_rows(rows).count("\n") == 4
