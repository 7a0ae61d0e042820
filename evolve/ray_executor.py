"""Evaluations on a Ray cluster. Ray is the transport; the sandbox on the worker is the isolation.

Each evaluation slot is a long-lived Ray actor (evolve.ray_actors) that declares the problem's
resources (CPUs, whole or fractional GPUs, memory) and keeps the local executor's warm sandboxes
(fork servers for bwrap, started-ahead sandboxes for process): one fresh isolated child per
candidate, never reused across candidates. Each evaluation (all its stages, or the probe runs) is
one call to an idle actor, with the same stage logic as the local executor (evolve.executor.run_stages).
A finished call completes an asyncio future by Ray's callback, so the controller's event loop never
blocks on a slow one. An actor whose worker or node dies is replaced by a fresh one and its
evaluation run again there (`executor.ray.max_retries`, default once), then recorded as failed
with the reason; the run goes on. Ray is joined once per process (evolve.ray_connect) and the
actors are kept for the process's life. Ray is an optional extra: `pip install -e '.[ray]'`.
"""
from __future__ import annotations

import asyncio
from typing import Any

from sandbox.spec import ERROR, KILLED, RunResult

from evolve import ray_connect
from evolve.executor import StageOutcome, check_visibility, search_workloads
from evolve.problem import Problem, RayConfig, Stage
from evolve.ray_actors import ActorFailed, ActorPool, Job

_POOLS: dict[tuple, ActorPool] = {}  # the process's actors, by resource shape and sandbox (see ray_actors)


class ExecutorError(Exception):
    """The Ray executor cannot start as asked; the message names the setting and the fix."""


class RayExecutor:
    """Runs evaluations on Ray actors (one per slot); the controller's `concurrency` bounds how many are in flight."""

    def __init__(self, problem: Problem, concurrency: int, cfg: RayConfig, address: str | None = None):
        self.problem, self.cfg = problem, cfg
        self.prepare = search_workloads(problem)
        self.address = address if address is not None else cfg.address
        self.ray = _import_ray()
        try:
            self.started_cluster = ray_connect.connect(self.ray, self.address)
        except ray_connect.ConnectError as exc:
            raise ExecutorError(str(exc)) from None
        self.num_gpus = self._gpus_per_task()
        self.backend_note = f"Ray ({self.describe()}), sandbox {problem.spec.sandbox.backend} on the workers"
        check_visibility(problem, None)  # the sandbox on the workers shows nothing of the problem's folder
        options: dict[str, Any] = dict(num_cpus=cfg.num_cpus, num_gpus=self.num_gpus)
        if cfg.memory_mb:
            options["memory"] = cfg.memory_mb * 1024 * 1024
        box = problem.spec.sandbox
        args = (box.backend, box.allow_root, box.warm)
        key = (self.ray.get_runtime_context().get_job_id(), tuple(sorted(options.items())), args)
        self.pool = _POOLS.get(key)
        if self.pool is None:
            self.pool = _POOLS[key] = ActorPool(self.ray, options, args)
        self.pool.ensure(concurrency)  # they start (and import) while the controller gets ready

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
        """Run the stages (default: the search stages) in one actor call; stop at the first that fails its `require`.
        With `probe_repeat`, the probe rides along with the first stage (see LocalExecutor.evaluate)."""
        stages = list(self.problem.spec.workloads.stages if stages is None else stages)
        riding = self.problem.spec.workloads.probe if probe_repeat else None
        job = Job(self.problem.evaluator_ref, self.problem.spec.sandbox, code, stages=tuple(stages),
                  riding_probe=riding, repeat=probe_repeat or 1, prepare=self.prepare)
        try:
            return await self._submit(job)
        except _TaskFailed as exc:
            return [StageOutcome(stages[0], exc.status, False, error=exc.reason)]

    async def probe(self, code: str, repeat: int = 1) -> RunResult | None:
        workload = self.problem.spec.workloads.probe
        if workload is None:
            return None
        job = Job(self.problem.evaluator_ref, self.problem.spec.sandbox, code, probe_workload=workload, repeat=repeat,
                  prepare=self.prepare)
        try:
            return await self._submit(job)
        except _TaskFailed as exc:
            return RunResult(exc.status, None, error=exc.reason)

    async def _submit(self, job: Job):
        """One call to an idle actor; an actor that dies is replaced and the job run again on a fresh one."""
        lost = None
        for _ in range(self.cfg.max_retries + 1):
            try:
                actor = await self.pool.acquire()
            except ActorFailed as exc:
                raise _TaskFailed(ERROR, f"no Ray evaluation actor could start on the workers: {exc}") from None
            ref = actor.run.remote(job)
            try:
                result = await _result(ref)
            except asyncio.CancelledError:  # the run stops: do not leave the evaluation running on the cluster
                self.ray.cancel(ref)
                self.pool.release(actor)
                raise
            except self.ray.exceptions.RayActorError as exc:  # its worker or node died
                self.pool.replace(actor)
                lost = exc
                continue
            except self.ray.exceptions.RayError as exc:
                self.pool.release(actor)
                raise _TaskFailed.of(exc, self.cfg.max_retries) from None
            self.pool.release(actor)
            return result
        raise _TaskFailed.of(lost, self.cfg.max_retries)

    def close(self) -> None:
        """Nothing to do per executor: the actors and the Ray connection serve the whole process
        (a resumed run in it finds them warm) and end with it; `shutdown` ends them sooner."""


def shutdown() -> None:
    """End this process's evaluation actors and its Ray connection (the cluster too, if started here)."""
    import ray
    for pool in _POOLS.values():
        pool.close()
    _POOLS.clear()
    if ray.is_initialized():
        ray.shutdown()


class _TaskFailed(Exception):
    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason

    @classmethod
    def of(cls, exc: Exception, retries: int) -> "_TaskFailed":
        import ray.exceptions as rex
        text = str(exc).strip().splitlines()
        detail = " ".join(text[:3])[:600] if text else type(exc).__name__
        if isinstance(exc, rex.RayTaskError) and not isinstance(exc, rex.RayActorError):
            return cls(ERROR, f"the Ray evaluation raised on the worker: {detail}")  # our code, not the candidate
        return cls(KILLED, f"the Ray worker or node running this evaluation was lost ({type(exc).__name__}), "
                           f"after {retries} retr{'y' if retries == 1 else 'ies'}: {detail}")


async def _result(ref):
    """The call's value, as an asyncio future: Ray completes it by callback (no polling, no thread)."""
    return await asyncio.wrap_future(ref.future())


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ExecutorError("executor.kind is 'ray' (or --executor ray) but Ray is not installed. Install it with "
                            "`pip install -e '.[ray]'`, or use the local executor (executor: local).") from None
    return ray


def join_cluster(problem: Problem, overrides=None) -> None:
    """Join the Ray cluster the problem (or --ray-address) names, before a run row is written: an
    address that cannot be joined (unreachable, a token refused) stops `evolve start` with nothing
    recorded. Without an address nothing happens here: the executor starts a local cluster."""
    cfg = problem.spec.executor
    if (getattr(overrides, "executor", None) or cfg.kind) != "ray":
        return
    address = getattr(overrides, "ray_address", None)
    address = address if address is not None else cfg.ray.address
    if address in (None, "", "local"):
        return
    try:
        ray_connect.connect(_import_ray(), address)
    except ray_connect.ConnectError as exc:
        raise ExecutorError(str(exc)) from None


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
