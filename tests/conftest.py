"""Shared fixtures: the project root and a tiny problem written into a temp dir."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def root() -> Path:
    return ROOT


TINY_EVALUATOR = '''
import importlib.util

def evaluate(program_path, workload):
    spec = importlib.util.spec_from_file_location("cand", program_path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    x = float(mod.value())
    return {"metrics": {"valid": True, "x": x, "closeness": -abs(x - workload.get("target", 10))},
            "artifacts": {}}
'''

# the tiny evaluator, sleeping `workload["sleep"]` seconds first: for runs that must last a while
SLOW_EVALUATOR = TINY_EVALUATOR.replace("def evaluate(program_path, workload):",
                                        "def evaluate(program_path, workload):\n    import time\n"
                                        "    time.sleep(workload.get('sleep', 0))")

TINY_PROGRAM = '''
def value():
    # EVOLVE-BLOCK-START
    a = 1.0
    b = 2.0
    return a + b
    # EVOLVE-BLOCK-END
'''


# the head of a tiny problem's YAML, up to its stages: add stages (and sandbox, evolution) to it
TINY_HEAD = """\
name: tiny
description: make value() return 10
program: initial.py
evaluator: ./evaluate.py
objectives:
  - {name: closeness, direction: max}
workloads:
  stages:
"""
TINY_YAML = TINY_HEAD + """\
    - {name: only, workload: {target: 10}}
constraints:
  - {name: valid, equals: true}
sandbox: {wall_s: 20, cpu_s: 20, memory_mb: 1024}
evolution:
  budget: {iterations: 5}
  concurrency: 2
"""


def write_problem(folder: Path, yaml_text: str | None = None, program: str = TINY_PROGRAM,
                  evaluator: str = TINY_EVALUATOR) -> Path:
    """A small problem: value() should approach 10; evaluated by ./evaluate.py."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "initial.py").write_text(textwrap.dedent(program))
    (folder / "evaluate.py").write_text(textwrap.dedent(evaluator))
    (folder / "problem.yaml").write_text(textwrap.dedent(yaml_text) if yaml_text else TINY_YAML)
    return folder


@pytest.fixture
def tiny_problem(tmp_path) -> Path:
    return write_problem(tmp_path / "tiny")


def require_extra(module: str, extra: str):
    """Import `module`, or skip the test saying which extra installs it (fail under CI, which installs them all)."""
    import importlib
    import os
    try:
        return importlib.import_module(module)
    except ImportError:
        reason = f"{module} is not installed: pip install -e '.[{extra}]'"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (required under CI)")
        pytest.skip(reason)


def require_docker(reason: str) -> None:
    """Skip a docker test saying why docker cannot run here ('' when it can); under CI fail instead:
    .ci/run installs docker.io, starts dockerd and builds the image, so a missing one is a broken CI."""
    import os
    if not reason:
        return
    if os.environ.get("CI"):
        pytest.fail(f"docker: {reason} (required under CI)")
    pytest.skip(f"docker: {reason}")
