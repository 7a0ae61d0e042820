"""Where evaluations run: each stage of a candidate in a fresh sandboxed process.

The controller never imports candidate code; it hands the candidate's text to
the sandbox, which runs `sandbox.runner` with the problem's evaluator.
"""
from __future__ import annotations

import asyncio
import os
from contextlib import asynccontextmanager
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import sandbox
from sandbox import confine, forkserver, gpus as gpu, request, view
from sandbox.spec import INVALID_RESULT, OK, RunResult, RunSpec
from sandbox.forkserver import ForkPool
from sandbox.warm import WarmPool

from evolve.problem import Problem, SandboxConfig, Stage
from evolve.search.scoring import first_unmet

PROJECT_ROOT = request.PROJECT_ROOT
CANDIDATE_FILE = request.CANDIDATE_FILE


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
    probe: Any = None  # the outputs of a probe that rode along with this stage
    probe_s: float = 0.0


class LocalExecutor:
    """Runs evaluations on this machine, at most `concurrency` at once."""

    def __init__(self, problem: Problem, concurrency: int, gpu_count: int | None = None):
        cfg = problem.spec.sandbox
        try:
            available = gpu.detect() if gpu_count is None else gpu_count
            self.gpus_per_run = gpu.resolve(cfg.gpus, available, str(problem.yaml_path))
        except (gpu.GpuError, ValueError) as exc:
            raise sandbox.SandboxError(str(exc)) from None
        self.problem = problem
        self.prepare = search_workloads(problem)
        self.backend, self.backend_note = sandbox.select(cfg.backend, cfg.allow_root)
        self.backend_note += check_visibility(problem, self.backend)
        self.evaluator_ref = reachable_evaluator(problem, self.backend)
        if cfg.warm and not self.gpus_per_run and self.backend.name in ("bwrap", "process"):
            # bwrap: fork servers (one isolated child per candidate); process: one fresh sandbox each, started ahead
            fork = self.backend.name == "bwrap" and forkserver.enabled()
            self.backend = (ForkPool if fork else WarmPool)(self.backend, concurrency)
        # a timing problem without GPUs measures on a quiet machine: one evaluation at a time
        self.slots = asyncio.Semaphore(1 if cfg.timing and not self.gpus_per_run else concurrency)
        self.devices = gpu.DevicePool(available if self.gpus_per_run else 0)

    def _spec(self, code: str, function: str, workload: dict, devices: tuple[int, ...] = (),
              repeat: int = 0, probe: dict | None = None) -> RunSpec:
        return evaluation_spec(self.evaluator_ref, self.problem.spec.sandbox, self.backend.name,
                               function, code, workload, devices, repeat, probe, self.prepare)

    @asynccontextmanager
    async def _slot(self):
        """A device set (GPU problems: one evaluation per device) and an evaluation slot."""
        async with self.devices.devices(self.gpus_per_run) as devices:
            async with self.slots:
                yield devices

    async def probe(self, code: str, repeat: int = 1) -> RunResult | None:
        """Run the evaluator's `probe` on the probe workload `repeat` times in one sandboxed process
        (a candidate whose outputs change between the calls is not deterministic).

        The result's `result` is the list of the outputs. None when the problem declares no probe workload.
        """
        workload = self.problem.spec.workloads.probe
        if workload is None:
            return None
        async with self._slot() as devices:
            return await run_probe(repeat, lambda: self.backend.run(self._spec(code, "probe", workload, devices,
                                                                               repeat)))

    async def evaluate(self, code: str, stages: list[Stage] | None = None, probe_repeat: int = 0) -> list[StageOutcome]:
        """Run the stages (default: the search stages) in order; stop at the first that fails its `require`.

        With `probe_repeat`, the probe rides along with the first stage, in the same sandboxed process
        (the first outcome's `probe` holds its outputs): functional hashing without a sandbox of its own.
        """
        probe = self.problem.spec.workloads.probe
        riding = {"workload": probe, "repeat": probe_repeat} if probe_repeat and probe is not None else None
        async with self._slot() as devices:
            return await run_stages(self.problem.spec.workloads.stages if stages is None else stages,
                                    lambda stage, first: self.backend.run(self._spec(
                                        code, "evaluate", stage.workload, devices, probe=riding if first else None)))


# --- shared by every executor (the Ray executor runs these on its worker nodes) ----------------
def evaluation_spec(evaluator_ref: str, cfg: SandboxConfig, backend_name: str, function: str, code: str,
                    workload: dict, devices: tuple[int, ...] = (), repeat: int = 0,
                    probe: dict | None = None, prepare: tuple[dict, ...] = ()) -> RunSpec:
    """The sandboxed run of one evaluator call (`evaluate` or `probe`) on one workload;
    with `repeat`, the function is called that many times in the process and the result is the list.

    The workload travels in the request, as data: the sandbox holds the candidate, the evaluator
    (a file evaluator alone, with its `evaluator_files`) and nothing of the problem's folder. `prepare`:
    the workloads the sandbox builds ahead, before any candidate (search_workloads)."""
    return request.evaluation(
        evaluator_ref, function, code, workload, repeat=repeat, probe=probe, prepare=prepare,
        evaluator_files=evaluator_files(evaluator_ref, cfg),
        wall_s=cfg.wall_s, cpu_s=cfg.cpu_s, memory_mb=cfg.memory_mb, output_bytes=cfg.output_bytes,
        pids=cfg.pids, tmpfs_mb=cfg.tmpfs_mb, gpus=devices,
        result="/result/result" if backend_name == "docker" else "fd",
    )


def search_workloads(problem: Problem) -> tuple[dict, ...]:
    """The workloads the search sends to sandboxes, the probe's first: what a fork server or warm sandbox
    may prepare ahead (sandbox.runner --prepare). Never the held-out ones, which no search sandbox holds."""
    workloads = problem.spec.workloads
    found = ([workloads.probe] if workloads.probe is not None else []) + [s.workload for s in workloads.stages]
    return tuple(w for i, w in enumerate(found) if w not in found[:i])


def evaluator_files(evaluator_ref: str, cfg: SandboxConfig) -> tuple[Path, ...]:
    """The files a file evaluator declares it reads beside itself (sandbox.evaluator_files), as paths."""
    base = Path(evaluator_ref).parent
    return tuple(base / p for p in cfg.evaluator_files) if evaluator_ref.endswith(".py") else ()


def check_visibility(problem: Problem, backend) -> str:
    """Refuse evaluator_files that would show candidates the problem's YAML; a note for the run's
    header where its held-out workloads cannot be hidden on this backend ('' where they are)."""
    cfg, ref, yaml = problem.spec.sandbox, problem.evaluator_ref, problem.yaml_path.resolve()
    where = f"{problem.yaml_path}: sandbox.evaluator_files"
    if cfg.evaluator_files and not ref.endswith(".py"):
        raise sandbox.SandboxError(f"{where} is for a file evaluator (./evaluate.py); {ref} is a module, "
                                   "whose package is readable in the sandbox already: remove the key.")
    files = evaluator_files(ref, cfg)
    for path in files:
        real = path.resolve()
        if not real.exists():
            raise sandbox.SandboxError(f"{where} names {path}, which does not exist.")
        if real == yaml or real in yaml.parents:
            raise sandbox.SandboxError(f"{where} names {path}, which holds the problem's YAML: candidates would "
                                       "read its held-out workloads. Name the data files or a data folder instead.")
    if not problem.spec.workloads.holdout:
        return ""
    if not getattr(backend, "hides_files", True):
        return (f"; WARNING: candidates can read {problem.yaml_path} and its held-out workloads here "
                "(no Landlock); install bwrap to hide them")
    shown = [r for r in (*view.SYSTEM, *view.python_roots()) if yaml.is_relative_to(os.path.realpath(r))]
    if shown and getattr(backend, "name", "") in ("bwrap", "process"):
        return (f"; WARNING: {problem.yaml_path} lies under {shown[0]}, which every sandbox reads whole: candidates "
                "can read its held-out workloads. Keep problems outside the system and the Python environment")
    return ""


def reachable_evaluator(problem: Problem, backend) -> str:
    """The file evaluator's path as the backend's runs can read it: its own, or, where the process
    backend drops root to a user who cannot reach it, a staged copy (with its evaluator_files)."""
    ref, cfg = problem.evaluator_ref, problem.spec.sandbox
    unreadable = getattr(backend, "unreadable", None)
    if not ref.endswith(".py") or unreadable is None or not unreadable([ref, *map(str, evaluator_files(ref, cfg))]):
        return ref
    staged = confine.stage(ref, cfg.evaluator_files)
    why = unreadable([staged, *map(str, evaluator_files(staged, cfg))])
    if why:
        raise sandbox.SandboxError(f"the process backend runs candidates as uid 65534, which cannot read the "
                                   f"evaluator, nor a copy of it in the temp dir: {why}. Point TMPDIR at a "
                                   "folder other users may enter, or install bwrap.")
    return staged


async def run_stages(stages: list[Stage], run: Callable[[Stage, bool], Awaitable[RunResult]]) -> list[StageOutcome]:
    """Run the stages in order through `run(stage, is_first)`; stop after the first that fails its `require`."""
    outcomes = []
    for stage in stages:
        outcome = _stage_outcome(stage, await run(stage, not outcomes))
        outcomes.append(outcome)
        if not outcome.passed:
            break
    return outcomes


async def run_probe(repeat: int, run: Callable[[], Awaitable[RunResult]]) -> RunResult:
    """One sandboxed run that calls the probe `repeat` times: `result` is the list of outputs."""
    result = await run()
    if result.ok and not (isinstance(result.result, list) and len(result.result) == repeat):
        result.status, result.result = INVALID_RESULT, None
        result.error = f"the probe run did not return {repeat} outputs"
    return result


def _stage_outcome(stage: Stage, result: RunResult) -> StageOutcome:
    out = StageOutcome(stage, result.status, False, error=result.error, stdout=result.stdout,
                       stderr=result.stderr, wall_s=result.wall_s, cpu_s=result.cpu_s, probe=result.probe,
                       probe_s=result.probe_s)
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
