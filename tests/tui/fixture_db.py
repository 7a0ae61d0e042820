"""A small run database built directly with the models: lineage, failures, a crossover, an LLM call."""
from __future__ import annotations

import textwrap
from datetime import datetime, timedelta
from pathlib import Path

from evolve.search.controller import unified_diff
from evolve.db import repo
from evolve.db.engine import open_database, sqlite_url
from evolve.db.models import Evaluation, LLMCall, Program, Run
from evolve.problem import load_problem
from tests.conftest import write_problem

YAML = """\
name: tiny
description: make value() return 10 with small code
program: initial.py
evaluator: ./evaluate.py
objectives:
  - {name: closeness, direction: max}
  - {name: size, direction: min, weight: 0}
constraints:
  - {name: valid, equals: true}
workloads:
  stages:
    - {name: only, workload: {target: 10}}
evolution:
  budget: {iterations: 10}
"""


def code(a: float, b: float) -> str:
    return textwrap.dedent(f"""\
        def value():
            # EVOLVE-BLOCK-START
            a = {a}
            b = {b}
            return a + b
            # EVOLVE-BLOCK-END
        """)


# id: (parent, second parent, mutation, status, closeness, size, error, a, b)
PROGRAMS = {
    1: (None, None, "initial", "evaluated", -7.0, 3.0, None, 1.0, 2.0),
    2: (1, None, "offline:constant", "evaluated", -5.0, 9.5, None, 3.0, 2.0),
    3: (1, None, "offline:swap", "failed", None, None, "stage 'only': timeout: wall-clock limit of 20 s", 1.0, 9.0),
    4: (2, None, "llm:diff", "evaluated", -2.0, 8.0, None, 6.0, 2.0),
    5: (2, 4, "offline:crossover", "infeasible", None, None, "constraint not met: valid = False", 3.0, 7.0),
    6: (4, None, "offline:constant", "evaluated", -1.0, 9.0, None, 6.0, 3.0),
    7: (6, None, "offline:constant", "pending", None, None, None, 6.0, 4.0),
}
MODEL = "fake/model-a"


def make_run(runs_dir: Path, name: str = "demo") -> Path:
    """Write runs_dir/<name>/evolve.db and the problem it was made from; return the database path."""
    problem = load_problem(write_problem(runs_dir.parent / f"{name}-problem", YAML))
    db = runs_dir / name / "evolve.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    factory = open_database(sqlite_url(db))
    start = datetime(2025, 1, 1, 12, 0, 0)
    with factory.begin() as session:
        run = Run(name=name, problem="tiny", problem_path=str(problem.yaml_path),
                  config=problem.spec.model_dump(mode="json"), status="finished",
                  stop_reason="iteration budget of 6 reached")
        session.add(run)
        session.flush()
        for pid, (parent, second, mutation, status, close, size, error, a, b) in PROGRAMS.items():
            metrics = None if close is None else {"valid": True, "closeness": close, "size": size, "x": a + b}
            if status == "infeasible":
                metrics = {"valid": False}
            score = close if status == "evaluated" else None
            parent_code = code(*PROGRAMS[parent][7:9]) if parent else None
            session.add(Program(
                id=pid, run_id=run.id, iteration=pid - 1, parent_id=parent, second_parent_id=second,
                generation=0 if parent is None else pid // 2, island=0, mutation=mutation, code=code(a, b),
                diff=unified_diff(parent_code, code(a, b), parent) if parent else None,
                code_hash=f"h{pid}", status=status, score=score, metrics=metrics, error=error,
                created_at=start + timedelta(seconds=10 * pid),
                evaluated_at=None if status == "pending" else start + timedelta(seconds=10 * pid + 5),
            ))
            session.flush()
            if status != "pending":
                session.add(Evaluation(program_id=pid, stage="only", workload={"target": 10},
                                       status="timeout" if status == "failed" else "ok",
                                       passed=status == "evaluated", metrics=metrics,
                                       artifacts={"error": "value() returned nothing"} if status == "infeasible" else None,
                                       error=error, stdout="hello from the evaluator", wall_s=0.5, cpu_s=0.4))
        session.add(LLMCall(run_id=run.id, program_id=4, model=MODEL, prompt_tokens=1200, completion_tokens=300,
                            cost_usd=0.0123, latency_s=2.5, outcome="ok", response="<<<SEARCH a = 3.0 ...",
                            created_at=start + timedelta(seconds=39)))
        repo.set_run_status(session, run, "finished", "iteration budget of 6 reached")
    factory.kw["bind"].dispose()
    return db
