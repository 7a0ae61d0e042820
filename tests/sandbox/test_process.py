"""Backend plumbing: selection, result channel, statuses, cgroups, evaluator failures."""
import asyncio
import json
import sys

import pytest

import sandbox
from sandbox import cgroup, request
from sandbox.process import ProcessBackend
from sandbox.spec import RunSpec
from tests.sandbox.conftest import run_eval


def test_auto_says_what_it_picked():
    backend, note = sandbox.select("auto")
    assert backend.name in ("bwrap", "process") and backend.name in note
    if backend.name == "process":
        assert "fallback" in note and sandbox.why_unavailable("bwrap") in note


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(sandbox.SandboxError, match="unknown sandbox backend 'chroot'"):
        sandbox.select("chroot")


def test_unavailable_backend_by_name_says_why(monkeypatch):
    monkeypatch.setattr(sandbox, "why_unavailable", lambda name: "no daemon answers")
    with pytest.raises(sandbox.SandboxError, match="no daemon answers.*backend: auto"):
        sandbox.select("docker")


def test_plain_command_without_result_is_invalid_result():
    spec = RunSpec(argv=[sys.executable, "-c", "print('hi')"], nonce="n0")
    res = asyncio.run(ProcessBackend(allow_root=True).run(spec))
    assert res.status == "invalid_result" and "no result" in res.error and "hi" in res.stdout


def test_exit_code_without_result_is_error():
    spec = RunSpec(argv=[sys.executable, "-c", "import sys; sys.exit('bad things')"], nonce="n0")
    res = asyncio.run(ProcessBackend(allow_root=True).run(spec))
    assert res.status == "error" and "bad things" in res.error


def test_evaluator_exception_is_error_with_traceback(tmp_path, backend):
    evaluator = tmp_path / "ev.py"
    evaluator.write_text("def evaluate(path, workload):\n    raise RuntimeError('evaluator broke')\n")
    res = run_eval(backend, str(evaluator), "x = 1\n")
    assert res.status == "error" and "RuntimeError: evaluator broke" in res.error


def test_cpu_time_is_measured(backend, tmp_path):
    evaluator = tmp_path / "ev.py"
    evaluator.write_text("def evaluate(path, workload):\n    n = sum(i * i for i in range(3_000_000))\n"
                         "    return {'metrics': {'n': n}}\n")
    res = run_eval(backend, str(evaluator), "")
    assert res.status == "ok" and res.cpu_s > 0.05


def test_run_cgroup_caps_and_cleans_up():
    group = cgroup.RunCgroup.create(pids=32, memory_mb=256)
    if group is None:
        pytest.skip("no writable cgroup hierarchy on this machine; rlimits alone apply")
    dirs = list(group.groups.values())
    assert all(d.is_dir() for d in dirs) and group.caps_pids
    group.close()
    assert not any(d.exists() for d in dirs)


def test_request_reads_only_sandbox_and_evaluators():
    spec = request.evaluation("evaluators.caching", "evaluate", "x = 1", {"seed": 3})
    names = {p.name for p in spec.readable_paths}
    assert names == {"sandbox", "evaluators"}
    assert spec.nonce and spec.nonce.encode() in spec.stdin and spec.files == {}
    assert json.loads(spec.stdin)["code"] == "x = 1"


def test_a_command_that_cannot_start_is_an_error_not_a_crash():
    from sandbox import launch, outcome
    spec = RunSpec(argv=["/nonexistent/python"], nonce="n0")
    raw = asyncio.run(launch.execute(spec.argv, spec, "/tmp", {}, None, None))
    res = outcome.classify(raw, spec, "process")
    assert res.status == "error" and "could not start" in res.error
