"""Who made a sandbox folder or cgroup, written into its name, so a leftover can be told from a live one.

A name carries `<pid>-<start>-<ns>`: the creating process's pid, its start time (clock ticks
after boot, from /proc/<pid>/stat: a reused pid has another one) and a hash of the boot id
and pid namespace. The owner is gone, and the thing stale, when no process of this
namespace has that pid and start time any more. A name from another boot or another pid
namespace (a container sharing the temp dir) cannot be judged by pid: it is stale only
when it is older than this boot. Names without an owner (made before owners were written)
are stale once older than LEGACY_AGE_S.
"""
from __future__ import annotations

import hashlib
import os
import re
import time

LEGACY_AGE_S = 3600.0
# evolve-sbx-<pid>-<start>-<ns>-<random>, evolve-result-..., evolve-stage-..., and cgroups evolve-<pid>-<start>-<ns>-<hex>
OWNED = re.compile(r"^evolve-(?:sbx-|result-|stage-)?(\d+)-(\d+)-([0-9a-f]{8})-[a-z0-9_]+$")
LEGACY = re.compile(r"^evolve-(?:(?:sbx|result)-[a-z0-9_]{8}|[0-9a-f]{12})$")

_tags: dict[int, str] = {}


def start_time(pid: int) -> int | None:
    """Process `pid`'s start time in clock ticks after boot; None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return int(fh.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _namespace() -> str:
    """8 hex digits naming this boot and this pid namespace."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            boot = fh.read().strip()
    except OSError:
        boot = ""
    try:
        pidns = os.readlink("/proc/self/ns/pid")
    except OSError:
        pidns = ""
    return hashlib.sha1(f"{boot}/{pidns}".encode()).hexdigest()[:8]


def tag() -> str:
    """`<pid>-<start>-<ns>` of this process (recomputed in a forked child)."""
    pid = os.getpid()
    if pid not in _tags:
        _tags.clear()
        _tags[pid] = f"{pid}-{start_time(pid) or 0}-{_namespace()}"
    return _tags[pid]


def owner_of(name: str) -> tuple[int, int] | None:
    """(pid, start time) written in an owned name (None for any other name)."""
    m = OWNED.match(name)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _boot_time() -> float:
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0.0


def is_stale(name: str, mtime: float) -> bool:
    """Whether the folder or cgroup called `name` (last changed at `mtime`) has lost its owner."""
    m = OWNED.match(name)
    if m is None:
        return bool(LEGACY.match(name)) and (mtime < _boot_time() or time.time() - mtime > LEGACY_AGE_S)
    pid, start, ns = int(m.group(1)), int(m.group(2)), m.group(3)
    if ns != tag().rsplit("-", 1)[1]:  # another boot or pid namespace: the pid says nothing here
        return mtime < _boot_time()
    if start == 0 or start_time(os.getpid()) is None:  # no readable /proc: nothing can be judged
        return False
    return start_time(pid) != start
