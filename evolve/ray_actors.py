"""Warm sandboxes on Ray workers: one long-lived actor per evaluation slot.

Each `Evaluator` actor keeps the local executor's warm machinery (sandbox.forkserver's fork
servers for bwrap, sandbox.warm's started-ahead sandboxes for process): the evaluator's imports
are paid once per actor, and every candidate still runs in a fresh isolated child (a fork-server
child or a fresh sandbox), never reused across candidates. The actor holds the resources Ray gave
it (CPUs, GPUs, memory) for its life; the sandbox sees only the GPUs Ray assigned it.

`ActorPool` keeps the actors of one resource shape for the process's life, so a run that is
resumed in the same process (or a second executor) finds them warm. A dead actor is replaced by
a fresh one; the executor decides whether the evaluation it was running is retried.
"""
from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

import sandbox
from sandbox import forkserver
from sandbox.warm import WarmPool

from evolve.executor import evaluation_spec, run_probe, run_stages
from evolve.problem import SandboxConfig, Stage

POLL_S = 0.01  # how often a caller waiting for a free actor looks again (only when all are busy or starting)


@dataclass(frozen=True)
class Job:
    """What one actor call needs to run an evaluation or a probe on its worker (picklable)."""

    evaluator_ref: str
    sandbox: SandboxConfig
    code: str
    stages: tuple[Stage, ...] = ()
    probe_workload: dict | None = None
    repeat: int = 1
    riding_probe: dict | None = None  # a probe workload to run with the first stage
    prepare: tuple[dict, ...] = ()  # the workloads its sandboxes build ahead (executor.search_workloads)


class Evaluator:
    """The actor body (an async actor: its event loop thread lives as long as the actor, which
    bwrap's --die-with-parent and the fork servers need)."""

    def __init__(self, backend: str, allow_root: bool, warm: bool):
        sandbox.sweep_stale()  # what killed runs left on this node
        self.backend = sandbox.select(backend, allow_root)[0]
        if warm and self.backend.name in ("bwrap", "process"):
            fork = self.backend.name == "bwrap" and forkserver.enabled()
            # runs with GPUs go cold inside the pools (their devices are fixed at start)
            self.backend = (forkserver.ForkPool if fork else WarmPool)(self.backend, 1)

    async def ready(self) -> int:
        return os.getpid()

    async def run(self, job: Job):
        devices = assigned_gpus()
        name = getattr(self.backend, "name", "")

        def spec(function: str, workload: dict, repeat: int = 0, probe: dict | None = None):
            return evaluation_spec(job.evaluator_ref, job.sandbox, name, function, job.code, workload, devices,
                                   repeat, probe, job.prepare)

        if job.probe_workload is not None:
            return await run_probe(job.repeat, lambda: self.backend.run(spec("probe", job.probe_workload,
                                                                              job.repeat)))
        riding = {"workload": job.riding_probe, "repeat": job.repeat} if job.riding_probe is not None else None
        return await run_stages(list(job.stages), lambda stage, first: self.backend.run(
            spec("evaluate", stage.workload, probe=riding if first else None)))


def assigned_gpus() -> tuple[int, ...]:
    """The GPUs Ray gave this actor that exist as devices here (a logical GPU resource has none)."""
    import ray
    ids = [int(float(i)) for i in ray.get_gpu_ids()]
    return tuple(i for i in ids if os.path.exists(f"/dev/nvidia{i}"))


class ActorFailed(Exception):
    """No actor could be started (its constructor raised on the worker): the reason, from Ray."""


class ActorPool:
    """Up to `size` ready Evaluator actors of one resource shape; `acquire` lends one, `release` takes it back."""

    def __init__(self, ray, options: dict, args: tuple):
        self.ray, self.args = ray, args
        self.cls = ray.remote(Evaluator).options(max_restarts=0, **options)
        self.idle: list = []
        self.starting: dict = {}  # ready() ref -> actor
        self.busy = 0
        self.broken = ""

    def ensure(self, size: int) -> None:
        """Start actors until there are `size` (started ones wait for their resources if the cluster is full)."""
        while len(self.idle) + len(self.starting) + self.busy < size:
            self._start()

    def _start(self) -> None:
        actor = self.cls.remote(*self.args)
        self.starting[actor.ready.remote()] = actor

    async def acquire(self):
        while True:
            self._collect_started()
            if self.idle:
                self.busy += 1
                return self.idle.pop()
            if self.broken and not self.starting:
                raise ActorFailed(self.broken)
            await asyncio.sleep(POLL_S)

    def release(self, actor) -> None:
        self.busy -= 1
        self.idle.append(actor)

    def replace(self, actor) -> None:
        """The actor died (or is not to be trusted): kill it for good and start a fresh one."""
        self.busy -= 1
        try:
            self.ray.kill(actor, no_restart=True)
        except Exception:  # noqa: BLE001 - already gone
            pass
        self._start()

    def _collect_started(self) -> None:
        if not self.starting:
            return
        ready, _ = self.ray.wait(list(self.starting), num_returns=len(self.starting), timeout=0)
        for ref in ready:
            actor = self.starting.pop(ref)
            try:
                self.ray.get(ref)
            except Exception as exc:  # noqa: BLE001 - its constructor raised, or its worker died starting
                text = str(exc).strip().splitlines()
                self.broken = " ".join(text[-3:])[:600] if text else type(exc).__name__
                continue
            self.idle.append(actor)

    def close(self) -> None:
        for actor in [*self.idle, *self.starting.values()]:
            try:
                self.ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001
                pass
        self.idle.clear()
        self.starting.clear()
