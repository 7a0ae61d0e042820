"""`evolve init NAME`: write a new problem directory that `evolve check` and `evolve start` accept as is."""
from __future__ import annotations

import re
from pathlib import Path

from rich.console import Console

from evolve.problem import ProblemError

PROBLEM_YAML = """\
# The problem spec. Every key is listed; the commented ones show their defaults.
# Reference: the "Problem YAML reference" table in the README.
name: {name}                       # identifier; run names start with it
description: >                     # what to optimize, in prose (LLM mutators read it)
  Make solve() return a list whose sum is as close to 100 as possible,
  using as few items as possible.
program: initial.py                # the starting program, with EVOLVE-BLOCK markers
evaluator: ./evaluate.py           # a .py beside this file, or a module such as evaluators.caching
objectives:                        # metrics the evaluator reports; score = sum(weight * value)
  - {{name: closeness, direction: max, weight: 1.0}}
  - {{name: items, direction: min, weight: 0.0}}   # weight 0: shown and on the Pareto front, not scored
constraints:                       # hard conditions; a program that misses one is infeasible
  - {{name: valid, equals: true}}
workloads:
  probe: {{size: 5, seed: 0}}        # passed to probe(): its outputs are the functional hash
  stages:                          # run in order; a stage whose `require` fails stops the cascade
    - name: smoke
      workload: {{size: 10, seed: 1}}
      require: [{{name: valid, equals: true}}]
    - name: full
      workload: {{size: 200, seed: 2}}
sandbox:
  backend: auto                    # auto | process
  wall_s: 30                       # wall-clock seconds per stage
  cpu_s: 30                        # CPU seconds per stage
  memory_mb: 1024                  # address-space limit
  # output_bytes: 1000000          # stdout+stderr cap
  # gpus: 0
evolution:
  budget:
    iterations: 50                 # children to create (--iterations overrides)
    # wall_time: 30m               # stop proposing after this long
  concurrency: 2                   # evaluations at once
  # seed: 0                        # seed of selection and mutation
  # selection: power_law           # power_law | uniform | best
  # power_law_alpha: 1.0
  # crossover_rate: 0.1
# llm:
#   mutator: offline               # the LLM-free AST mutator
"""

INITIAL = '''\
"""The starting program. Evolution edits only the code between the EVOLVE-BLOCK markers."""


def solve(numbers):
    """Pick items from `numbers` (a list of floats) whose sum is close to 100."""
    # EVOLVE-BLOCK-START
    chosen = []
    total = 0.0
    for x in sorted(numbers, reverse=True):
        if total + x <= 100.0:
            chosen.append(x)
            total += x
    return chosen
    # EVOLVE-BLOCK-END
'''

EVALUATE = '''\
"""Evaluator of {name}: runs inside the sandbox, one fresh process per call. Must not import evolve."""
import random

from evaluators.common import CandidateError, call_candidate, failure, load_candidate, require_callable


def _numbers(workload):
    rng = random.Random(workload.get("seed", 0))
    return [round(rng.uniform(1, 40), 3) for _ in range(workload.get("size", 10))]


def _run(program_path, workload):
    solve = require_callable(load_candidate(program_path), "solve")
    numbers = _numbers(workload)
    chosen = call_candidate(solve, list(numbers))
    if not isinstance(chosen, list) or any(x not in numbers for x in chosen):
        raise CandidateError(f"solve() must return a list of the given numbers, got {{chosen!r:.200}}")
    return chosen


def evaluate(program_path, workload):
    """Return {{"metrics": {{...}}, "artifacts": {{...}}}}; a bad candidate is a failure, not an exception."""
    try:
        chosen = _run(program_path, workload)
    except CandidateError as exc:
        return failure(str(exc))
    total = sum(chosen)
    return {{"metrics": {{"valid": True, "closeness": -abs(100.0 - total), "items": len(chosen)}},
            "artifacts": {{"sum": total}}}}


def probe(program_path, workload):
    """What the candidate decided on the small probe workload: equal outputs mean equal behaviour."""
    try:
        return sorted(_run(program_path, workload))
    except CandidateError as exc:
        return {{"error": str(exc)[:200]}}
'''

README = """\
# {name}

Written by `evolve init`. Edit `problem.yaml` (the spec), `initial.py` (the
starting program: only the code between the EVOLVE-BLOCK markers evolves) and
`evaluate.py` (the scorer). Then:

    evolve check {path}     # validate, score the starting program, check the probe is deterministic
    evolve start {path}     # evolve
"""


def scaffold(name: str, parent: Path, force: bool = False) -> Path:
    """Write parent/name/{problem.yaml, initial.py, evaluate.py, README.md}; return the folder."""
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise ProblemError(f"'{name}' is not a valid problem name: use letters, digits, '_' and '-'.")
    folder = Path(parent) / name
    if folder.exists() and any(folder.iterdir()) and not force:
        raise ProblemError(f"{folder} already exists and is not empty; choose another name, or pass --force "
                           "to overwrite its problem.yaml, initial.py and evaluate.py.")
    folder.mkdir(parents=True, exist_ok=True)
    files = {"problem.yaml": PROBLEM_YAML, "initial.py": INITIAL, "evaluate.py": EVALUATE, "README.md": README}
    for file, template in files.items():
        (folder / file).write_text(template.format(name=name, path=folder), encoding="utf-8")
    return folder


def cmd_init(args, console: Console) -> int:
    folder = scaffold(args.name, args.dir, args.force)
    console.print(f"wrote {folder}/: problem.yaml, initial.py, evaluate.py, README.md", highlight=False)
    console.print(f"next: edit them, then `evolve check {folder}` and `evolve start {folder}`", highlight=False)
    return 0
