"""Hand-worked semantics of the multi-zone spot simulator and its evaluator."""
from __future__ import annotations

from pathlib import Path

import pytest

from evaluators.scheduling import spot_multi
from evaluators.scheduling.spot_multi_sim import simulate_multi
from evaluators.scheduling.spot_sim import NONE, ON_DEMAND, SPOT, ImpossibleAction, JobSpec

ROOT = Path(__file__).resolve().parents[2]
INITIAL = ROOT / "problems" / "spot_scheduling_multi" / "initial.py"
TICK_SPOT = 0.9731 / 6  # $ per 600 s tick
TICK_OD = 3.06 / 6


def go_where_spot(state):
    for z, ok in enumerate(state.spot_available):
        if ok:
            return SPOT, z
    return ON_DEMAND, state.zone


def test_zone_switch_by_hand():
    # task 0.5 h = 1800 s, overhead 0.05 h = 180 s, 600 s ticks. Zone 0 has spot only at tick 0.
    # t0: start spot z0, overhead 180 -> progress 420.   t1: z0 gone (preempted), move to z1: overhead 180 -> 840.
    # t2: +600 -> 1440.   t3: +360 (capped) -> 1800 done. 4 spot ticks billed = 4 * 0.9731/6 = 0.64873.
    traces = ([True, False, False, False, False], [True] * 5)
    r = simulate_multi(go_where_spot, traces, JobSpec(0.5, 2.0, 0.05))
    assert r.finished and not r.missed_deadline
    assert r.actions == "S0S1S1S1"
    assert r.cost == pytest.approx(4 * TICK_SPOT)
    assert r.preemptions == 1 and r.notes["zone_switches"] == 1 and r.end_tick == 4


def test_overhead_on_move_while_running_on_demand():
    # task 0.45 h = 1620 s, overhead 180 s. Staying in zone 0: 420 + 600 + 600 = 1620 -> done in 3 ticks.
    # Moving to zone 1 at t1 pays the overhead again: 420, 840, 1440, 1620 -> 4 on-demand ticks.
    job = JobSpec(0.45, 2.0, 0.05)
    plan = iter([(ON_DEMAND, 0), (ON_DEMAND, 1), (ON_DEMAND, 1), (ON_DEMAND, 1)])
    moved = simulate_multi(lambda s: next(plan), ([False] * 5, [False] * 5), job)
    assert moved.actions == "O0O1O1O1" and moved.cost == pytest.approx(4 * TICK_OD)
    assert moved.notes["zone_switches"] == 1
    stay = simulate_multi(lambda s: (ON_DEMAND, 0), ([False] * 5, [False] * 5), job)
    assert stay.actions == "O0O0O0" and stay.cost == pytest.approx(3 * TICK_OD)


def test_spot_where_unavailable_is_an_error():
    with pytest.raises(ImpossibleAction, match="zone 1 which has no spot"):
        simulate_multi(lambda s: (SPOT, 1), ([True] * 3, [False] * 3), JobSpec(0.5, 2.0, 0.05))


@pytest.mark.parametrize("answer, message", [((SPOT, 5), "unknown zone"), ("SPOT", "expected \\(action, zone\\)"),
                                             (("FAST", 0), "action 'FAST'"), ((SPOT, "0"), "unknown zone")])
def test_invalid_answers(answer, message):
    with pytest.raises(ImpossibleAction, match=message):
        simulate_multi(lambda s: answer, ([True] * 3, [True] * 3), JobSpec(0.5, 2.0, 0.05))


def test_deadline_miss():
    # waiting forever: deadline 0.5 h = 3 ticks, the run stops at tick 3 missed, cost 0
    r = simulate_multi(lambda s: (NONE, 0), ([True] * 9, [True] * 9), JobSpec(0.25, 0.5, 0.05))
    assert r.missed_deadline and not r.finished and r.end_tick == 3 and r.cost == 0


def _program(tmp_path, body):
    path = tmp_path / "cand.py"
    path.write_text(body)
    return str(path)


def test_evaluator_reports_invalid_and_exceptions(tmp_path):
    bad = spot_multi.evaluate(_program(tmp_path, "class Policy:\n def step(self, s): return ('SPOT', 9)\n"),
                              {"name": "smoke"})
    assert bad["metrics"]["valid"] is False and "unknown zone" in str(bad["artifacts"])
    boom = spot_multi.evaluate(_program(tmp_path, "class Policy:\n def step(self, s): 1/0\n"), {"name": "smoke"})
    assert boom["metrics"]["valid"] is False and "ZeroDivisionError" in str(boom["artifacts"])


def test_initial_deterministic_and_baselines(tmp_path):
    a = spot_multi.evaluate(str(INITIAL), {"name": "full"})["metrics"]
    b = spot_multi.evaluate(str(INITIAL), {"name": "full"})["metrics"]
    assert a["mean_cost"] == b["mean_cost"] and a["deadline_misses"] == 0
    assert spot_multi.probe(str(INITIAL)) == spot_multi.probe(str(INITIAL))
    od = spot_multi.evaluate(_program(tmp_path, "class Policy:\n def step(self, s): return ('ON_DEMAND', 0)\n"),
                             {"name": "full"})["metrics"]
    hop = _program(tmp_path, INITIAL.read_text().replace("HOP = 0", "HOP = 1"))
    hm = spot_multi.evaluate(hop, {"name": "full"})["metrics"]
    assert hm["deadline_misses"] == 0 and hm["mean_cost"] < a["mean_cost"] < od["mean_cost"]
    assert od["score"] < 1.0


def test_cost_bound_by_hand():
    # task 0.5 h = 3 ticks, deadline 1 h = 6 ticks; spot in some zone at ticks 1 and 4 only (zone 0 at 1,
    # zone 1 at 4; tick 7 is past the deadline): 2 spot ticks + 1 on-demand tick at best
    z0 = [False, True, False, False, False, False, False, True]
    z1 = [False, False, False, False, True, False, False, True]
    job = JobSpec(0.5, 1.0, 0.1)
    assert spot_multi.cost_bound((z0, z1), job) == pytest.approx(2 * TICK_SPOT + TICK_OD)
    # spot everywhere: all three ticks spot; no spot at all: all on-demand
    assert spot_multi.cost_bound(([True] * 8, [False] * 8), job) == pytest.approx(3 * TICK_SPOT)
    assert spot_multi.cost_bound(([False] * 8, [False] * 8), job) == pytest.approx(3 * TICK_OD)


def test_bound_is_below_every_policy_and_reported(tmp_path):
    for itype, index, job in spot_multi.scenarios({"name": "smoke"}):
        traces = spot_multi.zone_traces(itype, index)
        r = simulate_multi(go_where_spot, traces, job)
        assert r.cost >= spot_multi.cost_bound(traces, job) - 1e-9
    m = spot_multi.evaluate(str(INITIAL), {"name": "full"})["metrics"]
    assert 0 < m["bound_cost"] < m["mean_cost"]
    assert m["gap_to_bound"] == pytest.approx(m["mean_cost"] / m["bound_cost"] - 1)


def _trace(path, gap=600, n=5, **meta):
    import json
    path.write_text(json.dumps({"metadata": {"gap_seconds": gap, **meta}, "data": [0] * n}))
    return path


def test_shipped_traces_line_up():
    for itype in spot_multi.TYPES:
        spot_multi.check_aligned([spot_multi.DATA_DIR / f"{z}_{itype}.json" for z in spot_multi.ZONES])


@pytest.mark.parametrize("b, message", [
    ({"gap": 300}, "trace b.json: tick length .*300"),
    ({"n": 6}, "traces a.json and b.json do not line up: 5 and 6 ticks"),
    ({"start": 1700000600}, "traces a.json and b.json do not line up: they start at 1700000000 and 1700000600"),
])
def test_misaligned_traces_are_named(tmp_path, b, message):
    a = _trace(tmp_path / "a.json", start=1700000000)
    other = _trace(tmp_path / "b.json", **{"start": 1700000000, **b})
    with pytest.raises(spot_multi.TraceMismatch, match=message):
        spot_multi.check_aligned([a, other])


def test_evaluator_fails_clearly_on_misaligned_traces(tmp_path, monkeypatch):
    _trace(tmp_path / "us-west-2a_k80_8.json")
    _trace(tmp_path / "us-west-2b_k80_8.json", gap=60)
    monkeypatch.setattr(spot_multi, "DATA_DIR", tmp_path)
    spot_multi.check_type.cache_clear()
    try:
        out = spot_multi.evaluate(str(INITIAL), {"name": "smoke", "types": ["k80_8"]})
    finally:
        spot_multi.check_type.cache_clear()
    assert out["metrics"]["valid"] is False
    assert "do not line up" in out["artifacts"]["error"] and "us-west-2b_k80_8.json" in out["artifacts"]["error"]


# The probe. Two one-edit variants of the initial policy that score apart in the full stage but act alike on
# window 0 of both types (the old probe, `windows: 1` alone, merged them: found in offline-run corpora):
# the warm-spot branch never taken (a running spot goes on-demand when the endgame comes), and 16.75 s more
# work counted (ceil against the tick rounds up at some restart remainders only).
OLD_PROBE = {"name": "probe", "windows": 1, "heads": 0, "tails": 0}
NO_KEEP = (r"state\.overhead_left_s < 1e-3", "state.overhead_left_s > 1e-3")
ROUNDED = (r"\(state\.work_left_s \+ state\.overhead_s\)", "(state.work_left_s + state.overhead_s + 16.75)")
REWRITE = [(r"\bticks_left\b", "slack_ticks"), (r"\bhere\b", "where"), (r"return SPOT, where", "return (SPOT, where)  # go"),
           (r"if ticks_needed >= slack_ticks:", "if not slack_ticks > ticks_needed:"), (r"HOP = 0", "HOP = 0\nUNUSED = 7")]


def _edit(tmp_path, name, *edits):
    """The initial program with regex edits (each must match), written to tmp_path/name.py."""
    import re
    text = INITIAL.read_text()
    for old, new in edits:
        text, n = re.subn(old, new, text)
        assert n, old
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    return str(path)


def _probe_workload():
    import yaml
    return yaml.safe_load((ROOT / "problems" / "spot_scheduling_multi" / "problem.yaml").read_text())["workloads"]["probe"]


def test_probe_tells_apart_policies_that_part_at_rare_states(tmp_path):
    workload = _probe_workload()
    base = str(INITIAL)
    for name, edit in (("no_keep", NO_KEEP), ("rounded", ROUNDED)):
        other = _edit(tmp_path, name, edit)
        assert spot_multi.evaluate(other, {"name": "full"})["metrics"]["score"] != \
            spot_multi.evaluate(base, {"name": "full"})["metrics"]["score"]
        assert spot_multi.probe(other, OLD_PROBE) == spot_multi.probe(base, OLD_PROBE)  # the old probe merged them
        assert spot_multi.probe(other, workload) != spot_multi.probe(base, workload)


def test_probe_keeps_a_rewrite_and_is_cheap(tmp_path):
    workload = _probe_workload()
    rewrite = _edit(tmp_path, "rewrite", *REWRITE)
    first = spot_multi.probe(str(INITIAL), workload)
    assert spot_multi.probe(rewrite, workload) == first == spot_multi.probe(str(INITIAL), workload)
    # the probe's decisions cost about what the old dozen whole runs did (a whole run is ~300 ticks)
    ticks = sum(len(s.replace("0", "").replace("1", "").split("!")[0]) for s in first)
    old = sum(len(s.replace("0", "").replace("1", "")) for s in spot_multi.probe(str(INITIAL), OLD_PROBE))
    assert len(first) == 320 and ticks <= 1.1 * old


def test_probe_segments_show_the_real_job_late_in_a_run():
    seen = []

    class Spy:
        def step(self, state):
            seen.append((state.task_s, state.deadline_s, state.tick, state.elapsed_s, state.work_done_s))
            return NONE, state.zone

    tails = [s for s in spot_multi.segments(_probe_workload()) if s.start > 0]
    assert len(tails) == 300 and {s.job.overhead_h for s in tails} == {0.02, 0.05, 0.1}
    seg = next(s for s in tails if s.first is None)
    out = spot_multi._decisions(Spy, seg)
    task_s, deadline_s, tick, elapsed, done = seen[0]
    assert task_s == 48 * 3600 and deadline_s == seg.job.deadline_h * 3600
    assert tick == seg.start and elapsed == seg.start * 600 and done == seg.done_s
    assert set(out) == {"-"} and 1 <= len(out) <= 16  # waited to the cut or to the deadline
    with pytest.raises(ValueError, match="keys"):
        spot_multi.segments({"name": "probe", "tail": 3})


def test_probe_records_decisions_up_to_a_failure(tmp_path):
    body = "class Policy:\n def step(self, s):\n  if s.work_left_s < 4 * 3600: raise KeyError(1)\n  return 'NONE', 0\n"
    out = spot_multi.probe(_program(tmp_path, body))
    broken = [s for s in out if "!" in s]
    assert broken and all(s.endswith("!KeyError") for s in broken)
