"""`evolution.deterministic: true`: two runs with the same seed make the same programs, whatever the timing."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

from tests.conftest import ROOT, TINY_EVALUATOR, TINY_HEAD, write_problem

# evaluations take 0-96 ms, from the clock: which finishes first differs from run to run
JITTER = TINY_EVALUATOR.replace("def evaluate(program_path, workload):",
                                "def evaluate(program_path, workload):\n    import time\n"
                                "    time.sleep((time.perf_counter_ns() // 1000) % 97 / 1000)")
YAML = TINY_HEAD + """\
    - {name: only, workload: {target: 10}}
constraints:
  - {name: valid, equals: true}
sandbox: {wall_s: 20, cpu_s: 20, memory_mb: 1024}
evolution:
  budget: {iterations: 18}
  concurrency: 3
  islands: 2
  seed: 5
"""


def run(tmp_path, name: str, *extra: str) -> list[tuple]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "evolve", "start", str(tmp_path / "p"), "--name", name, *extra],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr + done.stdout
    con = sqlite3.connect(tmp_path / "runs" / name / "evolve.db")
    iteration = dict(con.execute("SELECT id, iteration FROM programs"))
    rows = con.execute("SELECT iteration, parent_id, second_parent_id, island, mutation, status, score, code "
                       "FROM programs ORDER BY iteration").fetchall()
    return [(it, iteration.get(p), iteration.get(q), *rest) for it, p, q, *rest in rows]


def test_two_deterministic_runs_make_the_same_programs(tmp_path):
    write_problem(tmp_path / "p", YAML, evaluator=JITTER)
    a = run(tmp_path, "a", "--set", "evolution.deterministic=true")
    b = run(tmp_path, "b", "--set", "evolution.deterministic=true")
    assert len(a) == 19 and [r[0] for r in a] == list(range(19))
    assert a == b
    assert len({r[1] for r in a[1:]}) > 1  # parents were drawn from a population that grew
