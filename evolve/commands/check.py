"""`evolve check PROBLEM`: the first thing to run on a new problem.

Validates the YAML, scores the starting program through the evaluator in the
sandbox (the same path a run takes), runs the probe twice to show it is
deterministic, and prints the score. With functional dedup on, it also checks
that the hash covers every objective and constraint (evolve/search/coverage.py):
each is determined by the probe's outputs or declared `kind: cost`. Exit 0 when
the starting program scores, the probe is deterministic and the hash covers the
score, 1 otherwise.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import shlex
import textwrap

from rich.console import Console
from rich.text import Text

from evolve.executor import LocalExecutor
from evolve.problem import load_problem
from evolve.search import coverage
from evolve.search.scoring import assess

OK, BAD, WARN = ("ok", "green"), ("FAIL", "bold red"), ("note", "yellow")


def _say(console: Console, mark: tuple[str, str] | None, *parts: str | tuple[str, str]) -> None:
    """One line of the report: a coloured mark, then text printed as it is (an evaluator's errors
    and a candidate's tracebacks hold `[...]`, which is never markup)."""
    line = Text.assemble(*([(mark[0], mark[1]), " "] if mark else []), *parts)
    console.print(line, highlight=False)


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


async def _run(problem, concurrency: int = 1):
    executor = LocalExecutor(problem, concurrency)
    outcomes = await executor.evaluate(problem.initial_code)
    probes = [await executor.probe(problem.initial_code) for _ in range(2)]
    cover = None
    if problem.spec.dedup.functional and all(p is not None and p.ok for p in probes) and \
            assess(problem.spec.objectives, problem.spec.constraints, outcomes)[0] == "evaluated":
        cover = await coverage.measure(problem, executor, outcomes, list(probes[0].result))
    return outcomes, probes, cover


def check(ref: str, console: Console) -> int:
    problem = load_problem(ref)
    spec = problem.spec
    _say(console, OK, f"{problem.yaml_path}: valid; {len(spec.objectives)} objective(s) "
                      f"({', '.join(f'{o.name} {o.direction}' for o in spec.objectives)}), "
                      f"{len(spec.workloads.stages)} stage(s), evaluator {spec.evaluator}")
    _say(console, None, f"running the starting program {spec.program} in the sandbox ({spec.sandbox.backend})...")
    outcomes, probes, cover = asyncio.run(_run(problem))
    shown = _report_stages(outcomes, console)
    status, score, metrics, error = assess(spec.objectives, spec.constraints, outcomes)
    failed = status != "evaluated"
    if not failed:
        _say(console, OK, "the starting program scores ", (f"{score:.6g}", "bold"), f" (status {status})")
    else:
        _say(console, BAD, f"the starting program is {status}: {_once(error, shown)}")
        _say(console, None, "    a run needs a starting program that scores: fix the evaluator or initial.py first.")
    failed |= _report_probe(probes, console)
    failed |= cover is not None and _report_coverage(cover, console)
    if failed:
        _say(console, None, f"\n{problem.name}: not ready.")
        return 1
    _say(console, None, f"\n{problem.name}: ready. Start with `{start_command(problem)}`")
    return 0


def start_command(problem) -> str:
    """The `evolve start` that runs this problem: a built-in's name, its folder when the YAML is the
    folder's problem.yaml (what a folder means to start), else the YAML file itself."""
    from evolve.problem import BUILTIN_PROBLEMS

    target = problem.root if problem.yaml_path.name == "problem.yaml" else problem.yaml_path
    if target == BUILTIN_PROBLEMS / problem.root.name and (BUILTIN_PROBLEMS / problem.root.name).is_dir():
        return f"evolve start {problem.root.name}"
    return f"evolve start {shlex.quote(str(target))}"


def _once(error: str | None, shown: list[str]) -> str:
    """The verdict's error with the stage errors already printed in full replaced by a pointer to them."""
    for text in shown:
        error = (error or "").replace(text, "(the error above)")
    return error or "-"


def _report_stages(outcomes, console: Console) -> list[str]:
    """Print each stage's verdict, error and (when it failed) stderr tail; return the errors printed."""
    shown = []
    for o in outcomes:
        _say(console, OK if o.passed else BAD, f"stage {o.stage.name}: {o.status} in {o.wall_s:.2f} s; metrics "
                                               f"{json.dumps(o.metrics, default=str)[:300]}")
        if o.error:
            _say(console, None, textwrap.indent(o.error, "    "))
            shown.append(o.error)
        if o.stderr and not o.passed:
            _say(console, None, textwrap.indent(f"stderr: {o.stderr[-800:]}", "    "))
    return shown


def _report_probe(probes, console: Console) -> bool:
    """Print the probe verdict; True when it is a failure."""
    first, second = probes
    if first is None:
        _say(console, WARN, "no workloads.probe: duplicates are found by their code only, not by behaviour "
                            "(add a probe workload and a probe() to skip equivalent candidates)")
        return False
    for i, result in enumerate(probes, start=1):
        if not result.ok:
            _say(console, BAD, f"probe run {i}: {result.status}: {result.error}")
            return True
    a, b = (_digest(r.result) for r in probes)
    if a != b:
        _say(console, BAD, f"the probe is not deterministic: two runs gave different outputs ({a} vs {b}). "
                           "Seed every random choice from the workload.")
        return True
    shown = json.dumps(probes[0].result, default=str)
    _say(console, OK, f"probe is deterministic: two runs gave the same outputs (hash {a}): {shown[:120]}")
    return False


def _report_coverage(cover: coverage.Coverage, console: Console) -> bool:
    """Print what the functional hash covers; True when an objective or constraint is left out."""
    refusals = cover.refusals()
    for text in refusals:
        _say(console, BAD, text)
    for name, (value, _) in cover.probed.items():
        _say(console, OK, f"cost '{name}' = {value!r} is measured by the probe: it is part of the functional hash")
    for name, value in cover.remeasured.items():
        if value is None:
            _say(console, WARN, f"cost '{name}' is not reported by a cost-only run (workload `measure: cost`): "
                                "a functional hit is evaluated in full")
        else:
            _say(console, OK, f"cost '{name}' is measured again for each hit, in a cost-only run "
                              f"({cover.cost_s:.2f} s; a full evaluation {cover.full_s:.2f} s)")
    if cover.twin:
        _say(console, None, f"    {cover.twin}")
    if not refusals:
        _say(console, OK, "the functional hash covers every objective and constraint")
    return bool(refusals)


def cmd_check(args, console: Console) -> int:
    return check(args.problem, console)
