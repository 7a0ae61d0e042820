"""`evolve start` in a real terminal: as fast as piped, Ctrl-C acts at once, the run stays resumable."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

from tests.conftest import ROOT, SLOW_EVALUATOR, TINY_HEAD, write_problem
from tests.e2e.pty_session import PtySession

EVOLVE = [sys.executable, "-m", "evolve"]
SLOW_YAML = TINY_HEAD + """\
    - {name: main, workload: {target: 10, sleep: 0.5}}
sandbox: {backend: process, allow_root: true, wall_s: 30}
evolution: {budget: {iterations: 500}}
"""


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return {**env, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color"}


def _status(cwd, name: str) -> str:
    con = sqlite3.connect(cwd / "runs" / name / "evolve.db")
    try:
        return con.execute("SELECT status FROM runs WHERE name = ?", (name,)).fetchone()[0]
    finally:
        con.close()


def _piped(cwd, name: str) -> float:
    began = time.monotonic()
    done = subprocess.run([*EVOLVE, "start", "cache_eviction", "--iterations", "20", "--name", name], cwd=cwd,
                          env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return time.monotonic() - began


def _in_terminal(cwd, name: str) -> float:
    session = PtySession([*EVOLVE, "start", "cache_eviction", "--iterations", "20", "--name", name], cwd, _env())
    result = session.finish(timeout=300)
    assert result.returncode == 0, result.output[-3000:]
    assert "iteration budget of 20 reached" in result.output
    assert "run state unavailable" not in result.output
    return result.wall_s


def test_a_run_in_a_terminal_is_as_fast_as_piped(tmp_path):
    # alternate, and compare the best of two of each: the machine is noisy, the stall was 10x
    piped = [_piped(tmp_path, "p1"), None]
    tty = [_in_terminal(tmp_path, "t1"), None]
    piped[1], tty[1] = _piped(tmp_path, "p2"), _in_terminal(tmp_path, "t2")
    ratio = min(tty) / min(piped)
    print(f"terminal {min(tty):.2f} s, piped {min(piped):.2f} s, ratio {ratio:.2f}")
    assert ratio < 1.5, f"under a terminal the run took {ratio:.2f}x as long as piped ({tty} vs {piped})"
    assert _status(tmp_path, "t2") == "finished"


def test_ctrl_c_in_a_terminal_stops_within_two_seconds(tmp_path):
    problem = write_problem(tmp_path / "slow", SLOW_YAML, evaluator=SLOW_EVALUATOR)
    session = PtySession([*EVOLVE, "start", str(problem), "--name", "ctrlc"], tmp_path, _env())
    assert session.wait_for("evolving", timeout=60), session.output[-2000:]
    session.pump(3)  # a few evaluations in flight
    pressed = time.monotonic()
    session.type(b"\x03")
    result = session.finish(timeout=30)
    took = time.monotonic() - pressed
    assert result.returncode == 0, result.output[-3000:]
    assert took < 2.0, f"Ctrl-C took {took:.1f} s to stop the run"
    assert _status(tmp_path, "ctrlc") == "interrupted"
    assert "evolve resume ctrlc" in result.output


def test_ctrl_c_twice_still_leaves_a_resumable_run(tmp_path):
    problem = write_problem(tmp_path / "slow", SLOW_YAML, evaluator=SLOW_EVALUATOR)
    session = PtySession([*EVOLVE, "start", str(problem), "--name", "twice"], tmp_path, _env())
    assert session.wait_for("evolving", timeout=60), session.output[-2000:]
    session.pump(2)
    session.type(b"\x03")
    session.type(b"\x03")
    result = session.finish(timeout=30)
    assert result.returncode == 0, result.output[-3000:]
    assert _status(tmp_path, "twice") == "interrupted"
    again = subprocess.run([*EVOLVE, "resume", "twice", "--iterations", "3"], cwd=tmp_path, env=_env(),
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _status(tmp_path, "twice") == "finished"
