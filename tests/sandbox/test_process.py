"""The process backend: limits, statuses and a clean environment."""
import asyncio
import json
import os
import sys
import textwrap

import pytest

from sandbox.process import ProcessBackend
from sandbox.spec import RunSpec


def run(code: str, **limits):
    spec = RunSpec(argv=[sys.executable, "main.py"], files={"main.py": textwrap.dedent(code)},
                   **{"wall_s": 10, "cpu_s": 10, "memory_mb": 512, **limits})
    return asyncio.run(ProcessBackend().run(spec))


def test_ok_reads_result_file():
    res = run("""
        import json
        print("hello")
        json.dump({"value": {"x": 1}}, open("result.json", "w"))
    """)
    assert res.status == "ok" and res.result == {"x": 1}
    assert "hello" in res.stdout


def test_sleep_ends_at_wall_limit():
    res = run("import time; time.sleep(100)", wall_s=1)
    assert res.status == "timeout" and res.wall_s < 5
    assert "wall-clock" in res.error


def test_busy_loop_ends_at_cpu_limit():
    res = run("while True: pass", cpu_s=1, wall_s=20)
    assert res.status == "timeout" and "CPU limit" in res.error


def test_memory_bomb_is_oom():
    res = run("x = bytearray(2_000_000_000)", memory_mb=256)
    assert res.status == "oom"


def test_output_flood_is_capped():
    res = run("import sys\nwhile True: sys.stdout.write('x' * 10000)", output_bytes=100_000)
    assert res.status == "output_cap"
    assert len(res.stdout) <= 8192


def test_crash_is_error_with_stderr():
    res = run("raise ValueError('boom')")
    assert res.status == "error" and "ValueError: boom" in res.error


def test_missing_result_is_invalid_result():
    res = run("print('no result file')")
    assert res.status == "invalid_result" and "no result.json" in res.error


def test_garbage_result_is_invalid_result():
    res = run("open('result.json', 'w').write('{not json')")
    assert res.status == "invalid_result" and "not valid JSON" in res.error


def test_secrets_are_not_inherited(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    res = run("""
        import json, os
        json.dump({"value": dict(os.environ)}, open("result.json", "w"))
    """)
    assert res.status == "ok"
    assert not any(k.endswith("_API_KEY") or k.startswith("AWS_") for k in res.result)
    assert res.result["HOME"] != os.environ.get("HOME")


def test_work_dir_is_removed_and_children_killed():
    res = run("""
        import json, os, subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        json.dump({"value": {"cwd": os.getcwd(), "child": child.pid}}, open("result.json", "w"))
    """)
    assert res.status == "ok"
    assert not os.path.exists(res.result["cwd"])
    # the child shared the process group, which is killed when the run ends
    for _ in range(50):
        if not os.path.exists(f"/proc/{res.result['child']}") or _zombie(res.result["child"]):
            break
        asyncio.run(asyncio.sleep(0.1))
    assert not os.path.exists(f"/proc/{res.result['child']}") or _zombie(res.result["child"])


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_runner_reports_evaluator_exception(tmp_path, root):
    evaluator = tmp_path / "ev.py"
    evaluator.write_text("def evaluate(path, workload):\n    raise RuntimeError('evaluator broke')\n")
    request = {"evaluator": str(evaluator), "function": "evaluate", "program": "c.py", "workload": {}}
    spec = RunSpec(argv=[sys.executable, "-m", "sandbox.runner", "req.json"],
                   files={"c.py": "", "req.json": json.dumps(request)}, readable_paths=(root,))
    res = asyncio.run(ProcessBackend().run(spec))
    assert res.status == "error" and "RuntimeError: evaluator broke" in res.error
