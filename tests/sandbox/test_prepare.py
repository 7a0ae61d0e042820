"""An evaluator's `prepare(workload)`: the workloads a sandbox may be asked for (the search's stages and probe,
never held-out ones) are built once, before any candidate, in each warm sandbox or fork server, on every
backend; a prepare that fails loses only its head start."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from sandbox import request

EVALUATOR = '''
import json
PREPARED = []

def prepare(workload):
    if workload.get("fail"):
        raise RuntimeError("this workload cannot be prepared")
    PREPARED.append(workload)

def evaluate(program_path, workload):
    return {"metrics": {"prepared": json.dumps(PREPARED), "asked": json.dumps(workload)}}
'''


@pytest.fixture
def evaluator():
    folder = Path(tempfile.mkdtemp(prefix="evolve-prepare-test-", dir="/tmp"))  # readable by the sandbox's user
    path = folder / "evaluate.py"
    path.write_text(EVALUATOR)
    os.chmod(folder, 0o755)
    os.chmod(path, 0o644)
    yield path
    shutil.rmtree(folder, ignore_errors=True)


def _evaluate(backend, evaluator: Path, workload: dict, prepare: tuple) -> dict:
    spec = request.evaluation(str(evaluator), "evaluate", "x = 1\n", workload, prepare=prepare, wall_s=30,
                              cpu_s=30, memory_mb=1024, result="/result/result" if backend.name == "docker" else "fd")
    res = asyncio.run(backend.run(spec))
    assert res.status == "ok", res.error + res.stderr
    assert not getattr(backend, "broken", None), backend.broken
    return {k: json.loads(v) for k, v in res.result["metrics"].items()}


def test_each_candidate_finds_the_workloads_prepared_once(backend, evaluator):
    prepare = ({"probe": 1}, {"seed": 1}, {"seed": 2})
    for workload in ({"seed": 1}, {"seed": 2}, {"seed": 1}):  # one fork server (or warm sandbox) serves all
        seen = _evaluate(backend, evaluator, workload, prepare)
        assert seen == {"prepared": list(prepare), "asked": workload}


def test_a_prepare_that_fails_only_loses_its_head_start(backend, evaluator):
    seen = _evaluate(backend, evaluator, {"seed": 1}, ({"fail": 1}, {"seed": 1}))
    assert seen == {"prepared": [{"seed": 1}], "asked": {"seed": 1}}


def test_without_prepare_nothing_is_prepared(backend, evaluator):
    assert _evaluate(backend, evaluator, {"seed": 1}, ()) == {"prepared": [], "asked": {"seed": 1}}
