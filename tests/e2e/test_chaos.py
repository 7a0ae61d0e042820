"""Chaos: SIGKILL a run at 8 random moments, resuming each time; nothing lost, doubled or left behind."""
from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

from sandbox import owner, stale
from tests.conftest import ROOT, write_problem
from tests.e2e.test_cli_runs import evolve
from tests.e2e.test_resume import SLOW, YAML

SPENT = "('evaluated', 'infeasible', 'failed', 'duplicate')"


def _facts(tmp_path) -> dict:
    con = sqlite3.connect(tmp_path / "runs" / "c" / "evolve.db")
    try:
        return {
            "done": con.execute(f"SELECT COUNT(*) FROM programs WHERE status IN {SPENT}").fetchone()[0],
            "twice": con.execute("SELECT program_id, stage, COUNT(*) FROM evaluations WHERE stage IN "
                                 "('quick', 'slow') GROUP BY program_id, stage HAVING COUNT(*) > 1").fetchall(),
            "unhashed": con.execute("SELECT id FROM programs WHERE status = 'evaluated' AND duplicate_of IS NULL "
                                    "AND func_hash IS NULL").fetchall(),
            "children": con.execute("SELECT COUNT(*) FROM programs WHERE iteration > 0").fetchone()[0],
            "pending": con.execute("SELECT COUNT(*) FROM programs WHERE status = 'pending'").fetchone()[0],
        }
    finally:
        con.close()


def test_eight_kills_and_resumes(tmp_path):
    write_problem(tmp_path / "p", yaml_text=YAML, evaluator=SLOW)
    first = evolve(tmp_path, "start", str(tmp_path / "p"), "--name", "c", "--iterations", "1")
    assert first.returncode == 0, first.stdout + first.stderr
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rng = random.Random(15)
    killed, done = [], [_facts(tmp_path)["done"]]
    for _ in range(8):
        proc = subprocess.Popen([sys.executable, "-m", "evolve", "resume", "c", "--iterations", "120"], cwd=tmp_path,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        began = owner.start_time(proc.pid)
        time.sleep(rng.uniform(0.5, 3.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed.append((proc.pid, began))
        facts = _facts(tmp_path)
        assert facts["done"] >= done[-1], f"finished programs went from {done[-1]} to {facts['done']}"
        assert not facts["twice"], f"a stage evaluated twice: {facts['twice']}"
        done.append(facts["done"])
    final = evolve(tmp_path, "resume", "c")
    assert final.returncode == 0, final.stdout + final.stderr
    facts = _facts(tmp_path)
    assert facts["children"] == 120 and facts["pending"] == 0
    assert not facts["twice"], facts["twice"]
    assert not facts["unhashed"], f"programs without a functional hash: {facts['unhashed']}"
    left = [p for pid, began in killed for p in stale.leftovers(pid, began)]
    assert not left, f"sandbox folders or cgroups left by killed controllers: {left}"
    print("finished programs after each kill:", done, "then", facts["done"])
