"""Backends present on this machine, and a helper that runs an evaluator on candidate code.

`backend` is each backend run cold (a fresh sandbox per evaluation), plus `bwrap-fork`: bwrap
through sandbox.forkserver (the fork server a run uses by default), so that the adversarial suite
runs against the children of a zygote as well.
"""
from __future__ import annotations

import asyncio
import textwrap

import pytest

import sandbox
from sandbox import request
from tests.conftest import require_docker

BACKENDS = ("bwrap", "process", "docker")
FORK = "bwrap-fork"


def _param(name: str):
    if name == "docker":  # skipped (or, under CI, failed) by make_backend
        return pytest.param(name, id=name)
    reason = sandbox.why_unavailable(name.removesuffix("-fork"))
    return pytest.param(name, marks=pytest.mark.skipif(bool(reason), reason=f"{name}: {reason}"), id=name)


def make_backend(name: str, request_=None):
    """The backend called `name`; for `bwrap-fork`, a ForkPool over bwrap (closed when the test ends)."""
    if name == "docker":
        require_docker(sandbox.why_unavailable("docker"))
    if name != FORK:
        return sandbox.select(name, allow_root=True)[0]
    from sandbox.forkserver import ForkPool
    pool = ForkPool(sandbox.select("bwrap")[0], 1)
    if request_ is not None:
        request_.addfinalizer(pool.close)
    return pool


@pytest.fixture(params=[_param(n) for n in (*BACKENDS, FORK)])
def backend(request):
    """Each backend present; as root, `process` drops privileges where it can and runs as root
    (sandbox.allow_root) where it cannot (tests/sandbox/test_root.py covers both)."""
    return make_backend(request.param, request)


def run_eval(backend, evaluator: str, code: str, workload: dict | None = None, **limits):
    """Run `evaluator.evaluate(candidate, workload)` in the sandbox; the RunResult."""
    limits = {"wall_s": 20, "cpu_s": 20, "memory_mb": 1024, **limits}
    result = "/result/result" if backend.name == "docker" else "fd"
    spec = request.evaluation(evaluator, "evaluate", textwrap.dedent(code), workload or {},
                              result=result, **limits)
    res = asyncio.run(backend.run(spec))
    broken = getattr(backend, "broken", None)
    assert not broken, f"the fork server fell back to one sandbox per evaluation: {broken}"
    return res
