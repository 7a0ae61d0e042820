"""Runs untrusted code: a Backend turns a RunSpec into a RunResult.

Backends, strongest first: `docker` (only when asked for by name: it needs a daemon and
an image), `bwrap`, `process`. `auto` picks the strongest local one that passes a probe
run on this machine and says why the others were passed over. As root, `process` drops
candidates to an unprivileged user; where it cannot, it is refused (by `auto` always, by
name unless `allow_root`). No backend shows a candidate the problem's folder or its YAML.
"""
from __future__ import annotations

# The in-sandbox runner imports this package, so it imports nothing heavy (not even typing).
BACKENDS = ("auto", "bwrap", "process", "docker")


def __getattr__(name: str):
    if name == "Backend":
        from sandbox.spec import Backend
        return Backend
    raise AttributeError(f"module 'sandbox' has no attribute {name!r}")


class SandboxError(Exception):
    """The requested sandbox cannot run on this machine; the message says why."""


def why_unavailable(name: str) -> str:
    """'' when backend `name` works on this machine (by a probe run), else the reason."""
    if name == "bwrap":
        from sandbox import bwrap
        return bwrap.available()
    if name == "process":
        return ""
    if name == "docker":
        from sandbox import container
        return container.available()
    raise SandboxError(f"unknown sandbox backend '{name}'; choose one of {', '.join(BACKENDS)}")


def select(name: str, allow_root: bool = False) -> tuple["Backend", str]:
    """The backend for `name` and a sentence saying which was picked and why.

    As root, `process` runs candidates as an unprivileged user; where it cannot, it is refused
    (by `auto` always, by name unless `allow_root`), with how to install bwrap instead.
    """
    if name == "auto":
        reason = why_unavailable("bwrap")
        if not reason:
            return _make("bwrap"), "auto picked bwrap (namespaces, read-only system, no network)"
        from sandbox import process
        refusal = process.root_refusal()
        if refusal:
            raise SandboxError(f"auto cannot use bwrap ({reason}), and {refusal}.")
        backend = _make("process")
        return backend, f"auto picked process, the weaker fallback: {reason}; {backend.describe()}"
    reason = why_unavailable(name)
    if reason:
        raise SandboxError(f"sandbox backend '{name}' cannot run on this machine: {reason}. "
                           "Fix that, or set sandbox.backend: auto in the problem YAML.")
    backend = _make(name, allow_root)
    note = f"{name} (asked for by name)"
    return backend, f"{note}; {backend.describe()}" if name == "process" else note


def sweep_stale() -> int:
    """Remove the sandbox folders and cgroups that killed controllers left (their owner process
    is gone); how many were removed. Cheap: a glob of the temp dir and of the cgroup tree's top."""
    from sandbox.stale import sweep_stale
    return sweep_stale()


def get_backend(name: str, allow_root: bool = False) -> "Backend":
    """The backend called `name`; `auto` picks the strongest available one."""
    return select(name, allow_root)[0]


def _make(name: str, allow_root: bool = False) -> "Backend":
    if name == "bwrap":
        from sandbox.bwrap import BwrapBackend
        return BwrapBackend()
    if name == "docker":
        from sandbox.container import DockerBackend
        return DockerBackend()
    from sandbox.process import ProcessBackend
    return ProcessBackend(allow_root)
