"""Where evaluations run: each stage of a candidate in a fresh sandboxed process.

The controller never imports candidate code; it hands the candidate's text to
the sandbox, which runs `sandbox.runner` with the problem's evaluator.
"""
from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sandbox
from sandbox import get_backend
from sandbox.spec import INVALID_RESULT, OK, RunResult, RunSpec

from evolve.problem import Problem, Stage
from evolve.scoring import first_unmet

PROJECT_ROOT = Path(sandbox.__file__).resolve().parent.parent
CANDIDATE_FILE = "candidate.py"
REQUEST_FILE = "request.json"


@dataclass
class StageOutcome:
    """One stage's attempt: the sandbox status, and the evaluator's metrics when it ran."""

    stage: Stage
    status: str
    passed: bool
    metrics: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    stdout: str = ""
    stderr: str = ""
    wall_s: float = 0.0
    cpu_s: float = 0.0


class LocalExecutor:
    """Runs evaluations on this machine, at most `concurrency` at once."""

    def __init__(self, problem: Problem, concurrency: int):
        cfg = problem.spec.sandbox
        if cfg.gpus > 0:
            raise sandbox.SandboxError(
                f"{problem.yaml_path}: key 'sandbox.gpus' asks for {cfg.gpus} GPU(s), but GPU "
                "evaluation is not supported by this sandbox yet. Set sandbox.gpus: 0."
            )
        self.problem = problem
        self.backend = get_backend(cfg.backend)
        self.slots = asyncio.Semaphore(concurrency)

    def _spec(self, code: str, function: str, workload: dict) -> RunSpec:
        cfg = self.problem.spec.sandbox
        request = {"evaluator": self.problem.evaluator_ref, "function": function,
                   "program": CANDIDATE_FILE, "workload": workload}
        readable = [PROJECT_ROOT]
        if self.problem.evaluator_ref.endswith(".py"):
            readable.append(Path(self.problem.evaluator_ref).parent)
        return RunSpec(
            argv=[sys.executable, "-s", "-m", "sandbox.runner", REQUEST_FILE],
            files={CANDIDATE_FILE: code, REQUEST_FILE: json.dumps(request)},
            wall_s=cfg.wall_s, cpu_s=cfg.cpu_s, memory_mb=cfg.memory_mb,
            output_bytes=cfg.output_bytes, readable_paths=tuple(readable),
            env={"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
        )

    async def probe(self, code: str) -> RunResult | None:
        """Run the evaluator's `probe` on the problem's probe workload (None: no probe declared)."""
        workload = self.problem.spec.workloads.probe
        if workload is None:
            return None
        async with self.slots:
            return await self.backend.run(self._spec(code, "probe", workload))

    async def evaluate(self, code: str) -> list[StageOutcome]:
        """Run the stages in order; stop after the first that fails or misses its `require`."""
        outcomes = []
        async with self.slots:
            for stage in self.problem.spec.workloads.stages:
                result = await self.backend.run(self._spec(code, "evaluate", stage.workload))
                outcome = _stage_outcome(stage, result)
                outcomes.append(outcome)
                if not outcome.passed:
                    break
        return outcomes


def _stage_outcome(stage: Stage, result: RunResult) -> StageOutcome:
    out = StageOutcome(stage, result.status, False, error=result.error, stdout=result.stdout,
                       stderr=result.stderr, wall_s=result.wall_s, cpu_s=result.cpu_s)
    if result.status != OK:
        return out
    value = result.result
    if not isinstance(value, dict) or not isinstance(value.get("metrics"), dict):
        out.status = INVALID_RESULT
        out.error = "the evaluator must return {'metrics': {...}, 'artifacts': {...}}; got " + repr(value)[:300]
        return out
    out.metrics = value["metrics"]
    artifacts = value.get("artifacts") or {}
    out.artifacts = artifacts if isinstance(artifacts, dict) else {"value": artifacts}
    reason = first_unmet(stage.require, out.metrics)
    if reason is None:
        out.passed = True
    else:
        out.error = f"stage '{stage.name}' requirement not met: {reason}"
        if out.artifacts.get("error"):
            out.error += f"\n{out.artifacts['error']}"
    return out
