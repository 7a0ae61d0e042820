"""Whole runs through the CLI in a temp dir; the database is inspected afterwards."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, write_problem


def evolve(cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "evolve", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def db(cwd: Path, name: str) -> sqlite3.Connection:
    con = sqlite3.connect(cwd / "runs" / name / "evolve.db")
    con.row_factory = sqlite3.Row
    return con


@pytest.fixture(scope="module")
def cache_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("cache")
    done = evolve(cwd, "start", str(ROOT / "problems" / "cache_eviction"), "--iterations", "30", "--name", "e2e")
    return cwd, done


def test_cache_run_records_lineage_scores_and_best(cache_run):
    cwd, done = cache_run
    assert done.returncode == 0, done.stderr + done.stdout
    assert "iteration budget of 30 reached" in done.stdout
    con = db(cwd, "e2e")
    run = con.execute("SELECT * FROM runs").fetchone()
    assert run["status"] == "finished" and run["problem"] == "cache_eviction"
    programs = {r["id"]: r for r in con.execute("SELECT * FROM programs")}
    assert len(programs) == 31
    initial = [p for p in programs.values() if p["iteration"] == 0]
    assert len(initial) == 1 and initial[0]["mutation"] == "initial" and initial[0]["status"] == "evaluated"
    for p in programs.values():
        assert p["status"] in ("evaluated", "infeasible", "failed", "duplicate")
        if p["iteration"] > 0:
            parent = programs[p["parent_id"]]
            assert p["generation"] >= parent["generation"] + 1
            assert p["mutation"].startswith("offline:") and p["diff"]
        if p["status"] == "evaluated":
            assert p["score"] is not None and json.loads(p["metrics"])["valid"] is True
        elif p["status"] == "duplicate":
            original = programs[p["duplicate_of"]]
            assert p["dedup_level"] in ("syntactic", "functional") and original["duplicate_of"] is None
            assert p["score"] == original["score"]
        else:
            assert p["score"] is None and p["error"]
    # every program has its stage evaluations; a program that passed smoke also ran full;
    # the probe (functional hash) runs before them; duplicates are never evaluated
    for p in programs.values():
        stages = [r["stage"] for r in con.execute("SELECT stage FROM evaluations WHERE program_id=? ORDER BY id",
                                                   (p["id"],))]
        search = [s for s in stages if s in ("smoke", "full")]
        if p["status"] == "duplicate":  # syntactic: never run; functional: known once the smoke stage ran
            assert search == ([] if p["dedup_level"] == "syntactic" else ["smoke"])
        else:
            assert search in (["smoke"], ["smoke", "full"])
        if p["status"] == "evaluated":
            assert search == ["smoke", "full"]
        if p["iteration"] > 0 and p["dedup_level"] != "syntactic":
            assert stages[0] == "probe"  # the probe rode with the smoke stage (or ran alone)
    held = con.execute("SELECT COUNT(*) FROM evaluations WHERE stage='holdout:unseen'").fetchone()[0]
    assert held == 3  # the top 3 are scored on the held-out workload after the search
    assert con.execute("SELECT COUNT(*) FROM programs WHERE holdout_score IS NOT NULL").fetchone()[0] == 3
    best = max(p["score"] for p in programs.values() if p["score"] is not None)
    assert best >= initial[0]["score"]
    assert (cwd / "runs" / "e2e" / "best.py").read_text() == next(
        p["code"] for p in programs.values() if p["score"] == best)
    assert "best program" in done.stdout and "best.py" in done.stdout
    assert len({p["code_hash"] for p in programs.values()}) == 31  # no program proposed twice


def test_leaderboard_and_runs(cache_run):
    cwd, _ = cache_run
    out = evolve(cwd, "leaderboard", "e2e", "--json", "--limit", "100")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["run"] == "e2e" and len(data["programs"]) == 31
    first = data["programs"][0]
    assert first["rank"] == 1 and set(first) >= {"id", "score", "metrics", "parent_id", "generation", "mutation",
                                                 "status"}
    scores = [p["score"] for p in data["programs"] if p["status"] == "evaluated"]
    assert scores == sorted(scores, reverse=True)
    ranked = [p for p in data["programs"] if p["rank"] is not None]
    assert [p["rank"] for p in ranked] == list(range(1, len(ranked) + 1))
    assert all(p["status"] == "evaluated" for p in ranked)  # duplicates carry a score but no rank
    table = evolve(cwd, "leaderboard")
    assert table.returncode == 0 and "hit_rate" in table.stdout
    runs = json.loads(evolve(cwd, "runs", "--json").stdout)
    assert runs[0]["name"] == "e2e" and runs[0]["programs"] == 31 and runs[0]["best_score"] == scores[0]


def test_existing_name_refused_then_resumed(cache_run):
    cwd, _ = cache_run
    again = evolve(cwd, "start", str(ROOT / "problems" / "cache_eviction"), "--name", "e2e", "--iterations", "3")
    assert again.returncode == 2 and "already exists" in again.stderr and "evolve resume e2e" in again.stderr
    more = evolve(cwd, "resume", "e2e", "--iterations", "34")
    assert more.returncode == 0, more.stderr
    con = db(cwd, "e2e")
    assert con.execute("SELECT COUNT(*) FROM programs").fetchone()[0] == 35
    assert con.execute("SELECT COUNT(*) FROM programs WHERE status='pending'").fetchone()[0] == 0


def test_unknown_run_and_bad_problem_are_clear(tmp_path):
    missing = evolve(tmp_path, "leaderboard", "nope")
    assert missing.returncode == 2 and "no run" in missing.stderr and "Traceback" not in missing.stderr
    folder = write_problem(tmp_path / "p")
    (folder / "problem.yaml").write_text((folder / "problem.yaml").read_text() + "mutatoin: fast\n")
    bad = evolve(tmp_path, "start", str(folder))
    assert bad.returncode == 2 and "problem.yaml" in bad.stderr and "mutatoin" in bad.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


HANGS = "def value():\n    # EVOLVE-BLOCK-START\n    while True:\n        pass\n    # EVOLVE-BLOCK-END\n"
CRASHES = "def value():\n    # EVOLVE-BLOCK-START\n    return 1 / 0\n    # EVOLVE-BLOCK-END\n"


@pytest.mark.parametrize("program,expect", [(HANGS, "timeout"), (CRASHES, "ZeroDivisionError")])
def test_starting_program_that_fails_ends_the_run_with_reason(tmp_path, program, expect):
    folder = write_problem(tmp_path / "p", program=program)
    text = (folder / "problem.yaml").read_text().replace("wall_s: 20, cpu_s: 20", "wall_s: 2, cpu_s: 2")
    (folder / "problem.yaml").write_text(text)
    done = evolve(tmp_path, "start", str(folder), "--name", "f")
    assert done.returncode == 1
    assert "starting program failed" in done.stdout and expect in done.stdout
    row = db(tmp_path, "f").execute("SELECT status, error FROM programs").fetchone()
    assert row["status"] == "failed" and expect in row["error"]
    assert db(tmp_path, "f").execute("SELECT status FROM runs").fetchone()[0] == "failed"


def test_evaluator_that_raises_is_recorded(tmp_path):
    folder = write_problem(tmp_path / "p", evaluator="def evaluate(p, w):\n    raise KeyError('oops')\n")
    done = evolve(tmp_path, "start", str(folder), "--name", "f")
    assert done.returncode == 1 and "KeyError" in done.stdout
    assert "KeyError: 'oops'" in db(tmp_path, "f").execute("SELECT error FROM evaluations").fetchone()[0]


def test_ctrl_c_keeps_finished_work_and_resume_finishes(tmp_path):
    slow = ("import time\nfrom importlib.machinery import SourceFileLoader\n"
            "def evaluate(p, w):\n    time.sleep(0.3)\n    v = SourceFileLoader('c', p).load_module().value()\n"
            "    return {'metrics': {'valid': True, 'closeness': -abs(v - 10)}}\n")
    folder = write_problem(tmp_path / "p", evaluator=slow)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "evolve", "start", str(folder), "--name", "c", "--iterations",
                             "500"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dbfile = tmp_path / "runs" / "c" / "evolve.db"
    deadline = time.time() + 60
    while time.time() < deadline:
        if dbfile.exists():
            try:
                n = sqlite3.connect(dbfile).execute("SELECT COUNT(*) FROM programs WHERE status!='pending'").fetchone()[0]
            except sqlite3.OperationalError:
                n = 0
            if n >= 4:
                break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "evolve resume c" in out
    con = db(tmp_path, "c")
    assert con.execute("SELECT status FROM runs").fetchone()[0] == "interrupted"
    finished = con.execute("SELECT COUNT(*) FROM programs WHERE status!='pending'").fetchone()[0]
    assert finished >= 4
    evals = con.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]
    assert evals == finished  # one stage each; nothing half-written for in-flight ones
    con.close()
    more = evolve(tmp_path, "resume", "c", "--iterations", "12")
    assert more.returncode == 0, more.stderr
    con = db(tmp_path, "c")
    assert con.execute("SELECT COUNT(*) FROM programs WHERE status='pending'").fetchone()[0] == 0
    assert con.execute("SELECT COUNT(*) FROM programs").fetchone()[0] == 13
    # every program evaluated exactly once, in-flight ones included
    assert con.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0] == 13
