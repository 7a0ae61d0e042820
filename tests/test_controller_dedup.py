"""The duplicate filter inside a real run: scripted proposals, the real sandbox, the database after."""
from __future__ import annotations

import asyncio

import pytest

from evolve.search.controller import Controller, Limits
from evolve.db import repo
from evolve.db.engine import open_database, sqlite_url
from evolve.db.models import Program, Run
from evolve.executor import LocalExecutor
from evolve.mutate.offline import Child
from evolve.problem import load_problem
from tests.conftest import TINY_EVALUATOR, write_problem

WITH_PROBE = TINY_EVALUATOR + '''
def probe(program_path, workload):
    spec = importlib.util.spec_from_file_location("cand", program_path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.value()
'''

YAML = """\
name: tiny
description: make value() return 10
program: initial.py
evaluator: ./evaluate.py
objectives: [{name: closeness, direction: max}]
constraints: [{name: valid, equals: true}]
workloads:
  probe: {}
  stages: [{name: only, workload: {target: 10}}]
sandbox: {wall_s: 20, cpu_s: 20, memory_mb: 1024}
evolution: {concurrency: 1}
"""

A = "def value():\n    # EVOLVE-BLOCK-START\n    a = 3.0\n    b = 2.0\n    return a + b\n    # EVOLVE-BLOCK-END\n"
A_RENAMED = "def value():\n    # EVOLVE-BLOCK-START\n    x = 3.0  # renamed\n    y = 2.0\n    return x + y\n    # EVOLVE-BLOCK-END\n"
A_REORDERED = A.replace("    a = 3.0\n    b = 2.0\n", "    b = 2.0\n    a = 3.0\n")
B = A.replace("3.0", "4.0")
NOISY = A.replace("return a + b", "import time\n    return a + b + time.time_ns() % 1000")


class Script:
    def __init__(self, codes):
        self.codes = list(codes)

    def propose(self, parent, seen, other=None):
        return Child(self.codes.pop(0), "scripted") if self.codes else None


def run(tmp_path, codes, yaml=YAML, evaluator=WITH_PROBE, notes=None):
    folder = write_problem(tmp_path / "p", yaml_text=yaml, evaluator=evaluator)
    problem = load_problem(folder)
    factory = open_database(sqlite_url(tmp_path / "evolve.db"))
    with factory.begin() as session:
        row = Run(name="r", problem="tiny", problem_path=str(folder), config={})
        session.add(row)

    class Reporter:
        def recorded(self, program, best):
            pass

        def note(self, text):
            (notes if notes is not None else []).append(text)

    controller = Controller(problem, factory, row, LocalExecutor(problem, 1), Limits(len(codes), None), 1,
                            Reporter(), mutator=Script(codes))
    assert asyncio.run(controller.run()).startswith("iteration budget")
    with factory() as session:
        return {p.iteration: p for p in repo.programs(session, row.id)}, repo.dedup_stats(session, row.id)


def test_both_levels_catch_duplicates_and_credit_scores(tmp_path):
    assert A_RENAMED != A
    progs, stats = run(tmp_path, [A, A_RENAMED, A_REORDERED, B, NOISY])
    a, renamed, reordered, b, noisy = (progs[i] for i in range(1, 6))
    assert a.status == "evaluated" and a.score == -5.0
    assert (renamed.status, renamed.duplicate_of, renamed.dedup_level) == ("duplicate", a.id, "syntactic")
    assert (reordered.status, reordered.duplicate_of, reordered.dedup_level) == ("duplicate", a.id, "functional")
    assert renamed.score == reordered.score == a.score and renamed.eval_seconds == 0
    assert b.status == "evaluated" and b.duplicate_of is None
    assert noisy.dedup_level == "unhashable" and noisy.status == "evaluated"  # evaluated normally
    assert stats["syntactic"] == 1 and stats["functional"] == 1 and stats["unhashable"] == 1
    assert stats["evaluations_saved"] == 2 and stats["seconds_saved"] > 0
    with pytest.raises(KeyError):
        progs[6]


def test_audits_measure_collisions_and_reevaluation_folds_hits(tmp_path):
    yaml = YAML + "dedup: {audit_rate: 1.0}\n"
    progs, stats = run(tmp_path / "audit", [A, A_RENAMED, A_REORDERED], yaml=yaml)
    assert [progs[i].status for i in (2, 3)] == ["evaluated", "evaluated"]  # evaluated anyway
    assert progs[2].duplicate_of == progs[1].id and progs[3].duplicate_of == progs[1].id
    assert stats["audited"] == 2 and stats["collisions"] == 0 and stats["collision_rate"] == 0.0
    yaml = YAML + "dedup: {reevaluate_hits: 1}\n"
    progs, stats = run(tmp_path / "fold", [A, A_RENAMED, A_REORDERED], yaml=yaml)
    assert progs[1].score_samples == 2 and progs[1].score == -5.0 and progs[1].score_std == 0.0
    assert progs[2].status == "evaluated" and progs[3].status == "duplicate"  # one hit folded, then cached


def test_evaluator_without_probe_falls_back_to_syntactic_once(tmp_path):
    notes: list[str] = []
    progs, stats = run(tmp_path, [A, A_RENAMED, A_REORDERED, B], evaluator=TINY_EVALUATOR, notes=notes)
    assert progs[2].dedup_level == "syntactic" and progs[3].status == "evaluated"  # no level 2 here
    assert sum("no `probe()`" in n for n in notes) == 1
    assert stats["functional"] == 0


def test_in_a_cascade_the_probe_rides_with_the_first_stage(tmp_path):
    yaml = YAML.replace("  stages: [{name: only, workload: {target: 10}}]",
                        "  stages:\n    - {name: smoke, workload: {target: 10}}\n    - {name: full, workload: {target: 10}}")
    progs, stats = run(tmp_path, [A, A_REORDERED, B], yaml=yaml)
    a, reordered, b = progs[1], progs[2], progs[3]
    assert a.status == "evaluated" and b.status == "evaluated"
    assert (reordered.status, reordered.duplicate_of, reordered.dedup_level) == ("duplicate", a.id, "functional")
    import sqlite3

    con = sqlite3.connect(tmp_path / "evolve.db")
    stages = {pid: [r[0] for r in con.execute("SELECT stage FROM evaluations WHERE program_id=? ORDER BY id",
                                               (pid,))] for pid in (a.id, reordered.id, b.id)}
    assert stages[a.id] == ["probe", "smoke", "full"]
    assert stages[reordered.id] == ["probe", "smoke"]  # the hit was known after smoke: full was skipped
    assert stats["functional"] == 1 and stats["seconds_saved"] > 0
