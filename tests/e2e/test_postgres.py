"""Runs kept in PostgreSQL, through the CLI: two evolve processes share one database, and the
leaderboard, runs and status commands read it while a run writes."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import ROOT, SLOW_EVALUATOR, require_extra, write_problem
from tests.db import pgserver
from tests.e2e.test_cli_runs import evolve

YAML = """\
name: tiny
description: make value() return 10
program: initial.py
evaluator: ./evaluate.py
objectives:
  - {{name: closeness, direction: max}}
workloads:
  stages:
    - {{name: only, workload: {{target: 10, sleep: 0.4}}}}
sandbox: {{backend: process, allow_root: true, wall_s: 30, cpu_s: 30, memory_mb: 1024}}
evolution:
  budget: {{iterations: {iterations}}}
  concurrency: 1
{database}"""


@pytest.fixture(scope="module")
def pg_url() -> str:
    pgserver.require()
    return pgserver.fresh_database("e2e")


def _start(cwd, args: list[str]) -> subprocess.Popen:
    import os
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    return subprocess.Popen([sys.executable, "-m", "evolve", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_two_processes_share_one_database_and_the_leaderboard_reads_it_live(pg_url, tmp_path):
    flagged = write_problem(tmp_path / "flagged", YAML.format(iterations=25, database=""),
                            evaluator=SLOW_EVALUATOR)
    in_yaml = write_problem(tmp_path / "in_yaml", YAML.format(iterations=4, database=f"database: {{url: '{pg_url}'}}\n"),
                            evaluator=SLOW_EVALUATOR)
    first = _start(tmp_path, ["--db", pg_url, "start", str(flagged), "--name", "pg-a"])
    second = _start(tmp_path, ["start", str(in_yaml), "--name", "pg-b"])  # the URL from database.url
    live = []  # what the leaderboard showed while run pg-a was still writing
    while first.poll() is None:
        board = evolve(tmp_path, "--db", pg_url, "leaderboard", "pg-a", "--json", "--limit", "0")
        status = evolve(tmp_path, "--db", pg_url, "status", "pg-a", "--json")
        if board.returncode == 0 and status.returncode == 0 and first.poll() is None:
            live.append((len(json.loads(board.stdout)["programs"]), json.loads(status.stdout)))
        elif first.poll() is None:
            live.append((-1, board.stderr[-300:] + status.stderr[-300:]))
        time.sleep(0.2)
    outs = [p.communicate(timeout=300) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outs
    seen = [(rows, facts["status"]) for rows, facts in live if rows >= 0]
    assert any(rows >= 1 and status == "running" for rows, status in seen), \
        f"the leaderboard never showed rows while pg-a ran: {live}"

    listing = json.loads(evolve(tmp_path, "--db", pg_url, "runs", "--json").stdout)
    assert {r["name"]: (r["status"], r["programs"]) for r in listing} == {"pg-a": ("finished", 26),
                                                                          "pg-b": ("finished", 5)}
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        runs = dict(conn.execute(text("SELECT name, id FROM runs")).all())
        assert set(runs) == {"pg-a", "pg-b"}
        scored = conn.execute(text("SELECT count(*) FROM programs WHERE status = 'evaluated' "
                                   "AND (metrics ->> 'valid')::boolean")).scalar()
        assert scored >= 2
        top = conn.execute(text("SELECT score FROM programs WHERE run_id = :r AND status = 'evaluated' "
                                "ORDER BY score DESC LIMIT 1"), {"r": runs["pg-a"]}).scalar()
    engine.dispose()
    board = json.loads(evolve(tmp_path, "--db", pg_url, "leaderboard", "pg-a", "--json").stdout)["programs"]
    assert board[0]["score"] == pytest.approx(top)
    assert (tmp_path / "runs" / "pg-a" / "best.py").is_file()

    again = evolve(tmp_path, "--db", pg_url, "start", str(flagged), "--name", "pg-a")
    assert again.returncode == 2 and "already exists" in again.stderr
    resumed = evolve(tmp_path, "--db", pg_url, "resume", "pg-a", "--iterations", "27")
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    listing = json.loads(evolve(tmp_path, "--db", pg_url, "runs", "--json").stdout)
    assert {r["name"]: r["programs"] for r in listing}["pg-a"] == 28


def test_unreachable_database_names_the_flag(tmp_path):
    require_extra("psycopg", "postgres")
    done = evolve(tmp_path, "--db", "postgresql+psycopg://nobody:pw@127.0.0.1:1/none", "runs")
    assert done.returncode == 2
    assert "cannot open the database postgresql+psycopg://nobody:***@127.0.0.1:1/none" in done.stderr
    assert "--db" in done.stderr


def test_unknown_run_lists_the_runs_there(pg_url, tmp_path):
    done = evolve(tmp_path, "--db", pg_url, "leaderboard", "nope", "--plain")
    assert done.returncode == 2 and "no run named 'nope'" in done.stderr


def test_an_empty_database_has_no_runs_yet(tmp_path):
    pgserver.require()
    empty = pgserver.fresh_database("empty")
    listing = evolve(tmp_path, "--db", empty, "runs")
    assert listing.returncode == 0 and "no runs in postgresql+psycopg://" in listing.stdout
    board = evolve(tmp_path, "--db", empty, "leaderboard", "--plain")
    assert board.returncode == 2 and "holds no evolve runs yet" in board.stderr


def test_each_run_numbers_its_programs_from_one(pg_url, tmp_path):
    """The database's keys run across all runs; what users see and type (`RUN:ID`) is the run's own numbering."""
    problem = write_problem(tmp_path / "n", YAML.format(iterations=3, database="").replace("sleep: 0.4", "sleep: 0"),
                            evaluator=SLOW_EVALUATOR)
    for name in ("num-a", "num-b"):
        done = evolve(tmp_path, "--db", pg_url, "start", str(problem), "--name", name)
        assert done.returncode == 0, done.stdout + done.stderr
    with create_engine(pg_url.replace("postgresql+psycopg", "postgresql+psycopg")).connect() as conn:
        keys = conn.execute(text("SELECT min(p.id) FROM programs p JOIN runs r ON r.id = p.run_id "
                                 "WHERE r.name = 'num-b'")).scalar()
    assert keys > 1  # run num-b's rows do not start at key 1 in the database
    board = json.loads(evolve(tmp_path, "--db", pg_url, "leaderboard", "num-b", "--json", "--limit", "0").stdout)
    assert sorted(r["id"] for r in board["programs"]) == [1, 2, 3, 4]
    shown = evolve(tmp_path, "--db", pg_url, "show", "num-b:1", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["mutation"] == "initial"
    children = [r for r in board["programs"] if r["id"] > 1]
    assert all(r["parent_id"] is None or 1 <= r["parent_id"] <= 4 for r in children), children
    missing = evolve(tmp_path, "--db", pg_url, "show", "num-b:99")
    assert missing.returncode == 2 and "--db" in missing.stderr
