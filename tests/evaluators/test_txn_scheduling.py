"""Transaction scheduling: the lock model on hand-worked cases, and the evaluator's API."""
from __future__ import annotations

from pathlib import Path

import pytest

from evaluators.scheduling import txn
from evaluators.scheduling.txn_baselines import BASELINES
from evaluators.scheduling.txn_sim import load_workloads, lower_bound, makespan, parse_txn, schedule_times

INITIAL = str(Path(__file__).parents[2] / "problems" / "txn_scheduling" / "initial.py")


def txns(**texts):
    return {tid: parse_txn(tid, text) for tid, text in texts.items()}


def test_a_write_conflict_delays_the_later_transaction_until_commit():
    w = txns(A="w-1 r-2", B="r-3 w-1")
    # A runs 0-2 holding key 1 from 0; B writes key 1 at its op 1, so S_B + 1 >= 2 -> S_B = 1.
    assert schedule_times(w, ["A", "B"]) == [("A", 0, 2), ("B", 1, 3)]
    assert makespan(w, ["A", "B"]) == 3
    # B first holds key 1 from 1 to 2; A writes it at op 0 -> S_A = 2, commits at 4.
    assert schedule_times(w, ["B", "A"]) == [("B", 0, 2), ("A", 2, 4)]
    assert makespan(w, ["B", "A"]) == 4


def test_reads_share_and_a_write_excludes_readers():
    assert makespan(txns(A="r-1 *", B="r-1 *"), ["A", "B"]) == 2
    assert schedule_times(txns(A="r-1 *", B="w-1"), ["A", "B"]) == [("A", 0, 2), ("B", 2, 3)]
    assert schedule_times(txns(A="w-1", B="r-1 *"), ["A", "B"]) == [("A", 0, 1), ("B", 1, 3)]


def test_transactions_start_in_schedule_order():
    w = txns(A="w-1", B="w-1 *", C="* *")
    # B waits for A (starts at 1); C conflicts with nothing but may not start before B.
    assert schedule_times(w, ["A", "B", "C"]) == [("A", 0, 1), ("B", 1, 3), ("C", 1, 3)]


def test_lower_bound_serializes_a_hot_key():
    w = txns(A="w-1 * *", B="* w-1")
    # writers hold key 1 for 3 (from 0) and 1 (from 1): 0 + 3 + 1 = 4 > longest txn 3
    assert lower_bound(w) == 4
    assert min(makespan(w, ["A", "B"]), makespan(w, ["B", "A"])) == 4


def test_malformed_op_is_rejected():
    with pytest.raises(ValueError, match="malformed op"):
        parse_txn("t", "x-1")


def test_baselines_and_bounds_on_the_shipped_workloads():
    data = load_workloads()
    assert set(data) == {"WORKLOAD_1", "WORKLOAD_2", "WORKLOAD_3"}
    for w in data.values():
        assert len(w) == 100
        spans = {name: makespan(w, f(w)) for name, f in BASELINES.items()}
        assert sorted(BASELINES["greedy_append"](w)) == sorted(w)
        assert lower_bound(w) <= min(spans.values())
        assert spans["greedy_append"] <= spans["given_order"]


def test_initial_program_is_valid_and_matches_the_greedy_baseline():
    out = txn.evaluate(INITIAL, {"name": "all"})
    m = out["metrics"]
    assert m["valid"]
    table = out["artifacts"]["per_workload"]
    assert m["makespan_total"] == sum(row["greedy_append"] for row in table.values())
    assert m["lower_bound_total"] <= m["makespan_total"]


def write(tmp_path, body: str) -> str:
    path = tmp_path / "cand.py"
    path.write_text(body)
    return str(path)


@pytest.mark.parametrize("body, reason", [
    ("x = 1\n", "function `schedule`"),
    ("def schedule(w):\n    return 'txn0'\n", "list of transaction ids"),
    ("def schedule(w):\n    return list(w.txns)[:-1]\n", "returned 99 ids"),
    ("def schedule(w):\n    ids = list(w.txns)\n    return ids[:-1] + ids[:1]\n", "repeated ['txn0']"),
    ("def schedule(w):\n    return list(range(100))\n", "unknown ids"),
    ("def schedule(w):\n    raise RuntimeError('boom')\n", "boom"),
])
def test_invalid_candidates_fail_with_a_reason(tmp_path, body, reason):
    out = txn.evaluate(write(tmp_path, body), {"name": "WORKLOAD_3"})
    assert out["metrics"]["valid"] is False
    assert reason in out["artifacts"]["error"]


def test_given_order_candidate_scores_the_given_order(tmp_path):
    out = txn.evaluate(write(tmp_path, "def schedule(w):\n    return list(w.txns)\n"), {"name": "all"})
    table = out["artifacts"]["per_workload"]
    assert out["metrics"]["makespan_total"] == sum(row["given_order"] for row in table.values())


def test_workload_oracle_agrees_with_the_evaluator(tmp_path):
    body = ("def schedule(w):\n    ids = sorted(w.txns, reverse=True)\n"
            "    p = w.start(ids[:50])\n    assert p.makespan == w.makespan(ids[:50])\n    return ids\n")
    assert txn.evaluate(write(tmp_path, body), {"name": "all"})["metrics"]["valid"]


def test_probe_returns_the_permutations():
    first = txn.probe(INITIAL, {"name": "all"})
    assert first == txn.probe(INITIAL, {"name": "all"})
    assert set(first) == {"WORKLOAD_1", "WORKLOAD_2", "WORKLOAD_3"}
    assert all(len(v) == 100 for v in first.values())


def test_a_cut_probe_orders_the_first_transactions_only():
    cut = txn.probe(INITIAL, {"workloads": ["WORKLOAD_1", "WORKLOAD_3"], "txns": 30})
    assert set(cut) == {"WORKLOAD_1", "WORKLOAD_3"} and all(len(v) == 30 for v in cut.values())
    assert set(cut["WORKLOAD_1"]) == set(list(txn.load_workloads()["WORKLOAD_1"])[:30])


# --- the `adrs` model: the ADRS leaderboard harness's per-op lock semantics, hand-worked --------------

def test_adrs_a_write_holds_its_key_for_one_instant():
    w = txns(A="w-1 * * * *", B="w-1 * * * *")
    # A writes key 1 at instant 0; B's write must come after it: B starts at 1 and commits at 6.
    assert schedule_times(w, ["A", "B"], "adrs") == [("A", 0, 5), ("B", 1, 6)]
    assert makespan(w, ["A", "B"], "adrs") == 6 and makespan(w, ["A", "B"]) == 10


def test_adrs_a_lock_is_released_right_after_its_op():
    w = txns(A="w-1 r-2", B="r-3 w-1")
    # A writes key 1 at 0; B writes it at its op 1, at 0 + 1 = 1 > 0: B starts at 0 with A.
    assert schedule_times(w, ["A", "B"], "adrs") == [("A", 0, 2), ("B", 0, 2)]
    assert makespan(w, ["A", "B"], "adrs") == 2 and makespan(w, ["A", "B"]) == 3


def test_adrs_reads_share_an_instant_and_a_write_comes_after_every_read():
    w = txns(A="r-1", B="r-1", C="w-1", D="r-1 *")
    # A and B read at 0 together; C writes after the last op on key 1 (1); D reads after C's write (2).
    assert schedule_times(w, ["A", "B", "C", "D"], "adrs") == [("A", 0, 1), ("B", 0, 1), ("C", 1, 2), ("D", 2, 4)]


def test_adrs_a_later_transaction_may_start_before_an_earlier_one():
    w = txns(A="w-1", B="* * w-1", C="w-2")
    # B's write at its op 2 must come after A's (0): B starts at 0; C touches key 2 only: 0 too.
    assert schedule_times(w, ["A", "B", "C"], "adrs") == [("A", 0, 1), ("B", 0, 3), ("C", 0, 1)]
    w = txns(A="* * * w-1", B="w-1 *", C="* w-2")
    # B's write comes after A's (at 3): B starts at 4; C, scheduled after B, still starts at 0.
    assert schedule_times(w, ["A", "B", "C"], "adrs") == [("A", 0, 4), ("B", 4, 6), ("C", 0, 2)]


def test_adrs_lower_bound_counts_a_keys_distinct_instants():
    from evaluators.scheduling.txn_sim import lower_bound_instants
    w = txns(A="* w-1 *", B="* w-1 *", C="* r-1 *")
    # three instants on key 1 (two writes, the reads' one), after a lead-in of 1 and before a tail of 1
    assert lower_bound_instants(w) == 5
    assert min(makespan(w, order, "adrs") for order in (["A", "B", "C"], ["C", "A", "B"], ["A", "C", "B"])) == 5


def test_adrs_baselines_match_the_published_harness():
    """The leaderboard's own figures: the given order totals 537 (452/38/47), shortest-first 555
    (452/56/47), the sum of the longest transactions 46 (its 100-point anchor, 16/21/9)."""
    data = load_workloads()
    given = [makespan(w, BASELINES["given_order"](w, "adrs"), "adrs") for w in data.values()]
    shortest = [makespan(w, BASELINES["shortest_first"](w, "adrs"), "adrs") for w in data.values()]
    assert given == [452, 38, 47] and shortest == [452, 56, 47]
    assert [max(t.length for t in w.values()) for w in data.values()] == [16, 21, 9]


def test_the_default_model_is_unchanged():
    result = txn.evaluate(INITIAL, {"name": "all"})
    assert result["metrics"]["makespan_total"] == 1572 and "adrs_score" not in result["metrics"]
    table = result["artifacts"]["per_workload"]
    assert sum(table[n]["given_order"] for n in table) == 1827
    assert txn.evaluate(INITIAL, {"name": "all", "model": "strict_2pl"})["metrics"]["makespan_total"] == 1572


def test_adrs_score_is_the_leaderboards_0_to_100():
    # 0 at the given order's 537, 100 at 46 + 0.1 * (537 - 46) = 95.1, linear between, clamped
    assert txn.adrs_score(537, 537, 46) == 0.0 and txn.adrs_score(600, 537, 46) == 0.0
    assert txn.adrs_score(95, 537, 46) == 100.0
    assert txn.adrs_score(316, 537, 46) == pytest.approx(100 * 221 / 441.9)
    result = txn.evaluate(INITIAL, {"name": "all", "model": "adrs"})
    m = result["metrics"]
    assert m["makespan_total"] == 323 and m["adrs_score"] == pytest.approx(100 * (537 - 323) / 441.9)
    assert "adrs_score" not in txn.evaluate(INITIAL, {"name": "WORKLOAD_3", "model": "adrs"})["metrics"]


def test_an_unknown_model_names_the_key_and_the_known_ones():
    error = txn.evaluate(INITIAL, {"name": "all", "model": "2pl"})["artifacts"]["error"]
    assert "`model`" in error and "strict_2pl, adrs" in error
