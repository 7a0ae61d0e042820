"""Find and remove what a killed controller left: its sandbox folders and cgroups.

Every evaluation removes its own folder and cgroup when it ends, however it ends. Only a
controller that is killed outright (SIGKILL, SIGHUP, a crash of the interpreter) leaves
them; their names carry the owner (sandbox.owner), so the next run can remove those whose
owner is gone, and never those of a live run, this process's or another's.
"""
from __future__ import annotations

import glob
import os
import shutil
import tempfile
from pathlib import Path

from sandbox import cgroup, owner, workdir

FOLDER_PREFIXES = (workdir.PREFIX, workdir.RESULT_PREFIX, workdir.STAGE_PREFIX)


def folders() -> list[Path]:
    """Every sandbox folder in the temp dir, live or not (one glob of the temp dir)."""
    top = tempfile.gettempdir()
    found = []
    for prefix in FOLDER_PREFIXES:
        found += [Path(p) for p in glob.glob(os.path.join(glob.escape(top), prefix + "*"))]
    return sorted(found)


def leftovers(pid: int | None = None, start: int | None = None) -> list[Path]:
    """The sandbox folders and cgroups on this machine; with `pid`, only those that process owns
    (`start`: its start time, read now when not given, so that a reused pid is told apart)."""
    found = folders() + cgroup.named()
    if pid is None:
        return found
    start = owner.start_time(pid) if start is None else start
    return [p for p in found if (who := owner.owner_of(p.name)) and who[0] == pid and start in (None, who[1])]


def _stale(path: Path) -> bool:
    try:
        st = path.lstat()
    except OSError:
        return False
    return os.path.isdir(path) and not path.is_symlink() and owner.is_stale(path.name, st.st_mtime)


def sweep_stale() -> int:
    """Remove the sandbox folders and cgroups whose owner process is gone (killing whatever
    still runs in such a cgroup); how many were removed (a v1 cgroup counts once per hierarchy).

    Cheap enough for the start of every run: one glob of the temp dir, a few of the cgroup
    tree (two levels below each root, and beside this process's own group), and one read of
    /proc/<pid>/stat per match. Never raises: what cannot be removed is left for next time.
    """
    removed = 0
    for path in folders():
        if _stale(path):
            shutil.rmtree(path, ignore_errors=True)
            removed += not os.path.lexists(path)
    for path in cgroup.named():
        if _stale(path) and cgroup.remove(path):
            removed += 1
    return removed
