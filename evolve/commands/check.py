"""`evolve check PROBLEM`: the first thing to run on a new problem.

Validates the YAML, scores the starting program through the evaluator in the
sandbox (the same path a run takes), runs the probe twice to show it is
deterministic, and prints the score. Exit 0 when the starting program scores
and the probe is deterministic, 1 otherwise.
"""
from __future__ import annotations

import asyncio
import hashlib
import json

from rich.console import Console

from evolve.executor import LocalExecutor
from evolve.problem import load_problem
from evolve.search.scoring import assess

OK, BAD, WARN = "[green]ok[/]", "[bold red]FAIL[/]", "[yellow]note[/]"


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


async def _run(problem, concurrency: int = 1):
    executor = LocalExecutor(problem, concurrency)
    outcomes = await executor.evaluate(problem.initial_code)
    probes = [await executor.probe(problem.initial_code) for _ in range(2)]
    return outcomes, probes


def check(ref: str, console: Console) -> int:
    problem = load_problem(ref)
    spec = problem.spec
    console.print(f"{OK} {problem.yaml_path}: valid; {len(spec.objectives)} objective(s) "
                  f"({', '.join(f'{o.name} {o.direction}' for o in spec.objectives)}), "
                  f"{len(spec.workloads.stages)} stage(s), evaluator {spec.evaluator}", highlight=False)
    console.print(f"running the starting program {spec.program} in the sandbox ({spec.sandbox.backend})...",
                  highlight=False)
    outcomes, probes = asyncio.run(_run(problem))
    failed = False
    for o in outcomes:
        mark = OK if o.passed else BAD
        console.print(f"{mark} stage {o.stage.name}: {o.status} in {o.wall_s:.2f} s; metrics "
                      f"{json.dumps(o.metrics, default=str)[:300]}", highlight=False)
        if o.error:
            console.print(f"    {o.error}", markup=False, highlight=False)
        if o.stderr and not o.passed:
            console.print(f"    stderr: {o.stderr[-800:]}", markup=False, highlight=False)
    status, score, metrics, error = assess(spec.objectives, spec.constraints, outcomes)
    if status == "evaluated":
        console.print(f"{OK} the starting program scores [bold]{score:.6g}[/] (status {status})", highlight=False)
    else:
        failed = True
        console.print(f"{BAD} the starting program is {status}: {error}", highlight=False)
        console.print("    a run needs a starting program that scores: fix the evaluator or initial.py first.",
                      highlight=False)
    failed |= _report_probe(probes, console)
    if failed:
        console.print(f"\n{problem.name}: not ready.")
        return 1
    console.print(f"\n{problem.name}: ready. Start with `evolve start {problem.root}`", highlight=False)
    return 0


def _report_probe(probes, console: Console) -> bool:
    """Print the probe verdict; True when it is a failure."""
    first, second = probes
    if first is None:
        console.print(f"{WARN} no workloads.probe: duplicates are found by their code only, not by behaviour "
                      "(add a probe workload and a probe() to skip equivalent candidates)", highlight=False)
        return False
    for i, result in enumerate(probes, start=1):
        if not result.ok:
            console.print(f"{BAD} probe run {i}: {result.status}: {result.error}", markup=False, highlight=False)
            return True
    a, b = (_digest(r.result) for r in probes)
    if a != b:
        console.print(f"{BAD} the probe is not deterministic: two runs gave different outputs ({a} vs {b}). "
                      "Seed every random choice from the workload.", highlight=False)
        return True
    shown = json.dumps(probes[0].result, default=str)
    console.print(f"{OK} probe is deterministic: two runs gave the same outputs (hash {a}): {shown[:120]}",
                  highlight=False)
    return False


def cmd_check(args, console: Console) -> int:
    return check(args.problem, console)
