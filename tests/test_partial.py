"""Partial evaluation: a hit on a problem with a `cost` objective the probe does not report is scored
as its own program, its costs measured again and its behaviour metrics its original's."""
from __future__ import annotations

import asyncio
import sqlite3

from evolve.db import repo
from evolve.db.engine import open_database, sqlite_url
from evolve.db.models import Run
from evolve.executor import LocalExecutor
from evolve.mutate.offline import Child
from evolve.problem import load_problem
from evolve.search.controller import Controller, Limits
from tests.conftest import write_problem

# closeness follows from value() (behaviour); `effort` is a noisy cost, measured alone with `measure: cost`
EVALUATOR = '''
import importlib.util, time

def _value(program_path):
    spec = importlib.util.spec_from_file_location("cand", program_path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return float(mod.value())

def _effort():
    return 1.0 + (time.perf_counter_ns() % 1000) / 1e6

def evaluate(program_path, workload):
    if workload.get("measure") == "cost":
        _value(program_path)
        return {"metrics": {"effort": _effort()}, "artifacts": {}}
    x = _value(program_path)
    return {"metrics": {"valid": True, "closeness": -abs(x - 10), "effort": _effort()}, "artifacts": {}}

def probe(program_path, workload):
    return _value(program_path)
'''

YAML = """\
name: tiny
description: make value() return 10, with little effort
program: initial.py
evaluator: ./evaluate.py
objectives:
  - {name: closeness, direction: max}
  - {name: effort, direction: min, weight: 0.001, kind: cost}
constraints: [{name: valid, equals: true}]
workloads:
  probe: {}
  stages: [STAGES]
sandbox: {wall_s: 20, cpu_s: 20, memory_mb: 1024}
evolution: {concurrency: 1}
"""
ONE_STAGE = "{name: only, workload: {target: 10}}"
TWO_STAGES = "{name: smoke, workload: {}}, {name: full, workload: {}}"

A = "def value():\n    # EVOLVE-BLOCK-START\n    a = 3.0\n    b = 2.0\n    return a + b\n    # EVOLVE-BLOCK-END\n"
A_RENAMED = A.replace("a", "x").replace("b", "y").replace("x + y", "x + y  # renamed").replace("vxlue", "value")
A_REORDERED = A.replace("    a = 3.0\n    b = 2.0\n", "    b = 2.0\n    a = 3.0\n")
B = A.replace("3.0", "4.0")


class Script:
    def __init__(self, codes):
        self.codes = list(codes)

    def propose(self, parent, seen, other=None):
        return Child(self.codes.pop(0), "scripted") if self.codes else None


def run(problem, db, codes):
    factory = open_database(sqlite_url(db))
    with factory.begin() as session:
        row = Run(name="r", problem=problem.name, problem_path=str(problem.root), config={})
        session.add(row)

    class Reporter:
        def recorded(self, program, best):
            pass

    controller = Controller(problem, factory, row, LocalExecutor(problem, 1), Limits(len(codes), None), 1,
                            Reporter(), mutator=Script(codes))
    assert asyncio.run(controller.run()).startswith("iteration budget")
    with factory() as session:
        progs = {p.iteration: p for p in repo.programs(session, row.id)}
        stats = repo.dedup_stats(session, row.id)
    con = sqlite3.connect(db)
    stages = {pid: [r[0] for r in con.execute("SELECT stage FROM evaluations WHERE program_id=? ORDER BY id", (pid,))]
              for pid in (p.id for p in progs.values())}
    return progs, stats, stages


def tiny(tmp_path, stages=ONE_STAGE, evaluator=EVALUATOR):
    return load_problem(write_problem(tmp_path / "p", yaml_text=YAML.replace("STAGES", stages), evaluator=evaluator))


def test_hits_are_scored_by_their_own_costs(tmp_path):
    progs, stats, stages = run(tiny(tmp_path), tmp_path / "evolve.db", [A, A_RENAMED, A_REORDERED, B])
    a, renamed, reordered, b = (progs[i] for i in range(1, 5))
    assert a.status == "evaluated" and a.duplicate_of is None
    for hit, level in ((renamed, "syntactic"), (reordered, "functional")):
        assert (hit.status, hit.duplicate_of, hit.dedup_level) == ("evaluated", a.id, level)
        assert hit.metrics["closeness"] == a.metrics["closeness"]  # behaviour: the original's
        assert hit.metrics["effort"] != a.metrics["effort"]  # the cost: its own, measured again
        assert hit.score == -5.0 - 0.001 * hit.metrics["effort"]
    assert stages[renamed.id] == ["cost:only"] and stages[reordered.id] == ["probe", "cost:only"]
    assert b.status == "evaluated" and b.duplicate_of is None
    assert stats["partial"] == 2 and stats["audited"] == 0 and stats["evaluations_saved"] == 0


def test_in_a_cascade_only_the_stage_that_supplies_the_cost_runs_again(tmp_path):
    progs, stats, stages = run(tiny(tmp_path, TWO_STAGES), tmp_path / "evolve.db", [A, A_REORDERED])
    a, hit = progs[1], progs[2]
    assert (hit.status, hit.duplicate_of, hit.dedup_level) == ("evaluated", a.id, "functional")
    assert stages[a.id] == ["probe", "smoke", "full"]
    assert stages[hit.id] == ["probe", "smoke", "cost:full"]  # the probe rode with smoke; full timed alone


def test_without_a_cost_mode_a_hit_is_evaluated_in_full(tmp_path):
    plain = EVALUATOR.replace('if workload.get("measure") == "cost":', 'if False:')
    progs, stats, stages = run(tiny(tmp_path, evaluator=plain), tmp_path / "evolve.db", [A, A_REORDERED])
    hit = progs[2]
    assert hit.status == "evaluated" and hit.duplicate_of == progs[1].id  # the full run reported the cost too
    assert stages[hit.id] == ["probe", "cost:only"]
    failing = EVALUATOR.replace('return {"metrics": {"effort": _effort()}, "artifacts": {}}',
                                'return {"metrics": {"valid": False}, "artifacts": {"error": "no cost mode"}}')
    progs, stats, stages = run(tiny(tmp_path / "f", evaluator=failing), tmp_path / "f.db", [A, A_REORDERED])
    hit = progs[2]
    assert hit.status == "evaluated" and hit.duplicate_of is None and stats["partial"] == 0  # in full, its own
    assert stages[hit.id] == ["probe", "only"]


def test_a_renamed_eplb_child_is_a_partial_hit_whose_runtime_was_measured(tmp_path):
    problem = load_problem("eplb")
    renamed = problem.initial_code.replace("pack_items", "packs").replace("open_packs", "candidates")
    reshaped = problem.initial_code.replace("    counts = [1] * len(loads)\n", "    counts = [1] * len(loads)\n    pass\n")
    progs, stats, stages = run(problem, tmp_path / "evolve.db", [renamed, reshaped])
    first, hit, twin = progs[0], progs[1], progs[2]
    assert first.status == "evaluated"
    for p, level in ((hit, "syntactic"), (twin, "functional")):
        assert (p.status, p.duplicate_of, p.dedup_level) == ("evaluated", first.id, level)
        assert p.metrics["balancedness"] == first.metrics["balancedness"]
        assert p.metrics["runtime_s"] != first.metrics["runtime_s"]  # timed for itself
    assert stages[hit.id] == ["cost:full"] and stages[twin.id] == ["probe", "smoke", "cost:full"]
    assert stats["partial"] == 2 and stats["partial_seconds_saved"] > 0


def test_exp_f32_extra_op_child_is_scored_and_a_renamed_one_is_timed(tmp_path):
    problem = load_problem("exp_f32")
    extra = problem.initial_code.replace("    ki = k.astype(np.int32)\n",
                                         "    ki = k.astype(np.int32)\n    unused = p * f32(2.0)\n")
    renamed = problem.initial_code.replace("ki", "kint")
    progs, stats, stages = run(problem, tmp_path / "evolve.db", [extra, renamed])
    first, more, hit = progs[0], progs[1], progs[2]
    assert (first.metrics["ops_per_element"], more.metrics["ops_per_element"]) == (29.0, 30.0)
    assert more.status == "evaluated" and more.duplicate_of is None  # not merged: it costs one op more
    assert (hit.status, hit.duplicate_of, hit.dedup_level) == ("evaluated", first.id, "syntactic")
    assert hit.metrics["ops_per_element"] == 29.0 and hit.metrics["time_ratio"] != first.metrics["time_ratio"]
    assert stages[hit.id] == ["cost:dense"]


# --- the pieces, without a run ---------------------------------------------------------------------------

def test_probed_costs_are_those_every_output_reports():
    from evolve.search import partial

    assert partial.probed_costs([{"costs": {"ops": 3}}, {"costs": {"ops": 3, "x": 1}}]) == {"ops"}
    assert partial.probed_costs([[1, 2], {"costs": {"ops": 3}}]) == frozenset()
    assert partial.probed_costs([5.0]) == frozenset()


def test_a_cost_comes_from_the_last_stage_that_reported_it():
    from evolve.executor import StageOutcome
    from evolve.problem import Stage
    from evolve.search import partial

    rows = [("probe", None), ("smoke", {"t": 1, "b": 2}), ("cost:full", {"t": 3}), ("holdout:x", {"t": 9})]
    source = partial.sources(rows, ["smoke", "full"])
    assert source == {"t": "full", "b": "smoke"}
    stages = [Stage(name="smoke", workload={"n": 1}), Stage(name="full", workload={"n": 2})]
    todo = partial.cost_stages(stages, ["t"], source, {"b": 2})
    assert [(s.name, s.workload) for s in todo] == [("full", {"n": 2, "measure": "cost", "known": {"b": 2}})]
    assert partial.cost_stages(stages, ["t"], source, {}, done=["full"]) == []
    assert [s.name for s in partial.cost_stages(stages, ["unknown"], source, {})] == ["smoke", "full"]
    ran = StageOutcome(todo[0], "ok", True, metrics={"t": 4})
    assert partial.merge({"t": 3, "b": 2}, [ran], ["t"], source, ["t"]) == ({"t": 4, "b": 2}, "")
    missing = StageOutcome(todo[0], "ok", True, metrics={})
    assert partial.merge({"t": 3}, [missing], ["t"], source, ["t"])[0] is None  # a required cost not measured
    assert partial.merge({"t": 3}, [missing], ["t"], source, [])[0] == {"t": 3}  # a syntactic hit: the original's
    died = StageOutcome(todo[0], "timeout", False, error="wall")
    assert "timeout" in partial.merge({"t": 3}, [died], ["t"], source, [])[1]


def test_on_resume_partial_hits_are_not_counted_as_folded_samples(tmp_path):
    import random
    from types import SimpleNamespace

    from evolve.search.dedup import Deduplicator

    problem = tiny(tmp_path)
    rows = [SimpleNamespace(id=1, duplicate_of=None, status="evaluated", ast_hash="a", func_hash="f"),
            SimpleNamespace(id=2, duplicate_of=1, status="evaluated", ast_hash="a", func_hash="f")]
    dedup = Deduplicator(problem, None, random.Random(0))
    dedup.restore(rows, {2})
    assert dedup.samples.get(1, 0) == 0 and dedup.partial == {2} and dedup.costs == {"effort"}
    verdict = dedup.syntactic(A)
    dedup.register(3, verdict)
    hit = dedup.syntactic(A_RENAMED)
    assert hit.original_id == 3 and hit.evaluate_anyway == "cost"  # a runtime to measure: a partial hit
    assert dedup.remeasure(hit) == ({"effort"}, frozenset())
    folded = Deduplicator(problem, None, random.Random(0))
    folded.restore(rows)
    assert folded.samples[1] == 1  # an audit or re-evaluation, as before
