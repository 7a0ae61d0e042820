"""Landlock (Linux 5.13+): a process limits its own file system access to an allow-list.

The process backend's confinement where bwrap is missing: no privilege and no mount is
needed, it holds for root too, and it is inherited across fork and exec and cannot be
lifted. What no rule grants is denied: reading anything but the system, the interpreter,
the evaluator and its data; writing anything but the work dir; TCP (ABI 4+); signals to,
and abstract unix sockets of, processes outside the sandbox (ABI 6+). A sandboxed process
cannot ptrace (nor read /proc/<pid>/environ, cwd, mem of) a process outside it.
"""
from __future__ import annotations

import ctypes
import functools
import os
import platform
import stat
import struct

# syscall numbers (the same on x86_64, aarch64 and the other modern tables)
CREATE_RULESET, ADD_RULE, RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15  # ABI 2, 3, 5
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6

FILE_ONLY = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # what a rule on a non-directory may grant
READ = EXECUTE | READ_FILE | READ_DIR
DEVICE = READ_FILE | WRITE_FILE | TRUNCATE | IOCTL_DEV
WRITE = (1 << 16) - 1  # everything, in the work dir


def _fs_rights(abi: int) -> int:
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


_syscall: list = []


def _libc_syscall():
    if not _syscall:
        libc = ctypes.CDLL(None, use_errno=True)  # loaded (and its symbols looked up) before any fork
        libc.syscall.restype = ctypes.c_long
        libc.prctl  # noqa: B018
        _syscall.append(libc)
    return _syscall[0]


@functools.cache
def abi() -> int:
    """The Landlock ABI version this kernel offers; 0 where there is none (old kernel, not enabled,
    or blocked by a seccomp filter, as in some containers)."""
    if platform.system() != "Linux":
        return 0
    try:
        version = _libc_syscall().syscall(CREATE_RULESET, None, ctypes.c_size_t(0),
                                          ctypes.c_uint32(CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0
    return max(0, int(version))


def why_unavailable() -> str:
    """'' when Landlock can confine a process here, else why not."""
    if abi():
        return ""
    return ("Landlock is not available (it needs Linux 5.13+ with the landlock LSM enabled, and a "
            "seccomp filter that lets its system calls through)")


def no_new_privs() -> None:
    """Neither this process nor what it execs can gain privileges (setuid binaries, file capabilities)."""
    if _libc_syscall().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")


class Rules:
    """An allow-list, built in the controller; `restrict()` applies it, in the child, before exec."""

    def __init__(self, network: bool = False):
        self.level = abi()
        self.paths: list[tuple[str, int]] = []
        self.network = network

    def allow(self, path: str | os.PathLike, access: int) -> None:
        self.paths.append((os.fspath(path), access))

    def _attr(self) -> bytes:
        handled = _fs_rights(self.level)
        if self.level < 4:
            return struct.pack("=Q", handled)
        net = 0 if self.network else NET_BIND_TCP | NET_CONNECT_TCP
        if self.level < 6:
            return struct.pack("=QQ", handled, net)
        return struct.pack("=QQQ", handled, net, SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL)

    def restrict(self) -> None:
        """Confine the calling process (and all it will start) to the rules: set no_new_privs,
        build the ruleset and restrict itself. Paths that do not exist are skipped; any other
        failure raises, so a run is never started unconfined by mistake."""
        libc = _libc_syscall()
        no_new_privs()
        attr = self._attr()
        ruleset = libc.syscall(CREATE_RULESET, ctypes.c_char_p(attr), ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
        if ruleset < 0:
            raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
        try:
            handled = _fs_rights(self.level)
            for path, access in self.paths:
                try:
                    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue
                try:
                    is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
                    allowed = access & handled & (~0 if is_dir else FILE_ONLY)
                    beneath = struct.pack("=Qi", allowed, fd)
                    if allowed and libc.syscall(ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(RULE_PATH_BENEATH),
                                                ctypes.c_char_p(beneath), ctypes.c_uint32(0)) != 0:
                        raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
                finally:
                    os.close(fd)
            if libc.syscall(RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
                raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
        finally:
            os.close(ruleset)
