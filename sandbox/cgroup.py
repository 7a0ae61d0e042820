"""A per-run cgroup where this machine lets us make one: a pids cap, a memory cap, kill-all.

cgroup v1 (separate `pids` and `memory` hierarchies) and v2 (one unified tree) are both
handled. Where no hierarchy is writable, `RunCgroup.create` returns None and the backends
fall back to rlimits alone; `evolve doctor` says which applies. A group's name carries its
owner (sandbox.owner), so that `sandbox.sweep_stale` can find those a killed controller left.
"""
from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

from sandbox import owner

ROOT = Path("/sys/fs/cgroup")
PREFIX = "evolve-"
V1_CONTROLLERS = ("pids", "memory")


def _own_paths() -> dict[str, str]:
    """controller name ('' for v2) -> this process's cgroup path, from /proc/self/cgroup."""
    out: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            out[name] = path
    return out


def _make(parent: Path) -> Path | None:
    group = parent / f"{PREFIX}{owner.tag()}-{uuid.uuid4().hex[:8]}"
    try:
        group.mkdir()
    except OSError:
        return None
    return group


class RunCgroup:
    """The groups one run lives in; `procs_files` are written with the child's pid before exec."""

    def __init__(self, groups: dict[str, Path]):
        self.groups = groups  # 'pids' / 'memory' (v1) or 'unified' (v2) -> directory
        self._ooms_seen = 0  # what new_oom_kills() read last (a group is made with none)

    @classmethod
    def create(cls, pids: int, memory_mb: int | None) -> "RunCgroup | None":
        own = _own_paths()
        groups: dict[str, Path] = {}
        if (ROOT / "cgroup.controllers").is_file():  # v2
            group = _make(ROOT / own.get("", "/").lstrip("/"))
            if group is not None:
                groups["unified"] = group
        else:
            for name in V1_CONTROLLERS:
                if (ROOT / name).is_dir():
                    group = _make(ROOT / name / own.get(name, "/").lstrip("/"))
                    if group is not None:
                        groups[name] = group
        self = cls(groups)
        ok = self._limit(pids, memory_mb)
        if not ok:
            self.close()
            return None
        return self

    def _limit(self, pids: int, memory_mb: int | None) -> bool:
        mem = None if memory_mb is None else str(memory_mb * 1024 * 1024)
        writes = []
        if "unified" in self.groups:
            g = self.groups["unified"]
            writes += [(g / "pids.max", str(pids))] + ([(g / "memory.max", mem), (g / "memory.swap.max", "0")] if mem else [])
        if "pids" in self.groups:
            writes.append((self.groups["pids"] / "pids.max", str(pids)))
        if "memory" in self.groups and mem:
            writes.append((self.groups["memory"] / "memory.limit_in_bytes", mem))
        done = 0
        for path, value in writes:
            try:
                path.write_text(value)
                done += 1
            except OSError:
                if path.name != "memory.swap.max":
                    return False
        return done > 0

    @property
    def caps_pids(self) -> bool:
        return "pids" in self.groups or "unified" in self.groups

    @property
    def caps_memory(self) -> bool:
        return "memory" in self.groups or "unified" in self.groups

    @property
    def procs_files(self) -> list[str]:
        return [str(g / "cgroup.procs") for g in self.groups.values()]

    def pids(self) -> set[int]:
        return set().union(*(tree_pids(g) for g in self.groups.values()))

    def kill_all(self, timeout: float = 5.0) -> None:
        """SIGKILL every process in the groups until none is left (a fork bomb included)."""
        kill_tree(list(self.groups.values()), timeout)

    def oom_killed(self) -> bool:
        """Whether the kernel's OOM killer acted inside the memory group."""
        return self.oom_kills() > 0

    def new_oom_kills(self) -> int:
        """OOM kills in the memory group since this was last asked (the first time: since it was made)."""
        now = self.oom_kills()
        new, self._ooms_seen = now - self._ooms_seen, now
        return new

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer has killed in the memory group so far."""
        for key, name in (("unified", "memory.events"), ("memory", "memory.oom_control")):
            g = self.groups.get(key)
            if g is None:
                continue
            try:
                fields = dict(line.split() for line in (g / name).read_text().splitlines() if " " in line)
            except (OSError, ValueError):
                continue
            return int(fields.get("oom_kill", "0"))
        return 0

    def close(self) -> None:
        self.kill_all()
        for g in self.groups.values():
            remove(g)


def _tree(group: Path) -> list[Path]:
    """The group and the groups below it (a candidate running as root may make some), deepest first."""
    below = [Path(d) for d, _, _ in os.walk(group)]
    return sorted(below, key=lambda p: len(p.parts), reverse=True)


def tree_pids(group: Path) -> set[int]:
    found: set[int] = set()
    for g in _tree(group):
        try:
            found.update(int(p) for p in (g / "cgroup.procs").read_text().split())
        except (OSError, ValueError):
            pass
    return found


def kill_tree(groups: list[Path], timeout: float) -> None:
    """SIGKILL every process of the groups and their subgroups until none is left."""
    if all(_unpopulated(g) for g in groups):  # the usual case after a job: one read per group, no walk
        return
    deadline = time.monotonic() + timeout
    while (left := set().union(*(tree_pids(g) for g in groups))) and time.monotonic() < deadline:
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.005)


def _unpopulated(group: Path) -> bool:
    """Whether a cgroup v2 group and every group below it hold no process (its cgroup.events says
    `populated 0`); False where that is not known (cgroup v1 has no such file)."""
    try:
        with open(group / "cgroup.events", "rb") as fh:
            return b"populated 0" in fh.read()
    except OSError:
        return False


def remove(group: Path, timeout: float = 0.5) -> bool:
    """Kill what is left in the group, then remove it and its subgroups; whether it is gone."""
    kill_tree([group], timeout=5.0)
    deadline = time.monotonic() + timeout
    while True:
        for g in _tree(group):
            try:
                g.rmdir()
            except OSError:  # gone already, or a process not yet reaped by the kernel
                pass
        if not group.exists() or time.monotonic() > deadline:
            return not group.exists()
        time.sleep(0.01)


def named() -> list[Path]:
    """The `evolve-*` groups in the hierarchies this module uses: beside this process's own
    group, and up to two levels below each hierarchy's root (a glob, not a walk)."""
    if (ROOT / "cgroup.controllers").is_file():
        roots = {"": ROOT}
    else:
        roots = {name: ROOT / name for name in V1_CONTROLLERS if (ROOT / name).is_dir()}
    own = _own_paths()
    found: set[Path] = set()
    for name, root in roots.items():
        mine = root / own.get(name, "/").lstrip("/")
        for parent, pattern in ((root, "*/*/"), (root, "*/"), (root, ""), (mine, "")):
            found.update(p for p in parent.glob(pattern + PREFIX + "*") if p.is_dir())
    return sorted(found)


def enter(procs_files: list[str]) -> None:
    """In the child before exec: move this process into the run's groups."""
    for path in procs_files:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)
