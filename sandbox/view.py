"""What a sandboxed run may see of the host: the system, the interpreter, and its own paths.

bwrap binds these read-only into an empty root; the process backend grants them in a
Landlock allow-list. Nothing else of the host is visible: not the problem folder (only the
evaluator file and the data it declares), not the runs, not $HOME.
"""
from __future__ import annotations

import glob
import os
import sys

from sandbox.spec import RunSpec

SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
       "/etc/alternatives", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf")
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
GPU_SHARED = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset")


def python_roots() -> list[str]:
    """The interpreter's installs (venv and base), by real path, outside /usr (which is bound whole)."""
    roots = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    roots |= {os.path.realpath(sys.executable).rsplit("/bin/", 1)[0]}
    return sorted(r for r in roots if r != "/usr" and not r.startswith("/usr/"))


def python_links() -> list[str]:
    """sys.prefix and sys.base_prefix where they are reached through symlinks (a venv in a linked folder)."""
    return sorted(r for r in {sys.prefix, sys.base_prefix} if os.path.realpath(r) != r and os.path.isdir(r))


def gpu_nodes(indices: tuple[int, ...]) -> list[str]:
    """The device nodes a run given GPUs `indices` needs; raises if an assigned one is missing."""
    if not indices:
        return []
    nodes = []
    for i in indices:
        node = f"/dev/nvidia{i}"
        if not os.path.exists(node):
            raise RuntimeError(f"GPU {i} was assigned but {node} does not exist")
        nodes.append(node)
    return nodes + [n for n in GPU_SHARED + tuple(glob.glob("/dev/nvidia-caps/*")) if os.path.exists(n)]


def readable(spec: RunSpec) -> list[str]:
    """Every path a run may read (not write): the system, the interpreter, and the spec's paths."""
    paths = [p for p in SYSTEM + ETC if os.path.exists(p)] + python_roots() + python_links()
    return paths + [str(p) for p in spec.readable_paths]
