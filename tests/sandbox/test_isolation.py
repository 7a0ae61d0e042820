"""The adversarial suite: what a hostile candidate tries, run against every backend present."""
from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from tests.sandbox.conftest import run_eval

HERE = Path(__file__).resolve().parent
RUN_IT = str(HERE / "evaluators" / "run_it.py")


def candidate(body: str) -> str:
    lines = "\n".join("    " + line for line in body.strip().splitlines())
    return f"def main():\n{lines}\n"


def test_honest_candidate_is_ok_and_deterministic(backend):
    code = candidate("import random\nreturn random.random() + hash('x') % 1000")
    first, second = (run_eval(backend, RUN_IT, code) for _ in range(2))
    assert first.status == "ok", first.error + first.stderr
    assert first.result == second.result and first.backend == backend.name


def test_no_network(backend):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        code = candidate(f"""
import socket
out = []
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2); out.append("connected")
except OSError as exc:
    out.append("refused")
try:
    socket.getaddrinfo("example.com", 80); out.append("resolved")
except OSError:
    out.append("no dns")
return out
""")
        res = run_eval(backend, RUN_IT, code)
    finally:
        listener.close()
    assert res.status == "ok", res.error
    assert res.result["metrics"]["value"] == ["refused", "no dns"]


def test_memory_bomb_is_oom(backend):
    res = run_eval(backend, RUN_IT, candidate("x = bytearray(3_000_000_000)\nreturn len(x)"), memory_mb=256)
    assert res.status == "oom", (res.status, res.error)


def test_busy_loop_ends_at_cpu_limit(backend):
    res = run_eval(backend, RUN_IT, candidate("while True:\n    pass"), cpu_s=1, wall_s=30)
    assert res.status == "timeout" and "CPU limit" in res.error


def test_sleep_ends_at_wall_limit(backend):
    res = run_eval(backend, RUN_IT, candidate("import time\ntime.sleep(100)"), wall_s=1.5)
    assert res.status == "timeout" and "wall-clock" in res.error


def test_escaped_grandchild_leaves_no_process(backend, tmp_path):
    seconds = str(1000 + time.monotonic_ns() % 100000)  # a sleep no other process on the host runs
    code = candidate(f"""
import os, signal, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        os.execvp("sleep", ["sleep", "{seconds}"])
    os._exit(0)
time.sleep(0.5)
return 1
""")
    res = run_eval(backend, RUN_IT, code)
    assert res.status == "ok", res.error
    time.sleep(0.5)
    assert not _sleepers(seconds), "a process of the run survived it"


def _sleepers(seconds: str) -> list[str]:
    """Live `sleep SECONDS` processes on the host (the escaped grandchild is the only one)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().split(b"\0")
                state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if cmd[:2] == [b"sleep", seconds.encode()] and state != "Z":
                found.append(proc.name)
    return found


def test_fork_bomb_is_stopped(backend):
    code = candidate("""
import os
n = 0
try:
    for _ in range(5000):
        if os.fork() == 0:
            import time; time.sleep(30); os._exit(0)
        n += 1
except OSError:
    pass
return n
""")
    res = run_eval(backend, RUN_IT, code, pids=64, wall_s=20)
    assert res.status == "ok", res.error
    assert res.result["metrics"]["value"] < 64
    time.sleep(0.5)


@pytest.mark.parametrize("target", ["repo", "home", "system", "db"])
def test_writes_outside_the_work_dir_fail(backend, target, tmp_path, root):
    if backend.name == "process" and os.geteuid() == 0 and not (backend.user or backend.landlock):
        pytest.skip("process backend run as root, without Landlock, cannot protect files root owns")
    paths = {"repo": root / f"evolve-write-test-{os.getpid()}", "home": Path.home() / f"evolve-write-{os.getpid()}",
             "system": Path("/usr/evolve-write-test"), "db": tmp_path / "evolve.db"}
    path = paths[target]
    if target == "db":
        path.write_text("db")
    code = candidate(f"""
try:
    with open({str(path)!r}, "a") as fh:
        fh.write("pwned")
    return "written"
except OSError as exc:
    return type(exc).__name__
""")
    res = run_eval(backend, RUN_IT, code)
    try:
        assert res.status == "ok", res.error
        if not str(path.resolve()).startswith("/tmp/") or backend.name != "bwrap":
            assert res.result["metrics"]["value"] != "written"
        # what matters: nothing reached the host (under bwrap a checkout in /tmp is shadowed by the
        # sandbox's private /tmp, where a write succeeds and vanishes with the sandbox)
        assert not path.exists() or path.read_text() == "db"
    finally:
        if target != "db" and path.exists():
            path.unlink()


def test_work_dir_is_gone_afterwards(backend):
    res = run_eval(backend, RUN_IT, candidate("import os\nopen('left.txt', 'w').write('x')\nreturn os.getcwd()"))
    assert res.status == "ok", res.error
    assert not Path(res.result["metrics"]["value"], "left.txt").exists()


def test_secrets_are_hidden(backend, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    code = candidate("""
import os
try:
    host = open("/proc/1/environ", "rb").read()
except OSError:
    host = b""
return {"env": sorted(os.environ), "host_has_key": b"sk-secret" in host or b"aws-secret" in host}
""")
    res = run_eval(backend, RUN_IT, code)
    assert res.status == "ok", res.error
    value = res.result["metrics"]["value"]
    assert not any(k.endswith("_API_KEY") or k.startswith("AWS_") for k in value["env"])
    assert value["host_has_key"] is False


def test_environment_carries_nothing_of_the_host(backend, monkeypatch):
    """Neither the run's own environment nor pid 1's (inside bwrap: bwrap itself) holds the host's
    variables beyond those the run sets: not even its PATH."""
    monkeypatch.setenv("PATH", "/host/only/bin:" + os.environ.get("PATH", "/usr/bin"))
    monkeypatch.setenv("EVOLVE_HOST_ONLY", "host-value")
    code = candidate("""
import os
try:
    raw = open("/proc/1/environ", "rb").read()
except OSError:
    raw = None
one = None if raw is None else dict(e.split("=", 1) for e in raw.decode().split("\\0") if "=" in e)
return {"env": dict(os.environ), "pid1": one}
""")
    res = run_eval(backend, RUN_IT, code)
    assert res.status == "ok", res.error
    value = res.result["metrics"]["value"]
    for env in (value["env"], value["pid1"] or {}):
        assert "/host/only/bin" not in env.get("PATH", "") and "EVOLVE_HOST_ONLY" not in env
        assert not {k: v for k, v in env.items() if "host-value" in v}
    if value["pid1"] is not None and backend.name != "docker":  # pid 1 is the sandbox's: what the run set, or nothing
        assert value["pid1"].items() <= value["env"].items()


def test_stdout_flood_is_capped(backend):
    code = candidate("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)")
    res = run_eval(backend, RUN_IT, code, output_bytes=200_000)
    assert res.status == "output_cap"
    assert len(res.stdout) <= 8192 and len(res.stderr) <= 8192


def test_crash_in_evaluator_is_error_with_traceback(backend):
    res = run_eval(backend, RUN_IT, "raise_nothing = 1\n")  # no main(): the evaluator raises
    assert res.status == "error" and "AttributeError" in res.error


def test_what_a_candidate_prints_is_kept(backend):
    """Its output is flushed before the runner exits (the tail is the evaluation's stdout and stderr)."""
    res = run_eval(backend, RUN_IT, candidate("import sys\nprint('to stdout')\nprint('to stderr', file=sys.stderr)\n"
                                              "return 1"))
    assert res.status == "ok", res.error
    assert "to stdout" in res.stdout and "to stderr" in res.stderr
