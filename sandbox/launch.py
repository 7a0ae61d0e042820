"""Start one sandboxed process and watch it: output caps, wall limit, kill-all, rusage.

Shared by the bwrap and process backends. Uses subprocess.Popen plus the event loop's
readers rather than asyncio's subprocess, so that this module reaps the child itself
(os.wait4 gives the CPU time) and never waits on pipes a leftover grandchild holds open.
The started process gets SIGKILL when the thread that started it dies (PR_SET_PDEATHSIG),
so a killed controller leaves no sandbox running (bwrap and unshare take their pid
namespace down with them).
"""
from __future__ import annotations

import asyncio
import ctypes
import os
import resource
import signal
import subprocess
import time
from dataclasses import dataclass, field

from sandbox import cgroup as cg
from sandbox.spec import RESULT_FD, RESULT_MAX_BYTES, RunSpec

TAIL_BYTES = 8192
CHUNK = 65536
PR_SET_PDEATHSIG = 1


class Tail:
    """Counts bytes of a stream and keeps its last TAIL_BYTES (bounded memory)."""

    def __init__(self, keep: int = TAIL_BYTES) -> None:
        self.keep = keep
        self.data = b""
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.data = (self.data + chunk)[-self.keep:]

    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


@dataclass
class Raw:
    """What was observed of one process, before any interpretation."""

    returncode: int | None = None
    timed_out: bool = False
    capped: bool = False
    result_too_big: bool = False
    oom_killed: bool = False
    stdout: Tail = field(default_factory=Tail)
    stderr: Tail = field(default_factory=Tail)
    result: bytearray = field(default_factory=bytearray)
    wall_s: float = 0.0
    cpu_s: float = 0.0


def nproc_limit(spec: RunSpec, group: cg.RunCgroup | None, uid: int | None = None) -> int | None:
    """RLIMIT_NPROC for a run whose processes belong to `uid` (default: this process's), or None
    where the cgroup's pids cap does the job.

    RLIMIT_NPROC counts all processes of the user, not of the run, so it is set to what the
    user already runs plus the run's allowance.
    """
    if group is not None and group.caps_pids:
        return None
    uid = os.getuid() if uid is None else uid
    mine = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                mine += entry.stat().st_uid == uid
            except OSError:
                pass
    return mine + spec.pids


def rlimits(spec: RunSpec, address_space: bool = True, nproc: int | None = None, then=None):
    """The child-side setup before exec: rlimits, then the run's cgroups, then `then()` (the
    process backend's privilege drop and Landlock, which must come after the cgroup write)."""
    def apply(procs_files: list[str], result_w: int | None) -> None:
        cpu = max(1, int(spec.cpu_s + 0.999))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        if address_space:
            mem = spec.memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (spec.file_mb << 20, spec.file_mb << 20))
        resource.setrlimit(resource.RLIMIT_NOFILE, (spec.open_files, spec.open_files))
        if nproc is not None:
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        cg.enter(procs_files)
        if result_w is not None and result_w != RESULT_FD:
            os.dup2(result_w, RESULT_FD)
        if then is not None:
            then()
    return apply


@dataclass
class Spawned:
    """A started process not yet watched: it may wait, warm, for its request on stdin."""

    proc: subprocess.Popen | None
    result_r: int
    group: cg.RunCgroup | None
    error: str = ""


def spawn(argv: list[str], cwd: str, env: dict[str, str], setup=None,
          group: cg.RunCgroup | None = None, channel: int | None = None) -> Spawned:
    """Start argv with the result pipe on fd RESULT_FD (or the caller's `channel` fd there: the fork
    server's socket; then `result_r` is -1); never raises for a failed start."""
    result_r, result_w = os.pipe() if channel is None else (-1, channel)
    procs = group.procs_files if group else []
    prctl, parent = _prctl(), os.getpid()

    def preexec() -> None:
        if setup is not None:
            setup(procs, result_w)
        if prctl is not None:  # after setup: a change of user clears the parent-death signal
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != parent:  # the controller died before the line above
                os._exit(1)

    try:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True, preexec_fn=preexec,
            pass_fds=(RESULT_FD,), close_fds=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:  # no fork, no exec: an error, not a crash
        why = f"{exc} (the setup before exec failed: rlimits, cgroup, privilege drop or Landlock)" \
            if "preexec_fn" in str(exc) else exc
        return Spawned(None, result_r, group, f"could not start the sandboxed process {argv[0]}: {why}")
    finally:
        if channel is None:
            os.close(result_w)
    return Spawned(proc, result_r, group)


_libc: list = []


def _prctl():
    """libc's prctl, loaded before the fork (None where there is none)."""
    if not _libc:
        try:
            _libc.append(ctypes.CDLL(None, use_errno=True).prctl)
        except (OSError, AttributeError):
            _libc.append(None)
    return _libc[0]


async def execute(argv: list[str], spec: RunSpec, cwd: str, env: dict[str, str],
                  setup=None, group: cg.RunCgroup | None = None) -> Raw:
    """Run argv to its end (or limit) and return what happened; never raises for the child."""
    return await watch(spawn(argv, cwd, env, setup, group), spec)


async def watch(started: Spawned, spec: RunSpec) -> Raw:
    """Send spec.stdin, then watch the process to its end or limit; the wall clock starts here."""
    raw = Raw()
    loop = asyncio.get_running_loop()
    proc, result_r, group = started.proc, started.result_r, started.group
    if proc is None:
        os.close(result_r)
        raw.returncode = 127
        raw.stderr.add(started.error.encode())
        return raw

    async def reap() -> tuple[int | None, float]:
        return _reap(proc)

    fds = {"out": proc.stdout.fileno(), "err": proc.stderr.fileno(), "res": result_r}
    feeder = loop.run_in_executor(None, _feed, proc.stdin, spec.stdin)
    try:
        await observe(raw, spec, fds, lambda: _exited(proc.pid), lambda: _kill(proc.pid, group), reap, feeder)
    finally:
        proc.stdout.close()
        proc.stderr.close()
        os.close(result_r)
    if group is not None:
        raw.oom_killed = group.oom_killed()
    return raw


async def observe(raw: Raw, spec: RunSpec, fds: dict[str, int], exited, kill, reap, feeder) -> None:
    """Read a run's stdout, stderr and result fds (`fds`: out, err, res) into `raw` until `exited()`
    returns or spec.wall_s passes; then `kill()`, `reap()` (-> return code, CPU seconds) and the tails.
    Output past spec.output_bytes or a result past RESULT_MAX_BYTES kills the run. The caller closes the fds."""
    loop = asyncio.get_running_loop()
    start = time.monotonic()
    done = {key: loop.create_future() for key in fds}

    def reader(fd: int, key: str, sink) -> None:
        try:
            chunk = os.read(fd, CHUNK)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            loop.remove_reader(fd)
            done[key].done() or done[key].set_result(None)
            return
        sink(chunk)

    def to_tail(tail: Tail):
        def sink(chunk: bytes) -> None:
            tail.add(chunk)
            if raw.stdout.total + raw.stderr.total > spec.output_bytes and not raw.capped:
                raw.capped = True
                kill()
        return sink

    def to_result(chunk: bytes) -> None:
        if len(raw.result) + len(chunk) > RESULT_MAX_BYTES:
            raw.result_too_big = True
            kill()
            return
        raw.result.extend(chunk)

    for key, sink in (("out", to_tail(raw.stdout)), ("err", to_tail(raw.stderr)), ("res", to_result)):
        os.set_blocking(fds[key], False)
        loop.add_reader(fds[key], reader, fds[key], key, sink)
    try:
        try:
            await asyncio.wait_for(exited(), timeout=spec.wall_s)
        except asyncio.TimeoutError:
            raw.timed_out = True
        finally:
            kill()
            raw.returncode, raw.cpu_s = await reap()
            raw.wall_s = time.monotonic() - start
        # what the group left behind is dead now, so the pipes close; wait a little for the tail
        await asyncio.wait(list(done.values()), timeout=2)
        await asyncio.wait([feeder], timeout=2)
    finally:  # a second cancellation while waiting must not leave the readers registered
        for fd in fds.values():
            loop.remove_reader(fd)


def _feed(pipe, data: bytes) -> None:
    try:
        if data:
            pipe.write(data)
        pipe.close()
    except (BrokenPipeError, OSError, ValueError):
        pass


def _reap(proc: subprocess.Popen) -> tuple[int | None, float]:
    """Wait for the (dead) child; its return code (negative: signal) and CPU seconds."""
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except ChildProcessError:
        return proc.returncode, 0.0
    rc = os.waitstatus_to_exitcode(status)
    proc.returncode = rc
    return rc, usage.ru_utime + usage.ru_stime


async def _exited(pid: int) -> None:
    """Return when process `pid` has exited (it stays a zombie until reaped)."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfd: poll the process state
        while _state(pid) not in ("Z", "X", ""):
            await asyncio.sleep(0.02)
        return
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop.add_reader(fd, lambda: done.done() or done.set_result(None))
    try:
        await done
    finally:
        loop.remove_reader(fd)
        os.close(fd)


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return ""


def _kill(pid: int, group: cg.RunCgroup | None) -> None:
    """SIGKILL the process group, and every process of the run's cgroup."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if group is not None:
        group.kill_all(timeout=1.0)
