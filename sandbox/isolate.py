"""Inside a bwrap sandbox: the namespaces, mounts and privilege drop that make one forked child a sandbox of its own.

Used by sandbox.zygote for every candidate it forks. The child leaves the fork server's namespaces
for new user, mount, pid, ipc, net and uts ones; in its mount namespace it gets a fresh tmpfs at
/tmp, at the work dir and at /dev/shm, and /dev turns read-only, so nothing a candidate writes
outlives it. Mounts it inherits stay locked (the kernel does not let a less privileged namespace
unmount or make writable what it got), and it ends with no capabilities. Standard library and
libc only: this runs in the sandbox, before the candidate.
"""
from __future__ import annotations

import ctypes
import os

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
NAMESPACES = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWUTS
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
ST_RELATIME = 4096
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_CAP_AMBIENT = 1, 4, 24, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAP_VERSION_3 = 0x20080522
_CAP_LAST = 63

_libc = ctypes.CDLL(None, use_errno=True)


class IsolationError(OSError):
    """A step of the child's isolation failed: the candidate must not run."""


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise IsolationError(err, f"{what}: {os.strerror(err)}")


def prctl(option: int, arg: int = 0) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), f"prctl({option})")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def leave_namespaces() -> None:
    """New user, mount, pid (for the children), ipc, net and uts namespaces; the same uid and gid inside."""
    uid, gid = os.getuid(), os.getgid()
    _check(_libc.unshare(NAMESPACES), "unshare")
    map_ids(uid, gid)


def map_ids(uid: int, gid: int) -> None:
    """In a new user namespace: the same uid and gid as outside (no supplementary groups)."""
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        fd = os.open(f"/proc/self/{name}", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, text.encode("ascii"))
        finally:
            os.close(fd)


# struct clone_args: flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
# set_tid_size, cgroup (eleven u64; a plain array, not a ctypes Structure: sandbox.guard's tags read only
# classes whose dict is a dict)
_CLONE_ARGS, _FLAGS, _PIDFD, _EXIT_SIGNAL = 11, 0, 1, 4
SYS_CLONE3 = 435  # the same number on every Linux architecture (the generic syscall table)
CLONE_PIDFD = 0x1000
_held = ctypes.PyDLL(None, use_errno=True)  # calls that keep the GIL, as os.fork does across fork()


def fork_into_namespaces() -> tuple[int, int]:
    """os.fork(), but the child is born in new user, mount, pid (as its pid 1), ipc, net and uts namespaces:
    (pid, pidfd) in the parent, (0, -1) in the child, which still has to map its ids (`map_ids`). One process
    fewer than fork, unshare and fork again. Raises IsolationError where clone3 is missing or refused
    (ENOSYS under some seccomp filters): the caller falls back to leave_namespaces in a forked child.

    Only a child that runs trusted code until it forks should come from here: clone3 bypasses the C
    library's fork, so the child's libc keeps its parent's thread id (a fork from it is a normal process)."""
    import signal
    pidfd = ctypes.c_int(-1)
    args = (ctypes.c_uint64 * _CLONE_ARGS)()
    args[_FLAGS], args[_PIDFD], args[_EXIT_SIGNAL] = NAMESPACES | CLONE_PIDFD, ctypes.addressof(pidfd), signal.SIGCHLD
    ctypes.pythonapi.PyOS_BeforeFork()
    pid = _held.syscall(ctypes.c_long(SYS_CLONE3), ctypes.byref(args), ctypes.c_size_t(ctypes.sizeof(args)))
    if pid == 0:
        ctypes.pythonapi.PyOS_AfterFork_Child()
        return 0, -1
    err = ctypes.get_errno()
    ctypes.pythonapi.PyOS_AfterFork_Parent()
    if pid < 0:
        raise IsolationError(err, f"clone3: {os.strerror(err)}")
    return pid, pidfd.value


def mount_points() -> list[str]:
    """Every mount point of this mount namespace, from /proc/self/mountinfo."""
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as fh:
        return [_unescape(line.split(" ", 5)[4]) for line in fh]


def _below(top: str, points: list[str]) -> list[str]:
    """The mount points under `top` (the checkout, venv or evaluator bwrap bound into /tmp), outermost first."""
    outer: list[str] = []
    for point in sorted((p for p in points if p.startswith(top.rstrip("/") + "/")), key=len):
        if not any(point.startswith(o + "/") for o in outer):
            outer.append(point)
    return outer


def _unescape(field: str) -> str:
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def fresh_tmpfs(target: str, size_mb: int, mode: str = "0755", points: list[str] | None = None) -> None:
    """A new empty tmpfs over `target`; what was bound below it (read-only code) is bound again on top."""
    keep = []
    for point in _below(target, mount_points() if points is None else points):
        keep.append((point, os.open(point, os.O_PATH | os.O_CLOEXEC), os.path.isdir(point)))
    mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, f"size={max(1, size_mb)}m,mode={mode}")
    for point, fd, is_dir in keep:
        try:
            if is_dir:
                os.makedirs(point, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(point), exist_ok=True)
                os.close(os.open(point, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
            mount(f"/proc/self/fd/{fd}", point, None, MS_BIND | MS_REC)
        finally:
            os.close(fd)


def read_only(target: str) -> None:
    """Remount `target` read-only, keeping the flags the kernel locked on it."""
    flags = os.statvfs(target).f_flag
    keep = flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME)
    keep |= MS_RELATIME if flags & ST_RELATIME else 0
    mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | keep)


def private_files(work: str, tmp_mb: int, work_mb: int, points: list[str] | None = None) -> None:
    """This mount namespace's own writable places: a fresh /tmp, work dir and /dev/shm; /dev read-only.
    `points`: this namespace's mount points when known (a fork server's children copy its namespace, so
    it reads them once for all)."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    points = mount_points() if points is None else points
    fresh_tmpfs("/tmp", tmp_mb, points=points)
    fresh_tmpfs(work, work_mb, points=points)
    if os.path.isdir("/dev/shm"):
        fresh_tmpfs("/dev/shm", tmp_mb, "1777", points=points)
    read_only("/dev")
    os.chdir(work)  # the new tmpfs, not the directory under it


def _last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as fh:
            return int(fh.read())
    except (OSError, ValueError):
        return _CAP_LAST


LAST_CAP = _last_cap()


def drop_capabilities() -> None:
    """No capabilities left in any set (the new user namespace gave the child all of them)."""
    prctl_ = _libc.prctl
    for cap in range(LAST_CAP + 1):
        if prctl_(PR_CAPBSET_DROP, ctypes.c_ulong(cap), 0, 0, 0) != 0:
            break  # past the last capability this kernel knows
    _libc.prctl(PR_CAP_AMBIENT, ctypes.c_ulong(PR_CAP_AMBIENT_CLEAR_ALL), 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(_CAP_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable (two words each): all zero
    _check(_libc.capset(header, data), "capset")
    _check(_libc.capget(header, data), "capget")
    if any(data):
        raise IsolationError(0, f"capabilities remain after the drop: {list(data)}")
