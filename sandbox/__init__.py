"""Runs untrusted code: a Backend turns a RunSpec into a RunResult."""
from __future__ import annotations

from typing import Protocol

from sandbox.spec import RunResult, RunSpec


class Backend(Protocol):
    name: str

    async def run(self, spec: RunSpec) -> RunResult: ...


class SandboxError(Exception):
    """The requested sandbox cannot run on this machine; the message says why."""


def get_backend(name: str) -> Backend:
    """The backend called `name`; `auto` picks the strongest available one."""
    from sandbox.process import ProcessBackend

    if name in ("auto", "process"):
        return ProcessBackend()
    raise SandboxError(f"unknown sandbox backend '{name}'; choose auto or process")
