"""What the bwrap and process backends share: start a run now, finish it later.

`start` is synchronous and cheap to call ahead of need (sandbox.warm keeps started runs
waiting on their request); `finish` sends the request, watches the run and cleans up.
"""
from __future__ import annotations

import os
import signal
from dataclasses import dataclass

from sandbox import cgroup as cg
from sandbox import launch, outcome, workdir
from sandbox.spec import RunResult, RunSpec


@dataclass
class Started:
    spawned: launch.Spawned
    path: str
    group: cg.RunCgroup | None


class LocalBackend:
    name = "local"
    hides_files = True  # a run sees only the system, the interpreter, the evaluator and its work dir

    def command(self, spec: RunSpec, path: str) -> tuple[list[str], dict[str, str]]:
        """argv and host environment that run spec.argv in work dir `path`."""
        raise NotImplementedError

    def confinement(self, spec: RunSpec, path: str):
        """What the child does last before exec (the process backend drops root, applies Landlock); None: nothing."""
        return None

    def uid(self) -> int:
        """The user a run's processes count against (RLIMIT_NPROC)."""
        return os.getuid()

    def start(self, spec: RunSpec) -> Started:
        path = workdir.make(spec)
        group = None
        try:
            group = cg.RunCgroup.create(spec.pids, spec.memory_mb)
            argv, env = self.command(spec, path)  # may raise (a GPU node that is missing)
            setup = launch.rlimits(spec, not spec.gpus, launch.nproc_limit(spec, group, self.uid()),
                                   self.confinement(spec, path))
            return Started(launch.spawn(argv, path, env, setup, group), path, group)
        except BaseException:
            if group is not None:
                group.close()
            workdir.remove(path)
            raise

    async def finish(self, started: Started, spec: RunSpec) -> RunResult:
        try:
            raw = await launch.watch(started.spawned, spec)
        finally:
            self.discard(started)
        return outcome.classify(raw, spec, self.name)

    def discard(self, started: Started) -> None:
        """Kill whatever the run left and remove its work dir and cgroup."""
        proc = started.spawned.proc
        if proc is not None and proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                pipe.close()
            if started.spawned.result_r >= 0:
                os.close(started.spawned.result_r)
        if started.group is not None:
            started.group.close()
        workdir.remove(started.path)

    async def run(self, spec: RunSpec) -> RunResult:
        return await self.finish(self.start(spec), spec)
