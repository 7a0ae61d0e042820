"""Backends present on this machine, and a helper that runs an evaluator on candidate code."""
from __future__ import annotations

import asyncio
import textwrap

import pytest

import sandbox
from sandbox import request

BACKENDS = ("bwrap", "process", "docker")


def _param(name: str):
    reason = sandbox.why_unavailable(name)
    return pytest.param(name, marks=pytest.mark.skipif(bool(reason), reason=f"{name}: {reason}"), id=name)


@pytest.fixture(params=[_param(n) for n in BACKENDS])
def backend(request):
    """Each backend present; as root, `process` drops privileges where it can and runs as root
    (sandbox.allow_root) where it cannot (tests/sandbox/test_root.py covers both)."""
    return sandbox.select(request.param, allow_root=True)[0]


def run_eval(backend, evaluator: str, code: str, workload: dict | None = None, **limits):
    """Run `evaluator.evaluate(candidate, workload)` in the sandbox; the RunResult."""
    limits = {"wall_s": 20, "cpu_s": 20, "memory_mb": 1024, **limits}
    result = "/result/result" if backend.name == "docker" else "fd"
    spec = request.evaluation(evaluator, "evaluate", textwrap.dedent(code), workload or {},
                              result=result, **limits)
    return asyncio.run(backend.run(spec))
