"""Warm sandboxes: each evaluation's sandbox is started ahead of need, and used once.

Most of an evaluation's start cost is the interpreter and its imports (numpy, the
evaluator). A started sandbox imports the evaluator and then waits for its request on
stdin, so that cost is paid while the previous evaluation runs. Nothing is reused: every
sandbox serves exactly one evaluation and is then destroyed, with its work dir, /tmp,
processes and cgroup, so one candidate never sees another's state.
"""
from __future__ import annotations

import asyncio
import atexit
import dataclasses

from sandbox.local import LocalBackend, Started
from sandbox.spec import RunResult, RunSpec


def template(spec: RunSpec) -> RunSpec:
    """The part of a spec a sandbox is started with: everything but the request."""
    return dataclasses.replace(spec, stdin=b"", nonce="")


class WarmPool:
    """Keeps up to `size` started sandboxes per spec template of `backend`."""

    def __init__(self, backend: LocalBackend, size: int):
        self.backend = backend
        self.name = backend.name
        self.size = max(1, size)
        self.ready: dict[str, list[Started]] = {}
        self.starting: dict[str, int] = {}
        self.closed = False
        atexit.register(self.close)

    async def run(self, spec: RunSpec) -> RunResult:
        if spec.files or spec.gpus:  # files and devices are fixed at start: run cold
            return await self.backend.run(spec)
        key = template(spec)
        name = repr(key)
        waiting = self.ready.setdefault(name, [])
        started = waiting.pop(0) if waiting else None
        if started is None or not _alive(started):
            if started is not None:
                self.backend.discard(started)
            started = self.backend.start(key)
        try:
            return await self.backend.finish(started, spec)
        finally:  # the next sandboxes warm up while the controller works, not during this run
            # started from the loop's own thread: bwrap's --die-with-parent follows the thread
            # that forked it, and an executor thread may end before the sandbox is used
            loop = asyncio.get_running_loop()
            while len(waiting) + self.starting.get(name, 0) < self.size:
                self.starting[name] = self.starting.get(name, 0) + 1
                loop.call_soon(self._start, key, name)

    def _start(self, key: RunSpec, name: str) -> None:
        try:
            started = self.backend.start(key)
        finally:
            self.starting[name] -= 1
        if self.closed:
            self.backend.discard(started)
        else:
            self.ready[name].append(started)

    def close(self) -> None:
        """Destroy every waiting sandbox."""
        self.closed = True
        for waiting in self.ready.values():
            while waiting:
                self.backend.discard(waiting.pop())


def _alive(started: Started) -> bool:
    proc = started.spawned.proc
    return proc is not None and proc.poll() is None
