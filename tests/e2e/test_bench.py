"""`evolve bench` through the CLI: a small suite, killed (SIGKILL to its process group) while runs are in
flight, resumed with `--resume`, then its report checked against the runs in the database."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

from evolve.bench import stats
from tests.conftest import ROOT, SLOW_EVALUATOR, TINY_HEAD, write_problem
from tests.e2e.test_cli_runs import evolve

TINY = TINY_HEAD + """\
    - {name: only, workload: {sleep: 0.3}}
constraints: [{name: valid, equals: true}]
sandbox: {wall_s: 20, cpu_s: 20, memory_mb: 1024}
evolution: {concurrency: 2}
"""

# suites/smoke.yaml with smaller budgets, and a slow tiny problem so that runs are in flight when killed
SUITE = """\
name: e2e
problems: [cache_eviction, ./tiny]
arms:
  - {name: plain}
  - {name: tourn, settings: {evolution.selection: tournament}}
seeds: [0, 1]
budget: {iterations: 8}
settings: {evolution.holdout_top: 1, sandbox.wall_s: 10}
"""
EVALUATED = ("evaluated", "infeasible", "failed")


def _db(cwd: Path) -> sqlite3.Connection:
    con = sqlite3.connect(cwd / "runs" / "bench-e2e" / "bench.db")
    con.row_factory = sqlite3.Row
    return con


def _runs(cwd: Path) -> list[sqlite3.Row]:
    path = cwd / "runs" / "bench-e2e" / "bench.db"
    if not path.exists():
        return []
    con = _db(cwd)
    try:
        return con.execute("SELECT r.name, r.status, (SELECT count(*) FROM programs p WHERE p.run_id = r.id) AS n "
                           "FROM runs r").fetchall()
    except sqlite3.OperationalError:  # the tables are being made
        return []
    finally:
        con.close()


def _start_and_kill(cwd: Path) -> list[sqlite3.Row]:
    """Start the bench in a process group of its own; SIGKILL the group once one run has finished and
    another is in flight; return the runs as they were then."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100"}
    proc = subprocess.Popen([sys.executable, "-m", "evolve", "bench", "suite.yaml", "--parallel", "2"], cwd=cwd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            rows = _runs(cwd)
            if any(r["status"] == "finished" for r in rows) and any(r["status"] == "running" and r["n"] >= 2
                                                                    for r in rows):
                return rows
            time.sleep(0.1)
        raise AssertionError(f"never saw a finished run beside one in flight: {proc.poll()}, "
                             f"{proc.stdout.read().decode() if proc.poll() is not None else ''}")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()


def test_bench_killed_mid_way_resumes_and_reports_what_the_database_holds(tmp_path):
    write_problem(tmp_path / "tiny", yaml_text=TINY, evaluator=SLOW_EVALUATOR)
    (tmp_path / "suite.yaml").write_text(SUITE)
    at_kill = _start_and_kill(tmp_path)
    finished_before = {r["name"] for r in at_kill if r["status"] == "finished"}
    in_flight = {r["name"] for r in at_kill if r["status"] == "running"}
    assert finished_before and in_flight and len(finished_before) < 8

    done = evolve(tmp_path, "bench", "--resume", "e2e", "--parallel", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "8/8 finished" in done.stdout
    logs = tmp_path / "runs" / "bench-e2e" / "logs"
    for name in finished_before:  # skipped: launched once, by the killed bench
        assert (logs / f"{name}.log").read_text().count("$ ") == 1, name
    for name in in_flight:  # killed while running: resumed, not started again
        commands = [line for line in (logs / f"{name}.log").read_text().splitlines() if line.startswith("$ ")]
        assert len(commands) == 2 and f" resume {name}" in commands[1], commands

    con = _db(tmp_path)
    runs = {r["name"]: r for r in con.execute("SELECT * FROM runs")}
    assert len(runs) == 8 and {r["status"] for r in runs.values()} == {"finished"}
    truth = {}
    for name, run in runs.items():
        rows = con.execute("SELECT iteration, status, score, holdout_score FROM programs WHERE run_id = ?",
                           (run["id"],)).fetchall()
        assert sorted(r["iteration"] for r in rows) == list(range(9))  # 8 children and the starting program
        assert not [r for r in rows if r["status"] == "pending"]
        best = max((r for r in rows if r["score"] is not None), key=lambda r: (r["score"], -r["iteration"]))
        truth[name] = {"best": best["score"], "holdout": best["holdout_score"], "programs": len(rows),
                       "evaluations": sum(r["status"] in EVALUATED for r in rows),
                       "duplicates": sum(r["status"] == "duplicate" for r in rows),
                       "seed": json.loads(run["config"])["evolution"]["seed"]}
    con.close()

    report = evolve(tmp_path, "bench", "report", "e2e", "--json")
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert {r["run"] for r in data["runs"]} == set(runs)
    for r in data["runs"]:
        t = truth[r["run"]]
        assert (r["best_score"], r["programs"], r["evaluations"], r["duplicates_saved"], r["seed"]) == \
            (t["best"], t["programs"], t["evaluations"], t["duplicates"], t["seed"]), r["run"]
        assert r["holdout_score"] == t["holdout"]
        if r["problem"] == "cache_eviction":  # held-out workloads: the best program was scored on them
            assert r["holdout_score"] is not None
    assert len(data["table"]) == 4
    for cell in data["table"]:
        bests = [truth[f"e2e.{cell['problem']}.{cell['arm']}.s{s}"]["best"] for s in (0, 1)]
        assert cell["seeds"] == 2 and cell["unfinished"] == 0
        assert abs(cell["best_score"]["mean"] - statistics.fmean(bests)) < 1e-12
        assert abs(cell["best_score"]["sd"] - statistics.stdev(bests)) < 1e-12
    for c in data["comparisons"]:
        assert (c["a"], c["b"]) == ("tourn", "plain")
        a = [truth[f"e2e.{c['problem']}.tourn.s{s}"]["best"] for s in (0, 1)]
        b = [truth[f"e2e.{c['problem']}.plain.s{s}"]["best"] for s in (0, 1)]
        assert c["p"] == stats.mann_whitney(a, b).p and c["method"] == "exact"

    out = tmp_path / "report"
    written = evolve(tmp_path, "bench", "report", "e2e", "-o", str(out))
    assert written.returncode == 0, written.stderr
    assert {"report.md", "report.html", "report.json", "best_cache_eviction_evaluations.png",
            "best_tiny_evaluations.png"} <= {p.name for p in out.iterdir()}
    assert "| cache_eviction | plain | 2 |" in (out / "report.md").read_text()

    again = evolve(tmp_path, "bench", "--resume", "e2e")  # nothing left: no run is launched
    assert again.returncode == 0 and "started" not in again.stdout and "resumed" not in again.stdout

    listed = evolve(tmp_path, "runs", "--json")  # the bench's folder is no run of runs/ (its database is bench.db)
    assert listed.returncode == 0 and "bench-e2e" not in listed.stdout
    shared = evolve(tmp_path, "--db", f"sqlite:///{tmp_path}/runs/bench-e2e/bench.db", "status", "e2e.tiny.plain.s0")
    assert shared.returncode == 0, shared.stderr
