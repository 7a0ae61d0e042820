"""A run remembers its budget, post-search steps run once, and a half-created run is recoverable."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

from tests.conftest import ROOT, write_problem
from tests.e2e.test_cli_runs import evolve
from tests.e2e.test_resume import SLOW, YAML

HOLDOUT_YAML = YAML.replace("    - {name: slow, workload: {sleep: 0.25}}\n",
                            "    - {name: slow, workload: {sleep: 0.02}}\n  holdout:\n"
                            "    - {name: unseen, workload: {sleep: 0}}\n").replace(
    "  concurrency: 2\n", "  concurrency: 2\n  holdout_top: 2\n").replace("{sleep: 0.05}", "{sleep: 0}")


def _db(tmp_path, name: str) -> sqlite3.Connection:
    return sqlite3.connect(tmp_path / "runs" / name / "evolve.db")


def _children(tmp_path, name: str) -> int:
    con = _db(tmp_path, name)
    try:
        return con.execute("SELECT COUNT(*) FROM programs WHERE iteration > 0").fetchone()[0]
    except sqlite3.OperationalError:  # the database is still being created
        return 0
    finally:
        con.close()


def test_plain_resume_finishes_the_iterations_given_to_start(tmp_path):
    write_problem(tmp_path / "p", yaml_text=YAML, evaluator=SLOW)  # the file's budget: 24
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "evolve", "start", str(tmp_path / "p"), "--name", "k",
                             "--iterations", "30"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill it once some children are written
        time.sleep(0.5)
        if (tmp_path / "runs" / "k" / "evolve.db").exists() and _children(tmp_path, "k") >= 4:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _children(tmp_path, "k") < 30
    done = evolve(tmp_path, "resume", "k")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "iterations 30 (the run)" in done.stdout
    assert "iteration budget of 30 reached" in done.stdout
    assert _children(tmp_path, "k") == 30
    # every program that passed the first stage and is no duplicate has a functional hash, resumed ones too
    con = _db(tmp_path, "k")
    unhashed = con.execute("SELECT id FROM programs WHERE status = 'evaluated' AND duplicate_of IS NULL "
                           "AND func_hash IS NULL").fetchall()
    assert not unhashed, f"programs evaluated without a functional hash: {unhashed}"


def test_a_finished_run_resumed_without_budget_changes_nothing(tmp_path):
    write_problem(tmp_path / "p", yaml_text=HOLDOUT_YAML, evaluator=SLOW)
    first = evolve(tmp_path, "start", str(tmp_path / "p"), "--name", "h", "--iterations", "6")
    assert first.returncode == 0, first.stdout + first.stderr

    def holdout_rows():
        con = _db(tmp_path, "h")
        try:
            return con.execute("SELECT program_id, COUNT(*) FROM evaluations WHERE stage = 'holdout:unseen' "
                               "GROUP BY program_id").fetchall()
        finally:
            con.close()

    before = holdout_rows()
    assert len(before) == 2 and all(n == 1 for _, n in before)
    again = evolve(tmp_path, "resume", "h")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "is finished and its budget of 6 iterations is spent" in again.stdout
    assert holdout_rows() == before
    more = evolve(tmp_path, "resume", "h", "--iterations", "12")
    assert more.returncode == 0, more.stdout + more.stderr
    assert _children(tmp_path, "h") == 12
    assert all(n == 1 for _, n in holdout_rows()), holdout_rows()  # each program scored once at most


def test_a_run_killed_while_being_created_is_recoverable(tmp_path):
    write_problem(tmp_path / "p", yaml_text=YAML, evaluator=SLOW)
    folder = tmp_path / "runs" / "half"
    folder.mkdir(parents=True)
    (folder / "evolve.db").write_bytes(b"")  # the process died right after creating the file
    said = evolve(tmp_path, "resume", "half")
    assert said.returncode == 2
    assert "evolve start PROBLEM --name half" in said.stderr and "--db" not in said.stderr
    done = evolve(tmp_path, "start", str(tmp_path / "p"), "--name", "half", "--iterations", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _children(tmp_path, "half") == 2


def test_a_run_row_without_programs_is_resumed_by_name(tmp_path):
    write_problem(tmp_path / "p", yaml_text=YAML, evaluator=SLOW)
    done = evolve(tmp_path, "start", str(tmp_path / "p"), "--name", "bare", "--iterations", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    con = _db(tmp_path, "bare")  # as if it had been killed right after writing the run row
    con.executescript("DELETE FROM island_members; DELETE FROM cells; DELETE FROM evaluations; "
                      "DELETE FROM llm_calls; DELETE FROM programs; UPDATE runs SET status = 'running';")
    con.commit()
    con.close()
    again = evolve(tmp_path, "resume", "bare")
    assert again.returncode == 0, again.stdout + again.stderr
    assert _children(tmp_path, "bare") == 2


def test_a_new_run_appears_whole_or_not_at_all(tmp_path):
    """The database is built beside its place and linked in with its run row: a kill while creating it
    leaves only a partial file, which `evolve runs` does not list and the next start removes."""
    write_problem(tmp_path / "p", yaml_text=YAML, evaluator=SLOW)
    folder = tmp_path / "runs" / "w"
    folder.mkdir(parents=True)
    partial = folder / "evolve.db.partial-4194999"  # a pid above pid_max: its process is gone
    partial.write_bytes(b"SQLite format 3\x00 half written")
    listing = evolve(tmp_path, "runs", "--json")
    assert listing.returncode == 0 and listing.stdout.strip() == "[]", listing.stdout + listing.stderr
    done = evolve(tmp_path, "start", str(tmp_path / "p"), "--name", "w", "--iterations", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert not partial.exists() and not list(folder.glob("evolve.db.partial-*"))
    con = _db(tmp_path, "w")
    assert con.execute("SELECT name, status FROM runs").fetchall() == [("w", "finished")]
