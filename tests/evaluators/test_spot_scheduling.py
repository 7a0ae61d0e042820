"""Spot scheduling: the simulator's semantics on hand-worked cases, and the evaluator's API."""
from __future__ import annotations

import pytest

from evaluators.scheduling import spot
from evaluators.scheduling.spot_policies import BASELINES
from evaluators.scheduling.spot_sim import (NONE, ON_DEMAND, SPOT, ImpossibleAction, JobSpec,
                                            simulate, window)

TICK_SPOT = 0.9731 * 600 / 3600  # $ per 10-minute tick
TICK_OD = 3.06 * 600 / 3600


def scripted(plan):
    """A policy returning plan[tick] (the last entry repeats)."""
    seen = []

    def step(state):
        seen.append(state)
        return plan[min(state.tick, len(plan) - 1)]
    return step, seen


def spot_if_available(state):
    return SPOT if state.spot_available else NONE


def test_preemption_at_a_known_tick_keeps_progress_and_charges_a_restart():
    # 1 h of work (3600 s), overhead 0.05 h = 180 s. Spot ticks 0-2, lost at tick 3, back at 5.
    avail = [True, True, True, False, False] + [True] * 20
    seen = []

    def step(state):
        seen.append(state)
        return spot_if_available(state)
    r = simulate(step, avail, JobSpec(task_h=1.0, deadline_h=3.0, overhead_h=0.05))
    # progress: t0 600-180=420, t1 1020, t2 1620; t3 preempted, t3-4 wait;
    # t5 restart 420 -> 2040, t6 2640, t7 3240, t8 +360 -> 3600 done.
    assert r.actions == "SSS--SSSS"
    assert r.preemptions == 1 and seen[3].preempted and seen[3].instance == NONE
    assert [s.work_done_s for s in seen] == [0, 420, 1020, 1620, 1620, 1620, 2040, 2640, 3240]
    assert seen[5].overhead_left_s == 0 and seen[6].overhead_left_s == 0
    assert r.finished and not r.missed_deadline and r.end_tick == 9
    assert r.spot_ticks == 7 and r.cost == pytest.approx(7 * TICK_SPOT)  # 1.13528...


def test_switching_type_costs_an_overhead_and_is_billed():
    # 0.5 h = 1800 s of work, overhead 0.1 h = 360 s; on-demand at tick 0, then spot.
    step, seen = scripted([ON_DEMAND, SPOT])
    r = simulate(step, [True] * 10, JobSpec(task_h=0.5, deadline_h=2.0, overhead_h=0.1))
    # t0 OD 600-360 = 240; t1 switch: 240 more = 480; t2 1080; t3 1680; t4 +120 = 1800.
    assert [s.work_done_s for s in seen] == [0, 240, 480, 1080, 1680]
    assert r.actions == "OSSSS"
    assert r.cost == pytest.approx(TICK_OD + 4 * TICK_SPOT)  # 0.51 + 0.64873 = 1.15873


def test_an_overhead_longer_than_a_tick_carries_over():
    # overhead 0.25 h = 900 s: tick 0 makes no progress and leaves 300 s for tick 1.
    step, seen = scripted([ON_DEMAND])
    r = simulate(step, [False] * 10, JobSpec(task_h=0.5, deadline_h=2.0, overhead_h=0.25))
    assert seen[1].overhead_left_s == 300 and seen[1].work_done_s == 0
    assert seen[2].work_done_s == 300  # 1800 s of work: 300, 900, 1500, 1800 -> 5 ticks
    assert r.end_tick == 5 and r.cost == pytest.approx(5 * TICK_OD)


def test_pausing_then_resuming_the_same_type_pays_the_overhead_again():
    step, seen = scripted([SPOT, NONE, SPOT])
    simulate(step, [True] * 10, JobSpec(task_h=0.5, deadline_h=2.0, overhead_h=0.05))
    # t0 420; t1 pause; t2 restart 420 -> 840; t3 1440; t4 1800
    assert [s.work_done_s for s in seen] == [0, 420, 420, 840, 1440]


def test_spot_without_capacity_is_an_error_naming_the_tick():
    avail = [True, True, True, False] + [True] * 10
    step, _ = scripted([SPOT])
    with pytest.raises(ImpossibleAction, match="tick 3"):
        simulate(step, avail, JobSpec(task_h=1.0, deadline_h=2.0, overhead_h=0.05))


def test_waiting_past_the_deadline_is_a_miss():
    step, _ = scripted([NONE])
    r = simulate(step, [True] * 20, JobSpec(task_h=1.0, deadline_h=2.0, overhead_h=0.05))
    assert r.missed_deadline and not r.finished and r.end_tick == 12 and r.cost == 0


def test_on_demand_only_costs_289_ticks_on_a_real_window():
    # 48 h = 288 ticks of work plus an overhead below one tick -> 289 billed ticks = $147.39.
    for overhead in (0.02, 0.05, 0.1):
        r = simulate(BASELINES["on_demand"]().step, window("us-west-2a_k80_8", 0),
                     JobSpec(48.0, 52.0, overhead))
        assert r.end_tick == 289 and r.cost == pytest.approx(289 * TICK_OD)


def test_baselines_land_within_two_percent_of_the_published_figures():
    grid = spot.scenarios({"name": "full"})
    assert len(grid) == 1080
    reference = {"on_demand": 147.39, "greedy": 119.03, "uniform_progress": 99.23}
    for name, figure in reference.items():
        metrics, _ = spot.summarize(spot.run_policy(BASELINES[name], grid))
        assert metrics["deadline_misses"] == 0
        assert abs(metrics["mean_cost"] - figure) / figure < 0.02, (name, metrics["mean_cost"])


def write(tmp_path, body: str) -> str:
    path = tmp_path / "cand.py"
    path.write_text(body)
    return str(path)


def test_initial_program_passes_the_smoke_stage(tmp_path):
    from pathlib import Path
    program = Path(__file__).parents[2] / "problems" / "spot_scheduling" / "initial.py"
    out = spot.evaluate(str(program), {"name": "smoke"})
    m = out["metrics"]
    assert m["valid"] and m["deadline_misses"] == 0 and m["simulations"] == 72
    assert 0 <= m["score"] <= 100 and m["mean_cost"] < 147.39


@pytest.mark.parametrize("body, reason", [
    ("x = 1\n", "class `Policy`"),
    ("class Policy:\n    pass\n", "method `step"),
    ("class Policy:\n    def step(self, s):\n        return 'spot'\n", "returned 'spot'"),
    ("class Policy:\n    def step(self, s):\n        return 'SPOT'\n", "no spot capacity"),
    ("class Policy:\n    def step(self, s):\n        return 1 / 0\n", "tick 0: `step` raised"),
    ("class Policy:\n    def __init__(self):\n        raise ValueError('no')\n", "raised"),
    ("def broken(:\n", "importing the candidate failed"),
])
def test_invalid_candidates_fail_with_a_reason(tmp_path, body, reason):
    out = spot.evaluate(write(tmp_path, body), {"name": "smoke"})
    assert out["metrics"]["valid"] is False
    assert reason in out["artifacts"]["error"]


def test_a_policy_that_misses_deadlines_is_reported(tmp_path):
    body = "class Policy:\n    def step(self, s):\n        return 'NONE'\n"
    m = spot.evaluate(write(tmp_path, body), {"name": "probe"})["metrics"]
    assert m["valid"] and m["deadline_misses"] == 2


def test_probe_is_the_action_sequence_and_deterministic():
    from pathlib import Path
    program = str(Path(__file__).parents[2] / "problems" / "spot_scheduling" / "initial.py")
    first = spot.probe(program, {"name": "probe"})
    assert first == spot.probe(program, {"name": "probe"})
    assert len(first) == 2 and all(set(a) <= set("SO-") for a in first)


def test_normalized_score_matches_the_leaderboard_formula():
    assert spot.normalized_score(146.88) == 0
    assert spot.normalized_score(46.71) == 100
    assert spot.normalized_score(96.795) == pytest.approx(50)
    assert spot.normalized_score(200) == 0
