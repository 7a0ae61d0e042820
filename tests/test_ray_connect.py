"""Joining a Ray cluster started apart (`ray start --head` with token authentication on, in this test)
through the CLI: no token, a wrong token and nothing listening each stop `evolve start` at once (exit
2, one message that names the fix, no run recorded); with the head's token the run goes ahead."""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import ROOT, require_extra
from tests.e2e.test_cli_runs import evolve

AUTH_VARS = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS")
CACHE = str(ROOT / "problems" / "cache_eviction")
FAST_S = 15  # an error is reported within this (Ray's own retries took 21.5 s); evolve's imports are most of it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _session_pids(sid: int) -> list[int]:
    """The processes of session `sid` (the head's `ray start` and everything it started)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[3]) == sid:  # state ppid pgrp session
                pids.append(int(proc.name))
    return pids


def _stop(proc: subprocess.Popen) -> None:
    """End the head: SIGTERM (it drains and stops its processes), then SIGKILL whatever is left of its session."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
    deadline = time.monotonic() + 10
    while (left := _session_pids(proc.pid)) and time.monotonic() < deadline:
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def head():
    """A Ray head with token authentication on, started by `ray start --head --block` in its own session
    (its GCS listens on all interfaces, Ray's choice; the test reaches it at 127.0.0.1), stopped after."""
    require_extra("ray", "ray")
    token, port = secrets.token_hex(16), _free_port()
    temp = tempfile.mkdtemp(prefix="evray-", dir="/tmp")  # short: Ray's socket paths live under it
    env = {k: v for k, v in os.environ.items() if k not in AUTH_VARS}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token, RAY_USAGE_STATS_ENABLED="0")
    log_path = Path(temp) / "head.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("ray")), "start", "--head", "--block", "--port", str(port),
             "--node-ip-address", "127.0.0.1", "--num-cpus", "2", "--include-dashboard", "false",
             "--disable-usage-stats", "--temp-dir", temp, "--dashboard-agent-listen-port", str(_free_port()),
             "--metrics-export-port", str(_free_port())],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while "Ray runtime started" not in log_path.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"`ray start --head` did not start (exit {proc.poll()}):\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield SimpleNamespace(address=f"127.0.0.1:{port}", token=token)
    finally:
        _stop(proc)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def no_token(monkeypatch):
    """This test's `evolve` processes see none of the caller's Ray address or auth settings."""
    for var in AUTH_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    return monkeypatch


def _start(tmp_path: Path, name: str, address: str) -> tuple[subprocess.CompletedProcess, float]:
    t = time.monotonic()
    done = evolve(tmp_path, "start", CACHE, "--name", name, "--executor", "ray", "--ray-address", address,
                  "--iterations", "3", "--set", "evolution.holdout_top=1", timeout=240)
    return done, time.monotonic() - t


def _one_error(done: subprocess.CompletedProcess, tmp_path: Path, name: str, took: float) -> str:
    """Exit 2 soon, one `error:` line and nothing else on stderr (no traceback, no Ray warnings), no run."""
    assert done.returncode == 2, done.stderr + done.stdout
    assert took < FAST_S, f"took {took:.1f} s"
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert not (tmp_path / "runs" / name).exists()  # stopped before any run row (or folder) was made
    return lines[0]


def test_no_token_is_an_authentication_error_that_names_the_fix(head, no_token, tmp_path):
    done, took = _start(tmp_path, "notoken", head.address)
    msg = _one_error(done, tmp_path, "notoken", took)
    assert f"cannot join the Ray cluster at '{head.address}'" in msg and "authentication failed" in msg
    assert "sends no token" in msg and "RAY_AUTH_MODE=token" in msg and "RAY_AUTH_TOKEN" in msg
    assert "ray get-auth-token" in msg and "RAY_AUTH_MODE=disabled ray start --head" in msg


def test_a_wrong_token_is_refused_by_name(head, no_token, tmp_path):
    no_token.setenv("RAY_AUTH_MODE", "token")
    no_token.setenv("RAY_AUTH_TOKEN", "not-the-token")
    done, took = _start(tmp_path, "wrong", head.address)
    msg = _one_error(done, tmp_path, "wrong", took)
    assert "authentication failed: the cluster refused the token from RAY_AUTH_TOKEN" in msg
    assert "not-the-token" not in msg  # a token is never printed


def test_with_the_heads_token_the_run_goes_ahead(head, no_token, tmp_path):
    no_token.setenv("RAY_AUTH_MODE", "token")
    no_token.setenv("RAY_AUTH_TOKEN", head.token)
    done, _ = _start(tmp_path, "joined", head.address)
    assert done.returncode == 0, done.stderr + done.stdout
    assert f"cluster at {head.address}: 2 CPUs" in done.stdout and "iteration budget of 3 reached" in done.stdout
    assert "Traceback" not in done.stderr and "InvalidAuthToken" not in done.stderr, done.stderr
    con = sqlite3.connect(tmp_path / "runs" / "joined" / "evolve.db")
    assert con.execute("SELECT status FROM runs").fetchone() == ("finished",)
    statuses = [r[0] for r in con.execute("SELECT status FROM programs ORDER BY iteration")]
    assert len(statuses) == 4 and statuses[0] == "evaluated"  # the initial program, scored on the head's workers


def test_nothing_listening_is_unreachable_fast(no_token, tmp_path):
    require_extra("ray", "ray")
    address = f"127.0.0.1:{_free_port()}"  # bound a moment ago, closed: nothing listens there
    done, took = _start(tmp_path, "nowhere", address)
    msg = _one_error(done, tmp_path, "nowhere", took)
    assert f"cannot reach the Ray cluster at '{address}'" in msg and f"nothing listens at {address}" in msg
    assert "tried a TCP connection" in msg and "ray start --head --port" in msg and "--ray-address" in msg
