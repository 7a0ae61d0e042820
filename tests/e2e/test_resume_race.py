"""Two `evolve resume` of one run at once: exactly one evolves it, the other is refused; a killed run is stale."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import ROOT, write_problem
from tests.db import pgserver
from tests.e2e.test_cli_runs import evolve
from tests.e2e.test_resume import SLOW, YAML


def _popen(cwd, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    return subprocess.Popen([sys.executable, "-m", "evolve", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def where(request, tmp_path) -> list[str]:
    """The global flags that put the runs in a local SQLite file, or in one shared PostgreSQL database."""
    if request.param == "sqlite":
        return []
    pgserver.require()
    return ["--db", pgserver.fresh_database(f"race_{os.getpid()}_{int(time.time() * 1000) % 10**8}")]


def _rows(tmp_path, where: list[str], name: str, query: str) -> list[tuple]:
    url = where[1] if where else f"sqlite:///{tmp_path / 'runs' / name / 'evolve.db'}"
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(query), {"n": name})]
    finally:
        engine.dispose()


def test_two_resumes_racing_one_wins_nothing_is_evaluated_twice(tmp_path, where):
    write_problem(tmp_path / "p", yaml_text=YAML, evaluator=SLOW)
    first = evolve(tmp_path, *where, "start", str(tmp_path / "p"), "--name", "r", "--iterations", "1")
    assert first.returncode == 0, first.stdout + first.stderr
    a = _popen(tmp_path, *where, "resume", "r", "--iterations", "16")
    b = _popen(tmp_path, *where, "resume", "r", "--iterations", "16")
    outs = [p.communicate(timeout=300) for p in (a, b)]
    codes = sorted(p.returncode for p in (a, b))
    assert codes == [0, 2], outs
    loser = outs[[a, b].index(next(p for p in (a, b) if p.returncode == 2))]
    assert "is in use by another evolve process" in loser[1] and "pid" in loser[1], loser
    assert "Traceback" not in loser[1]
    twice = _rows(tmp_path, where, "r", "SELECT e.program_id, e.stage, COUNT(*) FROM evaluations e "
                  "JOIN programs p ON p.id = e.program_id JOIN runs r ON r.id = p.run_id WHERE r.name = :n "
                  "GROUP BY e.program_id, e.stage HAVING COUNT(*) > 1")
    assert not twice, f"stages evaluated twice: {twice}"
    status = _rows(tmp_path, where, "r", "SELECT status FROM runs WHERE name = :n")
    assert status == [("finished",)]
    children = _rows(tmp_path, where, "r", "SELECT COUNT(*) FROM programs p JOIN runs r ON r.id = p.run_id "
                     "WHERE r.name = :n AND p.iteration > 0")
    assert children == [(16,)]


def test_a_killed_run_is_stale_and_a_plain_resume_takes_it_over(tmp_path, where):
    write_problem(tmp_path / "p", yaml_text=YAML, evaluator=SLOW)
    proc = _popen(tmp_path, *where, "start", str(tmp_path / "p"), "--name", "s", "--iterations", "40")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.5)
        listing = evolve(tmp_path, *where, "runs", "--json")
        if listing.returncode == 0 and any(r["name"] == "s" and r["programs"] >= 3 for r in json.loads(listing.stdout)):
            break
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    shown = {r["name"]: r["status"] for r in json.loads(evolve(tmp_path, *where, "runs", "--json").stdout)}
    assert shown["s"] == "stale"
    status = json.loads(evolve(tmp_path, *where, "status", "s", "--json").stdout)
    assert status["status"] == "stale"
    done = evolve(tmp_path, *where, "resume", "s")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "iterations 40 (the run)" in done.stdout
    assert _rows(tmp_path, where, "s", "SELECT status FROM runs WHERE name = :n") == [("finished",)]
