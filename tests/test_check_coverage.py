"""`evolve check` refuses a problem whose functional hash leaves out something the score depends on."""
from __future__ import annotations

from rich.console import Console

from evolve.commands.check import check
from tests.conftest import write_problem

PROGRAM = '''
def value():
    # EVOLVE-BLOCK-START
    a = 1.0
    b = 2.0
    c = a + b
    return c
    # EVOLVE-BLOCK-END
'''

# closeness follows from value(); `noise` is timed; `length` is the size of the code (a deterministic cost)
EVALUATOR = '''
import importlib.util, time

def _value(program_path):
    spec = importlib.util.spec_from_file_location("cand", program_path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return float(mod.value())

def evaluate(program_path, workload):
    x = _value(program_path)
    metrics = {"noise": 1.0 + (time.perf_counter_ns() % 997) / 1e6, "length": len(open(program_path).read())}
    if workload.get("measure") == "cost":
        return {"metrics": metrics, "artifacts": {}}
    return {"metrics": {"valid": True, "closeness": -abs(x - 10), **metrics}, "artifacts": {}}

def probe(program_path, workload):
    return _value(program_path)
'''

YAML = """\
name: tiny
description: make value() return 10
program: initial.py
evaluator: ./evaluate.py
objectives:
  - {name: closeness, direction: max}
  - {name: OBJ, direction: min, weight: 0.001KIND}
constraints: [{name: valid, equals: true}]
workloads:
  probe: {}
  stages: [{name: only, workload: {}}]
sandbox: {wall_s: 20, cpu_s: 20, memory_mb: 1024}
"""


def run_check(tmp_path, objective: str, kind: str = "", evaluator: str = EVALUATOR) -> tuple[int, str]:
    yaml = YAML.replace("OBJ", objective).replace("KIND", f", kind: {kind}" if kind else "")
    folder = write_problem(tmp_path / objective / (kind or "none"), yaml_text=yaml, program=PROGRAM,
                           evaluator=evaluator)
    console = Console(record=True, width=400)
    code = check(str(folder), console)
    return code, console.export_text()


def test_a_noisy_objective_must_be_declared_a_cost(tmp_path):
    code, out = run_check(tmp_path, "noise")
    assert code == 1 and "not ready" in out
    assert "objective 'noise' is not determined by the probe's outputs: two evaluations" in out
    assert "declare it `kind: cost`" in out and "dedup.functional: false" in out
    code, out = run_check(tmp_path, "noise", "cost")
    assert code == 0, out
    assert "cost 'noise' is measured again for each hit, in a cost-only run" in out


def test_a_cost_the_probe_does_not_see_is_found_by_a_dead_copy(tmp_path):
    code, out = run_check(tmp_path, "length")
    assert code == 1
    assert "objective 'length' is not determined by the probe's outputs: a copy of the starting program" in out
    assert "under `costs`" in out
    code, out = run_check(tmp_path, "length", "cost")
    assert code == 0, out


def test_a_cost_the_probe_reports_must_be_the_one_the_evaluation_measures(tmp_path):
    wrong = EVALUATOR.replace("    return _value(program_path)\n",
                              "    return {'value': _value(program_path), 'costs': {'length': 5}}\n")
    code, out = run_check(tmp_path, "length", "cost", wrong)
    assert code == 1 and "probe() reports cost 'length' = 5 but the evaluation measures" in out
    right = EVALUATOR.replace("    return _value(program_path)\n", "    return {'value': _value(program_path), "
                              "'costs': {'length': len(open(program_path).read())}}\n")
    code, out = run_check(tmp_path / "b", "length", "cost", right)
    assert code == 0 and "cost 'length' = " in out and "part of the functional hash" in out
