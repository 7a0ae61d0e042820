"""Evaluations as Ray tasks on a cluster. Ray is the transport; the sandbox on the worker is the isolation.

Each evaluation (all its stages, or the probe runs) is one Ray task that declares the
problem's resources (CPUs, whole or fractional GPUs, memory). On the worker node the task
runs the candidate through the problem's sandbox backend, with the same stage logic as the
local executor (evolve.executor.run_stages). Finished tasks are collected by `ray.wait` in a
helper thread, so the controller's event loop never blocks on a slow task. A task whose
worker or node dies is run again (`executor.ray.max_retries`, default once) and then
recorded as failed with the reason; the run goes on. Ray is an optional extra:
`pip install -e '.[ray]'`.
"""
from __future__ import annotations

import asyncio
import functools
import os
import socket
from dataclasses import dataclass
from typing import Any

import sandbox
from sandbox.spec import ERROR, KILLED, RunResult

from evolve.executor import StageOutcome, check_visibility, evaluation_spec, run_probe, run_stages
from evolve.problem import Problem, RayConfig, SandboxConfig, Stage

WAIT_S = 0.2  # how long one ray.wait in the helper thread blocks before it picks up new tasks


class ExecutorError(Exception):
    """The Ray executor cannot start as asked; the message names the setting and the fix."""


@dataclass(frozen=True)
class Job:
    """What one Ray task needs to run an evaluation or a probe on its worker (picklable)."""

    evaluator_ref: str
    sandbox: SandboxConfig
    code: str
    stages: tuple[Stage, ...] = ()
    probe_workload: dict | None = None
    repeat: int = 1
    riding_probe: dict | None = None  # a probe workload to run with the first stage


def run_job(job: Job) -> list[StageOutcome] | RunResult:
    """The Ray task body, on the worker: the sandbox backend there runs each stage (or probe)."""
    backend = _backend(job.sandbox.backend, job.sandbox.allow_root)
    devices = _assigned_gpus()

    def spec(function: str, workload: dict, repeat: int = 0, probe: dict | None = None):
        return evaluation_spec(job.evaluator_ref, job.sandbox, backend.name, function, job.code, workload, devices,
                               repeat, probe)

    riding = {"workload": job.riding_probe, "repeat": job.repeat} if job.riding_probe is not None else None

    if job.probe_workload is not None:
        return asyncio.run(run_probe(job.repeat, lambda: backend.run(spec("probe", job.probe_workload, job.repeat))))
    return asyncio.run(run_stages(list(job.stages), lambda stage, first: backend.run(
        spec("evaluate", stage.workload, probe=riding if first else None))))


@functools.cache
def _backend(name: str, allow_root: bool = False):
    """One backend per worker process (`auto` probes the machine once); first, what killed runs left on this node."""
    sandbox.sweep_stale()
    return sandbox.select(name, allow_root)[0]


def _assigned_gpus() -> tuple[int, ...]:
    """The GPUs Ray gave this task that exist as devices here (a logical GPU resource has none)."""
    import ray
    ids = [int(float(i)) for i in ray.get_gpu_ids()]
    return tuple(i for i in ids if os.path.exists(f"/dev/nvidia{i}"))


class RayExecutor:
    """Runs evaluations as Ray tasks; the controller's `concurrency` bounds how many are in flight."""

    def __init__(self, problem: Problem, concurrency: int, cfg: RayConfig, address: str | None = None):
        self.problem, self.cfg = problem, cfg
        self.address = address if address is not None else cfg.address
        self.ray = _import_ray()
        self.started_cluster = _connect(self.ray, self.address)
        self.num_gpus = self._gpus_per_task()
        self.backend_note = f"Ray ({self.describe()}), sandbox {problem.spec.sandbox.backend} on the workers"
        check_visibility(problem, None)  # the sandbox on the workers shows nothing of the problem's folder
        options: dict[str, Any] = dict(num_cpus=cfg.num_cpus, num_gpus=self.num_gpus, max_retries=cfg.max_retries,
                                       retry_exceptions=False)
        if cfg.memory_mb:
            options["memory"] = cfg.memory_mb * 1024 * 1024
        self.remote = self.ray.remote(run_job).options(**options)
        self.waiter = _Waiter(self.ray)

    def _gpus_per_task(self) -> float:
        if self.cfg.num_gpus is not None:
            return self.cfg.num_gpus
        gpus = self.problem.spec.sandbox.gpus
        if gpus == "auto":
            return 1.0 if self.ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        return float(gpus)

    def describe(self) -> str:
        res = self.ray.cluster_resources()
        where = "a local cluster started here" if self.started_cluster else f"cluster at {self.address or 'auto'}"
        return (f"{where}: {res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs; per evaluation "
                f"{self.cfg.num_cpus:g} CPU, {self.num_gpus:g} GPU")

    async def evaluate(self, code: str, stages: list[Stage] | None = None, probe_repeat: int = 0) -> list[StageOutcome]:
        """Run the stages (default: the search stages) in one task; stop at the first that fails its `require`.
        With `probe_repeat`, the probe rides along with the first stage (see LocalExecutor.evaluate)."""
        stages = list(self.problem.spec.workloads.stages if stages is None else stages)
        riding = self.problem.spec.workloads.probe if probe_repeat else None
        job = Job(self.problem.evaluator_ref, self.problem.spec.sandbox, code, stages=tuple(stages),
                  riding_probe=riding, repeat=probe_repeat or 1)
        try:
            return await self._submit(job)
        except _TaskFailed as exc:
            return [StageOutcome(stages[0], exc.status, False, error=exc.reason)]

    async def probe(self, code: str, repeat: int = 1) -> RunResult | None:
        workload = self.problem.spec.workloads.probe
        if workload is None:
            return None
        job = Job(self.problem.evaluator_ref, self.problem.spec.sandbox, code, probe_workload=workload, repeat=repeat)
        try:
            return await self._submit(job)
        except _TaskFailed as exc:
            return RunResult(exc.status, None, error=exc.reason)

    async def _submit(self, job: Job):
        ref = self.remote.remote(job)
        try:
            return await self.waiter.result(ref)
        except asyncio.CancelledError:  # the run stops: do not leave the task running on the cluster
            self.ray.cancel(ref, force=True)
            raise
        except self.ray.exceptions.RayError as exc:
            raise _TaskFailed.of(exc, self.cfg.max_retries) from None

    def close(self) -> None:
        if self.started_cluster and self.ray.is_initialized():
            self.ray.shutdown()


class _TaskFailed(Exception):
    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason

    @classmethod
    def of(cls, exc: Exception, retries: int) -> "_TaskFailed":
        import ray.exceptions as rex
        text = str(exc).strip().splitlines()
        detail = " ".join(text[:3])[:600] if text else type(exc).__name__
        if isinstance(exc, rex.RayTaskError):  # our task code raised on the worker (not the candidate)
            return cls(ERROR, f"the Ray task raised on the worker: {detail}")
        return cls(KILLED, f"the Ray worker or node running this evaluation was lost ({type(exc).__name__}), "
                           f"after {retries} retr{'y' if retries == 1 else 'ies'}: {detail}")


class _Waiter:
    """Turns Ray object refs into asyncio futures: one helper thread at a time blocks in `ray.wait`."""

    def __init__(self, ray):
        self.ray = ray
        self.pending: dict[Any, asyncio.Future] = {}
        self.loop_task: asyncio.Task | None = None

    async def result(self, ref):
        future = asyncio.get_running_loop().create_future()
        self.pending[ref] = future
        if self.loop_task is None or self.loop_task.done():
            self.loop_task = asyncio.ensure_future(self._collect())
        try:
            return await future
        finally:
            self.pending.pop(ref, None)

    async def _collect(self) -> None:
        while self.pending:
            done = await asyncio.to_thread(self._wait_some, list(self.pending))
            for ref, ok, value in done:
                future = self.pending.pop(ref, None)
                if future is None or future.done():
                    continue
                future.set_result(value) if ok else future.set_exception(value)

    def _wait_some(self, refs: list) -> list[tuple[Any, bool, Any]]:
        ready, rest = self.ray.wait(refs, num_returns=1, timeout=WAIT_S)
        if ready and rest:  # whatever else finished meanwhile, without waiting again
            more, _ = self.ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        out = []
        for ref in ready:
            try:
                out.append((ref, True, self.ray.get(ref)))
            except Exception as exc:  # noqa: BLE001 - handed to the awaiting evaluation
                out.append((ref, False, exc))
        return out


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ExecutorError("executor.kind is 'ray' (or --executor ray) but Ray is not installed. Install it with "
                            "`pip install -e '.[ray]'`, or use the local executor (executor: local).") from None
    return ray


def _connect(ray, address: str | None) -> bool:
    """Join the cluster at `address` (None: start a local one); True when this process started it."""
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    where = "executor.ray.address in the problem YAML or --ray-address"
    if address not in (None, "", "auto", "local"):
        _check_reachable(address, where)
    # Ray Client (ray://) takes fewer options: the dashboard and logging belong to the cluster there
    local = {} if (address or "").startswith("ray://") else dict(include_dashboard=False, configure_logging=False)
    try:
        ray.init(address=address or None, log_to_driver=False, **local)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ExecutorError(f"cannot join the Ray cluster at '{address}' ({where}): "
                            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}. Start one with "
                            "`ray start --head`, give its address (auto, host:port or ray://host:port), or "
                            "leave the address out to start a local cluster.") from None
    return not address


def _check_reachable(address: str, where: str) -> None:
    """Fail in seconds, not minutes of Ray's own retries, when nothing listens at the address."""
    hostport = address.removeprefix("ray://").rsplit("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ExecutorError(f"'{address}' ({where}) is not a Ray address: write auto, host:port or ray://host:port.")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise ExecutorError(f"cannot reach the Ray cluster at '{address}' ({where}): {exc.strerror or exc}. "
                            "Start it with `ray start --head`, fix the address, or leave it out to start a "
                            "local cluster.") from None


def make_executor(problem: Problem, concurrency: int, overrides=None):
    """The executor the problem (or the command line: --executor, --ray-address) asks for."""
    from evolve.executor import LocalExecutor
    cfg = problem.spec.executor
    kind = getattr(overrides, "executor", None) or cfg.kind
    if kind == "local":
        return LocalExecutor(problem, concurrency)
    if kind != "ray":
        raise ExecutorError(f"unknown executor '{kind}' (--executor or executor.kind): choose local or ray.")
    return RayExecutor(problem, concurrency, cfg.ray, getattr(overrides, "ray_address", None))
