"""Held-out workloads never reach a candidate: each stage's sandbox holds the candidate, the
evaluator (with its declared data) and that stage's workload as data, nothing of the problem's
folder; held-out scoring sends only the held-out workloads, after the search."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys

import pytest

import sandbox
from evolve.executor import LocalExecutor
from evolve.problem import load_problem
from sandbox.spec import RunResult
from tests.conftest import ROOT
from tests.sandbox.attacks import MARKER, leaks, make_problem, run


@pytest.fixture
def problem():
    folder = make_problem()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_no_candidate_reads_the_held_out_section(backend, problem):
    _, res = run(backend, problem)
    assert res.status == "ok", res.error + res.stderr
    report = res.result["metrics"]["value"]
    assert leaks(report) == {}, report
    assert report["walk found"] == [] and MARKER not in json.dumps(res.result) + res.stdout + res.stderr
    assert report["yaml by absolute path"] == "denied" and report["yaml beside the evaluator"] == "denied"
    assert res.result["metrics"]["table"] == "42"  # the evaluator still reads the data it declares


class _Recorder:
    """A backend that records each request instead of running it."""

    name = "recorder"

    def __init__(self):
        self.specs = []

    async def run(self, spec):
        self.specs.append(spec)
        return RunResult("ok", 0, result={"metrics": {"value": 1}, "artifacts": {}})


def test_requests_carry_the_stage_workload_only(problem, monkeypatch):
    (problem / "problem.yaml").write_text((problem / "problem.yaml").read_text()
                                          + "sandbox: {evaluator_files: [data]}\n")
    loaded = load_problem(problem)
    recorder = _Recorder()
    monkeypatch.setattr(sandbox, "select", lambda name, allow_root=False: (recorder, "recorder"))
    executor = LocalExecutor(loaded, 1)
    asyncio.run(executor.evaluate("def main():\n    return 1\n"))
    search = recorder.specs[:]
    asyncio.run(executor.evaluate("def main():\n    return 1\n", loaded.spec.workloads.holdout))  # as finalize does
    held = recorder.specs[len(search):]
    for spec in search:
        assert MARKER.encode() not in spec.stdin and json.loads(spec.stdin)["workload"] == {"seed": 1}
    for spec in search + held:  # the workloads prepared ahead (sandbox.runner --prepare) are the search's alone
        assert MARKER not in " ".join(spec.argv)
        assert json.loads(spec.argv[spec.argv.index("--prepare") + 1]) == [{"seed": 1}]
    assert [json.loads(s.stdin)["workload"] for s in held] == [{"seed": 99, "tag": MARKER}]
    for spec in search + held:
        shown = {p.resolve() for p in spec.readable_paths}
        assert shown == {ROOT / "sandbox", ROOT / "evaluators", problem / "evaluate.py", problem / "data"}


def test_evaluator_files_that_would_show_the_yaml_are_refused(problem):
    (problem / "problem.yaml").write_text((problem / "problem.yaml").read_text()
                                          + "sandbox: {evaluator_files: [data/.., data]}\n")
    with pytest.raises(Exception, match="evaluator_files"):
        load_problem(problem)
    os.symlink(problem, problem / "data" / "up")
    (problem / "problem.yaml").write_text((problem / "problem.yaml").read_text().replace("data/.., data", "data/up"))
    with pytest.raises(sandbox.SandboxError, match="held-out"):
        LocalExecutor(load_problem(problem), 1)


@pytest.mark.parametrize("name", ["bwrap", "process"])
def test_a_search_run_stores_nothing_of_the_held_out_section(tmp_path, problem, name):
    why = sandbox.why_unavailable(name)
    if why:
        pytest.skip(f"{name}: {why}")
    hostile = (problem / "initial.py").read_text().replace("    return 1\n", (
        "    import glob, os, sys\n"
        "    found = []\n"
        "    for p in glob.glob('/tmp/evolve-holdout-test-*/*') + glob.glob('/tmp/**/*.yaml', recursive=True):\n"
        "        try:\n"
        "            found.append(open(p).read())\n"
        "        except OSError as exc:\n"
        "            found.append(str(exc))\n"
        "    print(found, file=sys.stderr)\n"
        "    print(found)\n"
        "    raise RuntimeError(repr(found))\n"))
    (problem / "initial.py").write_text(hostile)
    extra = "process, allow_root: true" if name == "process" else name
    (problem / "problem.yaml").write_text((problem / "problem.yaml").read_text() + (
        f"sandbox: {{backend: {extra}, evaluator_files: [data], wall_s: 30, cpu_s: 30}}\n"
        "evolution: {budget: {iterations: 1}, holdout_top: 0}\n"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "evolve", "start", str(problem), "--name", "h"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert "no_such" not in done.stderr  # the run itself ends as it may (the starting program fails)
    con = sqlite3.connect(tmp_path / "runs" / "h" / "evolve.db")
    stored = [json.dumps(row) for table in ("programs", "evaluations")
              for row in con.execute(f"SELECT * FROM {table}").fetchall()]
    assert stored and any("RuntimeError" in row for row in stored), done.stdout + done.stderr
    assert not any(MARKER in row for row in stored)
    assert MARKER not in done.stdout + done.stderr


def test_a_problem_under_a_folder_every_sandbox_reads_is_flagged(problem, monkeypatch):
    from evolve.executor import check_visibility
    from sandbox import view
    loaded = load_problem(problem)
    bwrap = type("B", (), {"name": "bwrap", "hides_files": True})()
    assert check_visibility(loaded, bwrap) == ""
    monkeypatch.setattr(view, "python_roots", lambda: [str(problem.parent)])  # a venv holding the problem
    assert "which every sandbox reads whole" in check_visibility(loaded, bwrap)
    blind = type("P", (), {"name": "process", "hides_files": False})()  # process without Landlock
    assert "no Landlock" in check_visibility(loaded, blind)
