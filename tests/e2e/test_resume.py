"""The database is the checkpoint: SIGKILL at any moment, resume, and nothing is lost or doubled."""
from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

from tests.conftest import ROOT, write_problem
from tests.e2e.test_cli_runs import evolve

SLOW = ("import time\nfrom importlib.machinery import SourceFileLoader\n"
        "def evaluate(p, w):\n    time.sleep(w.get('sleep', 0.2))\n"
        "    v = SourceFileLoader('c', p).load_module().value()\n"
        "    return {'metrics': {'valid': True, 'closeness': -abs(v - 10)}}\n"
        "def probe(p, w):\n    return SourceFileLoader('c', p).load_module().value()\n")

YAML = """\
name: tiny
description: make value() return 10
program: initial.py
evaluator: ./evaluate.py
objectives: [{name: closeness, direction: max}]
constraints: [{name: valid, equals: true}]
workloads:
  probe: {}
  stages:
    - {name: quick, workload: {sleep: 0.05}, require: [{name: valid, equals: true}]}
    - {name: slow, workload: {sleep: 0.25}}
sandbox: {wall_s: 20, cpu_s: 20, memory_mb: 1024}
evolution:
  islands: 2
  migration: {interval: 4}
  budget: {iterations: 24}
  concurrency: 2
"""


def _kill_after(tmp_path, seconds: float) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "evolve", "start", str(tmp_path / "p"), "--name", "k",
                             "--resume", "--iterations", "24"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    time.sleep(seconds)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_sigkill_at_random_moments_then_resume(tmp_path):
    write_problem(tmp_path / "p", yaml_text=YAML, evaluator=SLOW)
    rng = random.Random(7)
    (tmp_path / "runs").mkdir()
    first = evolve(tmp_path, "start", str(tmp_path / "p"), "--name", "k", "--iterations", "1")
    assert first.returncode == 0, first.stderr
    for _ in range(6):  # startup, proposals, probes, evaluations and database writes all get hit
        _kill_after(tmp_path, rng.uniform(1.5, 4.0))
    con = sqlite3.connect(tmp_path / "runs" / "k" / "evolve.db")
    killed = con.execute("SELECT status FROM runs").fetchone()[0]
    assert killed in ("running", "finished")  # a killed run is never marked otherwise; a fast one may finish
    con.close()
    done = evolve(tmp_path, "resume", "k")  # the run remembers the 24 it was last resumed with
    assert done.returncode == 0, done.stderr + done.stdout
    con = sqlite3.connect(tmp_path / "runs" / "k" / "evolve.db")
    rows = con.execute("SELECT id, status, iteration, duplicate_of FROM programs").fetchall()
    assert len(rows) == 25 and sorted(r[2] for r in rows) == list(range(25))
    assert not [r for r in rows if r[1] == "pending"]
    # every evaluated program has exactly one attempt per stage it reached: none recorded twice
    for pid, status, _, dup in rows:
        stages = [s for (s,) in con.execute("SELECT stage FROM evaluations WHERE program_id=? AND stage "
                                            "IN ('quick', 'slow')", (pid,))]
        if status == "duplicate":  # a functional hit is known after the quick stage
            assert stages in ([], ["quick"]) and dup is not None
        else:
            assert stages in (["quick"], ["quick", "slow"]), (pid, status, stages)
    # island membership points only at scored programs, and the best program is on an island
    members = con.execute("SELECT program_id FROM island_members").fetchall()
    scored = {r[0] for r in con.execute("SELECT id FROM programs WHERE status='evaluated'")}
    assert members and {m[0] for m in members} <= scored
    best = con.execute("SELECT id FROM programs WHERE status='evaluated' ORDER BY score DESC LIMIT 1").fetchone()[0]
    assert best in {m[0] for m in members}
    assert con.execute("SELECT status FROM runs").fetchone()[0] == "finished"


def test_same_seed_one_worker_same_programs_in_the_same_order(tmp_path):
    text = YAML.replace("concurrency: 2", "concurrency: 1").replace("iterations: 24", "iterations: 10")
    write_problem(tmp_path / "p", yaml_text=text, evaluator=SLOW.replace("w.get('sleep', 0.2)", "0"))
    for name in ("a", "b"):
        done = evolve(tmp_path, "start", str(tmp_path / "p"), "--name", name)
        assert done.returncode == 0, done.stderr

    def programs(name):
        con = sqlite3.connect(tmp_path / "runs" / name / "evolve.db")
        return con.execute("SELECT iteration, code, status, score, parent_id, island FROM programs "
                           "ORDER BY iteration").fetchall()

    assert programs("a") == programs("b")
