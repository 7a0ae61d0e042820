"""Fork servers: bwrap sandboxes that import the evaluator once and fork a fresh, isolated child per candidate.

A fresh sandbox per evaluation costs an interpreter start and the evaluator's imports (tens of
milliseconds of CPU); a fork costs a few. Each `Zygote` is a bwrap sandbox (the same mounts and
limits as a fresh one) running `sandbox.zygote`, which serves one candidate at a time, in a child
of its own: new user, mount, pid, ipc, net and uts namespaces; a fresh /tmp, work dir and /dev/shm;
/dev read-only; no capabilities; the run's rlimits; and a cgroup with the run's pids and memory
caps (each zygote has two, made once, used in turn, and emptied after each child). The child
cannot see the zygote or another candidate, and everything it starts dies with it. Its memory is
the fork's own, so nothing an earlier candidate did (a file, an environment variable, a module
attribute, a patched builtin, an IPC object, a process) reaches a later one
(tests/sandbox/test_fork_isolation.py). The pool keeps up to `size` zygotes per spec template.

Runs with files or GPUs, and every run of a template whose zygote cannot isolate its children
(no nested user namespaces on this kernel, an evaluator that starts threads or maps shared
memory), go through a `WarmPool` instead: one fresh sandbox per evaluation, started ahead. So
does everything when EVOLVE_FORK_SERVER=0.
"""
from __future__ import annotations

import asyncio
import atexit
import dataclasses
import json
import os
import resource
import signal
import socket

from sandbox import cgroup as cg
from sandbox import launch, outcome, workdir
from sandbox.local import LocalBackend, Started
from sandbox.spec import KILLED, RESULT_FD, RunResult, RunSpec
from sandbox.warm import WarmPool, template

RUNNER, ZYGOTE = "sandbox.runner", "sandbox.zygote"
ZYGOTE_LOG = "zygote.log"  # the zygote's stdout and stderr, in its own work dir (which no child sees)
SETUP_FAILED = 125
MAX_FAILURES = 3  # zygotes of a template that failed in a row before the template runs without them
REAP_WAIT_S = 5.0  # after a kill: how long the zygote may take to report the child reaped


def _switched_on(name: str) -> bool:
    """An on/off environment switch, on unless set to 0, false, no or off."""
    return os.environ.get(name, "1").strip().lower() not in ("0", "false", "no", "off")


def clone3_enabled() -> bool:
    """Whether a zygote's children are born in their namespaces (sandbox.isolate.fork_into_namespaces) where the
    kernel allows it; EVOLVE_CLONE3=0 makes them fork and unshare, as where clone3 is refused."""
    return _switched_on("EVOLVE_CLONE3")


def enabled() -> bool:
    """Whether fork servers are used (EVOLVE_FORK_SERVER=0 turns them off: one sandbox per evaluation)."""
    return _switched_on("EVOLVE_FORK_SERVER")


class ZygoteLost(Exception):
    """The zygote went away before it took the job: nothing of the candidate ran."""


class Zygote:
    """One fork server sandbox; `job` runs one candidate in a child of it."""

    def __init__(self, backend: LocalBackend, key: RunSpec):
        self.backend = backend
        spec = dataclasses.replace(key, argv=zygote_argv(key.argv))
        path = workdir.make(spec)
        group = None
        host, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            group = cg.RunCgroup.create(spec.pids, spec.memory_mb)
            argv, env = backend.command(spec, path)
            spawned = launch.spawn(argv, path, env, _zygote_setup(spec), group, channel=child.fileno())
        except BaseException:
            host.close()
            if group is not None:
                group.close()
            workdir.remove(path)
            raise
        finally:
            child.close()
        self.sock = host
        self.started = Started(spawned, path, group)
        self.healthy = spawned.proc is not None
        self.inbox: asyncio.Queue | None = None
        self.why = ""  # why the last job's child was not isolated (its setup's own words)
        self.served = 0  # jobs this zygote took
        # its children's cgroups (the run's pids and memory caps), made once (making and removing a
        # cgroup per run waits on the kernel's cgroup lock): job k runs in jobs[k % 2], emptied after it
        self.jobs = [cg.RunCgroup.create(key.pids, key.memory_mb) for _ in range(2)]
        if None in self.jobs:
            for group in self.jobs:
                group is not None and group.close()
            self.jobs = [None, None]
        limits = {"cpu_s": key.cpu_s, "memory_mb": None if key.gpus else key.memory_mb, "file_mb": key.file_mb,
                  "open_files": key.open_files, "tmpfs_mb": key.tmpfs_mb,
                  "work_mb": max(key.file_mb, key.tmpfs_mb), "clone3": clone3_enabled()}
        procs = [os.open(f, os.O_WRONLY | os.O_CLOEXEC) for g in self.jobs if g is not None for f in g.procs_files]
        try:
            socket.send_fds(host, [json.dumps({"limits": limits, "groups": len(procs) // 2}).encode()], procs)
        except OSError:
            self.healthy = False
        finally:
            for fd in procs:
                os.close(fd)
        host.setblocking(False)

    def alive(self) -> bool:
        proc = self.started.spawned.proc
        return self.healthy and proc is not None and proc.poll() is None

    def why_gone(self) -> str:
        """What the zygote (or bwrap, before it) said before it died, or why it never started."""
        spawned = self.started.spawned
        if spawned.proc is None:
            return spawned.error
        text = ""
        try:
            os.set_blocking(spawned.proc.stderr.fileno(), False)
            text = (spawned.proc.stderr.read() or b"").decode("utf-8", "replace")
        except (OSError, ValueError):
            pass
        try:
            with open(os.path.join(self.started.path, ZYGOTE_LOG), "rb") as fh:
                text += fh.read()[-4000:].decode("utf-8", "replace")
        except OSError:
            pass
        return text.strip()[-500:] or "the fork server exited before it took the job"

    async def job(self, spec: RunSpec, uid: int) -> tuple[launch.Raw, bool]:
        """Run one candidate: (what was observed, whether its child was isolated before it ran)."""
        loop = asyncio.get_running_loop()
        self.inbox = asyncio.Queue()
        self.reaped = False  # (set by _watch)
        if not self.alive():
            self._receive()  # what it said before it went (a refusal to fork)
            raise ZygoteLost(self.why or self.why_gone())
        loop.add_reader(self.sock, self._receive)
        group = self.jobs[self.served % 2]  # its child is in it already
        mine: list[int] = []  # the pipe ends this process reads (and writes: stdin); closed at the end
        try:
            theirs: list[int] = []
            try:
                for i in range(4):  # stdin (the child reads it), stdout, stderr, result
                    r, w = os.pipe()
                    mine.append(w if i == 0 else r)
                    theirs.append(r if i == 0 else w)
                job = {"nproc": launch.nproc_limit(spec, group, uid)}
                socket.send_fds(self.sock, [json.dumps(job).encode()], theirs)
                self.served += 1
            except OSError as exc:
                self.healthy = False
                self._receive()  # it may have said why before it went (a refusal to fork)
                raise ZygoteLost(self.why or f"the fork server did not take the job: {exc}") from None
            finally:
                for fd in theirs:
                    os.close(fd)
            return await self._watch(spec, mine, group)
        finally:
            loop.remove_reader(self.sock)
            for fd in mine[1:]:  # stdin's end is the feeder's to close
                os.close(fd)
            if group is not None and not self.reaped:
                group.kill_all(timeout=1.0)  # nothing of this child is left for the one after next

    async def _watch(self, spec: RunSpec, mine: list[int], group) -> tuple[launch.Raw, bool]:
        raw = launch.Raw()
        state: dict = {"pid": None, "exit": None, "gone": False}
        loop = asyncio.get_running_loop()

        async def exited() -> None:
            while state["exit"] is None and not state["gone"]:
                message = await self.inbox.get()
                if message is None:  # the zygote died; its child died with it (parent-death signal)
                    self.healthy, state["gone"] = False, True
                    if state["pid"] is None:
                        raise ZygoteLost(self.why or self.why_gone())
                    state["exit"] = {"exit": -signal.SIGKILL, "cpu_s": 0.0, "lost": True}
                elif "exit" in message:
                    state["exit"] = message
                elif "pid" in message:
                    state["pid"] = message["pid"]

        def kill() -> None:
            if state["exit"] is not None:
                return
            if group is not None:
                group.kill_all(timeout=1.0)  # nothing of this child is left for the one after next
            try:
                self.sock.send(b'{"kill": 1}')
            except OSError:
                pass

        async def reap() -> tuple[int | None, float]:
            if state["exit"] is None and not state["gone"]:
                try:
                    await asyncio.wait_for(exited(), timeout=REAP_WAIT_S)
                except (asyncio.TimeoutError, ZygoteLost):
                    pass
            if state["exit"] is None:
                self.healthy = False  # a zygote that does not answer is not used again
                return None, 0.0
            return state["exit"]["exit"], float(state["exit"].get("cpu_s") or 0.0)

        feeder = _feed(loop, mine[0], spec.stdin)
        try:
            await launch.observe(raw, spec, {"out": mine[1], "err": mine[2], "res": mine[3]}, exited, kill, reap,
                                 feeder)
        finally:
            feeder.cancel()  # closes stdin's end if still open
        if group is not None:  # since its last job ended, only this job's child (trusted, then this job) ran there
            raw.oom_killed = group.new_oom_kills() > 0
        end = state["exit"] or {}
        # reaped by the zygote: the child's pid namespace ended with its init, and the kernel had every
        # process in it gone before that init's exit was done, so its cgroup holds nothing (kill_all
        # stays for a child the zygote did not answer for)
        self.reaped = bool(state["exit"]) and not end.get("lost")
        self.why = end.get("why", "")
        if end.get("lost"):
            raw.stderr.add(b"\nthe sandbox's fork server died during the run\n")
        return raw, bool(end.get("isolated")) and not end.get("lost")

    def _receive(self) -> None:
        reset = False
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            except ConnectionResetError:  # it exited with a job unread; what it sent before is still queued
                if not reset:
                    reset = True
                    continue
                data = b""
            except OSError:
                data = b""
            if not data:
                asyncio.get_running_loop().remove_reader(self.sock)
                self.healthy = False
                self.inbox.put_nowait(None)
                return
            message = json.loads(data)
            if "ready" not in message:
                self.inbox.put_nowait(message)
            elif not message["ready"]:  # it refused to fork (and exits): say why when the job fails over
                self.healthy, self.why = False, f"isolating the child failed: {message.get('why')}"

    def close(self) -> None:
        """Stop the zygote and remove its sandbox (work dir, cgroup, processes)."""
        self.healthy = False
        self.sock.close()
        self.backend.discard(self.started)
        for group in self.jobs:
            if group is not None:
                group.close()


def zygote_argv(argv: list[str]) -> list[str]:
    """The runner's argv with the fork server in its place (`-m sandbox.runner` -> `-m sandbox.zygote`)."""
    i = argv.index(RUNNER)
    return [*argv[:i], ZYGOTE, *argv[i + 1:]]


def eligible(spec: RunSpec) -> bool:
    """A run of sandbox.runner with the request on stdin, no files or GPUs fixed at start."""
    args = spec.argv
    return (not spec.files and not spec.gpus and RUNNER in args and args.index(RUNNER) > 0
            and args[args.index(RUNNER) - 1] == "-m" and "--request" not in args)


def _zygote_setup(spec: RunSpec):
    """The zygote's own limits: those of a run but CPU time (it lives long; each child gets the run's)."""
    def apply(procs_files: list[str], channel: int | None) -> None:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (spec.file_mb << 20, spec.file_mb << 20))
        resource.setrlimit(resource.RLIMIT_NOFILE, (spec.open_files, spec.open_files))
        mem = spec.memory_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        cg.enter(procs_files)
        if channel is not None and channel != RESULT_FD:
            os.dup2(channel, RESULT_FD)
    return apply


def _feed(loop: asyncio.AbstractEventLoop, fd: int, data: bytes) -> asyncio.Future:
    """Write `data` to the pipe `fd` from the event loop, then close it (also when the future is
    cancelled); done when written or refused."""
    done = loop.create_future()
    view = memoryview(data)
    os.set_blocking(fd, False)

    def write() -> None:
        nonlocal view
        try:
            while view:
                view = view[os.write(fd, view):]
        except BlockingIOError:
            return
        except OSError:  # the child closed its end (it died, or never read)
            pass
        done.done() or done.set_result(None)

    def finish(_) -> None:
        loop.remove_writer(fd)
        os.close(fd)

    done.add_done_callback(finish)
    write()
    if not done.done():
        loop.add_writer(fd, write)
    return done


class ForkPool:
    """Runs `backend`'s evaluations in children of up to `size` zygotes per spec template."""

    def __init__(self, backend: LocalBackend, size: int):
        self.backend = backend
        self.name = backend.name
        self.size = max(1, size)
        self.fallback = WarmPool(backend, size)
        self.idle: dict[str, list[Zygote]] = {}
        self.failures: dict[str, int] = {}
        self.broken: dict[str, str] = {}  # template -> why it runs without zygotes
        self.hides_files = backend.hides_files
        self.closed = False
        atexit.register(self.close)

    async def run(self, spec: RunSpec) -> RunResult:
        key = template(spec)
        name = repr(key)
        if not eligible(spec) or name in self.broken or self.closed:
            return await self.fallback.run(spec)
        zygote = self._take(key, name)
        try:
            raw, isolated = await zygote.job(spec, self.backend.uid())
        except ZygoteLost as exc:
            self._failed(name, str(exc), zygote)
            return await self.fallback.run(spec)
        except BaseException:
            zygote.close()
            raise
        if not isolated and raw.returncode == SETUP_FAILED:
            self._failed(name, zygote.why.strip()[-500:], zygote)
            return await self.fallback.run(spec)
        self.failures[name] = 0
        self._give_back(name, zygote)
        result = outcome.classify(raw, spec, self.name)
        if raw.returncode is None and not raw.timed_out:
            result.status, result.error = KILLED, "the sandbox's fork server stopped answering; the run was killed"
        return result

    def _take(self, key: RunSpec, name: str) -> Zygote:
        """An idle zygote of the template, else a new one; the first run of a template starts the
        pool's others too, so that they import while it runs. Started from the loop's own thread:
        bwrap's --die-with-parent follows the thread that forked it."""
        first = name not in self.idle
        waiting = self.idle.setdefault(name, [])
        while waiting:
            zygote = waiting.pop()
            if zygote.alive():
                return zygote
            zygote.close()
        while first and len(waiting) < self.size - 1:
            waiting.append(Zygote(self.backend, key))
        return Zygote(self.backend, key)

    def _give_back(self, name: str, zygote: Zygote) -> None:
        waiting = self.idle.setdefault(name, [])
        if zygote.alive() and not self.closed and len(waiting) < self.size:
            waiting.append(zygote)
        else:
            zygote.close()

    def _failed(self, name: str, why: str, zygote: Zygote) -> None:
        zygote.close()
        self.failures[name] = self.failures.get(name, 0) + 1
        if self.failures[name] >= MAX_FAILURES or "isolating the child failed" in why:
            self.broken[name] = why or "the fork server failed"
            for other in self.idle.pop(name, []):
                other.close()

    def close(self) -> None:
        """Stop every zygote and every waiting sandbox."""
        self.closed = True
        for waiting in self.idle.values():
            while waiting:
                waiting.pop().close()
        self.fallback.close()
