"""The process backend's confinement: root dropped to an unprivileged user, and a Landlock allow-list.

Started as root, a run becomes uid/gid 65534 (nobody) with no supplementary groups and
no_new_privs before it execs: it cannot read /etc/shadow or root's home, nor write what
root owns (the project, the runs, the evaluator). Landlock, where the kernel has it, then
hides everything but the system, the interpreter, the evaluator and the work dir, for any
user: the problem's YAML and its held-out workloads included.
"""
from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

from sandbox import landlock, workdir
from sandbox.request import SITE_PACKAGES
from sandbox.spec import RunSpec
from sandbox.view import DEVICES, ETC, SYSTEM, gpu_nodes, python_links, python_roots

NOBODY = 65534
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def is_root() -> bool:
    return os.geteuid() == 0


@functools.cache
def drop_problem(python: str = sys.executable) -> str:
    """'' when this root process can run `python` with the project as uid/gid 65534, else why not."""
    if not is_root():
        return ""
    site = [str(p) for p in SITE_PACKAGES]
    env = {"PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), *site]), "PATH": "/usr/bin:/bin"}
    try:
        done = subprocess.run([python, "-S", "-s", "-P", "-c", "import sandbox.runner, evaluators.common"],
                              user=NOBODY, group=NOBODY, extra_groups=[], env=env, cwd="/",
                              capture_output=True, timeout=30)
        failure = done.stderr.decode(errors="replace").strip()[-200:] if done.returncode else ""
    except PermissionError as exc:  # the exec as uid 65534 was refused
        failure = str(exc)
    except (OSError, subprocess.SubprocessError) as exc:  # no CAP_SETUID, uid 65534 not mapped here, ...
        return f"it cannot switch to uid {NOBODY} ({exc})"
    if not failure:
        return ""
    blocked = unreachable([python, str(PROJECT_ROOT / "sandbox"), *site])
    return f"uid {NOBODY} cannot run {python} with the project ({blocked or failure})"


def unreachable(paths: list[str]) -> str:
    """The first path whose permission bits keep other users out (a folder not searchable, a file
    not readable), as a sentence; '' when none does. ACLs are not read."""
    for path in paths:
        parts = Path(os.path.realpath(path)).parts
        for i in range(2, len(parts) + 1):
            here = Path(*parts[:i])
            try:
                mode = here.stat().st_mode
            except OSError:
                break
            last = i == len(parts)
            need = (0o004 if here.is_file() else 0o005) if last else 0o001
            if mode & need != need:
                return f"{here} is mode {oct(mode & 0o777)[2:]}: other users cannot {'read' if last else 'enter'} it"
    return ""


def drop(uid: int, gid: int) -> None:
    """In the child, before exec: become uid/gid with no supplementary groups (all three ids)."""
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getgroups():
        raise OSError("the privilege drop did not take")


def rules(spec: RunSpec, path: str) -> landlock.Rules:
    """What a process-backend run may touch: read the system, the interpreter and the spec's
    readable paths (a file evaluator alone, not its folder), list the folders on its
    PYTHONPATH, read /proc (other processes' private files stay shut: Landlock denies ptrace
    across its boundary), write its work dir and the harmless devices (and its GPUs)."""
    allow = landlock.Rules(network=spec.network)
    for p in [*SYSTEM, *ETC, *python_roots(), *python_links(), *spec.readable_paths]:
        allow.allow(p, landlock.READ)
    for p in spec.python_path:  # the import system lists these; their files stay unreadable
        allow.allow(p, landlock.READ_DIR)
    allow.allow("/proc", landlock.READ_FILE | landlock.READ_DIR)
    allow.allow(path, landlock.WRITE)
    for node in [*DEVICES, *gpu_nodes(spec.gpus)]:
        allow.allow(node, landlock.DEVICE)
    if spec.gpus:
        allow.allow("/sys", landlock.READ_FILE | landlock.READ_DIR)  # NVML and the CUDA driver read PCI topology
        allow.allow("/dev/nvidia-caps", landlock.READ_DIR)
    return allow


def stage(evaluator: str, files: list[str]) -> str:
    """A copy of a file evaluator and the `files` it declares (relative to its folder), which
    uid 65534 may read but not write, in a fresh folder of the temp dir: for an evaluator it
    cannot reach where it lies (a private home, pytest's temp dirs). The copy's path; the
    folder goes when this process exits (or, if it is killed, at the next sweep_stale)."""
    top = Path(workdir.make_dir(workdir.STAGE_PREFIX))
    atexit.register(shutil.rmtree, top, True)
    source = Path(evaluator)
    shutil.copy2(source, top / source.name)
    for rel in files:
        src, dst = source.parent / rel, top / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(src, dst, symlinks=False) if src.is_dir() else shutil.copy2(src, dst)
    for path in [top, *top.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return str(top / source.name)


def give(path: str, uid: int, gid: int) -> None:
    """Hand the work dir (and the files placed in it) to the user the run drops to."""
    os.chown(path, uid, gid)
    for entry in os.scandir(path):
        os.chown(entry.path, uid, gid, follow_symlinks=False)
