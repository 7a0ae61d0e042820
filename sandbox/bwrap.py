"""The `bwrap` backend (bubblewrap), the default wherever it works.

New user, pid, network, ipc, uts (and cgroup) namespaces; a read-only view of the system
and the Python environment; the project's code read-only; a private writable work dir
and a size-capped tmpfs at /tmp; no capabilities; a new session; dies with its parent;
a cleared environment. Only the GPUs the run was given appear in /dev. rlimits and the
per-run cgroup (see process.py) apply on top.
"""
from __future__ import annotations

import functools
import glob
import os
import shutil
import subprocess
import sys

from sandbox import workdir
from sandbox.local import LocalBackend
from sandbox.spec import RunSpec

WORK = "/sandbox/work"
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
       "/etc/alternatives", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf")
GPU_SHARED = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset")


@functools.cache
def available() -> str:
    """'' when bwrap can build its sandbox on this machine, else why not."""
    exe = shutil.which("bwrap")
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
    roots = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    roots |= {os.path.realpath(sys.executable).rsplit("/bin/", 1)[0]}
    args: list[str] = []
    for root in sorted(roots):
        if root != "/usr" and not root.startswith("/usr/"):
            args += ["--ro-bind", root, root]
    for root in {sys.prefix, sys.base_prefix}:  # a venv reached through symlinks
        if os.path.realpath(root) != root and os.path.isdir(root):
            args += ["--ro-bind", root, root]
    return args


def _gpus(indices: tuple[int, ...]) -> list[str]:
    if not indices:
        return []
    args: list[str] = []
    for i in indices:
        node = f"/dev/nvidia{i}"
        if not os.path.exists(node):
            raise RuntimeError(f"GPU {i} was assigned but {node} does not exist")
        args += ["--dev-bind", node, node]
    for node in GPU_SHARED + tuple(glob.glob("/dev/nvidia-caps/*")):
        if os.path.exists(node):
            args += ["--dev-bind", node, node]
    args += ["--ro-bind", "/sys", "/sys"]  # NVML and the CUDA driver read PCI topology
    return args


def command(spec: RunSpec, path: str) -> list[str]:
    """The full bwrap argv for one run in work dir `path`."""
    args = ["bwrap", *_namespaces(), *_system()]
    if spec.network:
        args.remove("--unshare-net")
    args += ["--size", str(spec.tmpfs_mb << 20), "--tmpfs", "/tmp", "--bind", path, WORK]
    args += _python()  # after /tmp: a checkout (and its venv) may live under the host's /tmp
    for p in spec.readable_paths:  # after /tmp: an evaluator may live under the host's /tmp
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
        return command(spec, path), {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
