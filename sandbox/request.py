"""Build the RunSpec of one evaluator call through `sandbox.runner` (used by the executor)."""
from __future__ import annotations

import json
import secrets
import site
import sys
from pathlib import Path

from sandbox.runner import PREPARE_FLAG
from sandbox.spec import RunSpec

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CANDIDATE_FILE = "candidate.py"
# `-S` skips site's start-up work (.pth scans, the editable-install finder: ~40 ms a run);
# the environment's site-packages are put on PYTHONPATH instead
SITE_PACKAGES = tuple(Path(p) for p in site.getsitepackages() if Path(p).is_dir())
THREADS_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def evaluation(evaluator: str, function: str, code: str, workload: dict, *,
               python: str = sys.executable, result: str = "fd", repeat: int = 0, probe: dict | None = None,
               evaluator_files: tuple[Path, ...] = (), prepare: tuple[dict, ...] = (), **limits) -> RunSpec:
    """A run of `evaluator.function(candidate.py, workload)`; the request (with the workload, as
    data) goes on stdin.

    Only the project's `sandbox` and `evaluators` packages, a file evaluator itself and the
    `evaluator_files` it declares are readable: not the problem's folder or its YAML (whose
    held-out workloads the search must never see), not the repository, its runs or databases.

    `prepare`: the workloads this sandbox may be asked for (the search's stages and probe, never held-out
    ones), handed to the evaluator's optional `prepare(workload)` before any candidate (sandbox.runner):
    part of the sandbox's template, so a fork server or warm sandbox builds them once for all its candidates.
    """
    nonce = secrets.token_hex(16)
    request = {"nonce": nonce, "evaluator": evaluator, "function": function, "program": CANDIDATE_FILE,
               "code": code, "workload": workload, "result": result, "repeat": repeat, "probe": probe}
    readable = [PROJECT_ROOT / "sandbox", PROJECT_ROOT / "evaluators"]
    if evaluator.endswith(".py"):
        readable.append(Path(evaluator))
    readable += [Path(p) for p in evaluator_files]
    env = {**THREADS_ENV, **limits.pop("env", {})}
    argv = [python, "-S", "-s", "-P", "-m", "sandbox.runner", evaluator]
    if prepare:
        argv += [PREPARE_FLAG, json.dumps(list(prepare), sort_keys=True)]
    return RunSpec(argv=argv,
                   stdin=json.dumps(request).encode("utf-8"), nonce=nonce, env=env,
                   readable_paths=tuple(readable), python_path=(PROJECT_ROOT, *SITE_PACKAGES), **limits)
