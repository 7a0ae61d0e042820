"""The fork server inside a bwrap sandbox: imports the evaluator once, then forks one isolated child per candidate.

Usage (started by sandbox.forkserver): python -S -s -P -m sandbox.zygote EVALUATOR
It talks to the controller over the unix socket on fd 3: first a message with the run's limits
and, as passed file descriptors, the cgroup.procs files of two cgroups made for its children (job k
runs in the k % 2nd, so that a child can join its cgroup before its job comes while the controller
empties the other); then one message per job carrying the ends of the job's stdin, stdout, stderr
and result pipes.

  zygote (never runs candidate code; not dumpable, so no child can read its memory or /proc files)
    C: joins its job's cgroup, leaves for new user/mount/pid/ipc/net/uts namespaces, mounts a fresh
       /tmp, work dir and /dev/shm (sandbox.isolate), drops every capability, forks G, and exits as
       G does. Where clone3 is allowed (sandbox.isolate.fork_into_namespaces) there is no C: G is born
       in the new namespaces and does C's steps itself before it forks R (a fork costs about a
       millisecond of CPU on a small VM, a tenth of the isolation of a child)
      G: pid 1 of the new pid namespace: forks R, reaps orphans, exits as R does; when it exits
         the kernel kills whatever is left in the namespace
        R: a new session, the run's rlimits; waits for its job, then takes the job's pipes as
           fds 0-3 (closing the rest) and runs sandbox.runner's serve(): the same request on
           stdin, the same nonce-framed result on fd 3 as a fresh sandbox

The next child is forked as soon as a job is handed to the current one, and isolates itself while
that job runs, so a job waits only for R to take its pipes. Job k's child is in the k % 2nd
cgroup: the controller empties a job's cgroup before it sends the next job, so the child forked then
joins a cgroup with nothing left in it, and the one the controller empties next is not its own. A
candidate starts from the evaluator freshly imported (fork: its own memory), in files no earlier
candidate wrote, and sees neither the zygote nor any other candidate's process. The zygote answers {"pid": C} when a job starts and {"exit": code,
"cpu_s": s, "isolated": bool} when C is reaped; {"kill": 1} from the controller SIGKILLs C
(and so G, R and theirs, by parent-death signal and the end of their pid namespace).
"""
from __future__ import annotations

import sys

from sandbox import runner

CONTROL_FD = 3
ISOLATED_FD = 4  # in the child: R writes b"1" here once isolated, limited and given its job
JOB_FD = 5  # in the child: R receives its job's file descriptors on this socket
SETUP_FAILED = 125  # C, G or R could not isolate the child: nothing of a candidate ran
LOG = "zygote.log"  # its stdout and stderr, in its own work dir: the controller reads it, no child sees it


def main() -> int:
    _log_to(LOG)
    state = runner.prepare(sys.argv[1:])  # the audit hook first, then the evaluator (numpy included)
    import json
    import os
    import select
    import signal
    import socket

    from sandbox import isolate

    sys.stdout.flush()  # what the evaluator printed on import goes to the log, not into every child's output
    sys.stderr.flush()
    isolate.prctl(isolate.PR_SET_DUMPABLE, 0)
    state["guard"].prepare()  # the module snapshot every child would take: taken once, here
    state["mount_points"] = isolate.mount_points()  # each child's mount namespace starts as a copy of this one
    import gc
    gc.collect()
    gc.freeze()  # what is here now is never scanned by a child's collector (which would copy its pages)
    control = socket.socket(fileno=CONTROL_FD)
    data, groups, _, _ = socket.recv_fds(control, 65536, 16)
    if not data:
        return 0
    first = json.loads(data)
    limits, half = first["limits"], first.get("groups", 0)
    _CLONE3[0] = limits.get("clone3", True)
    halves = [groups[:half], groups[half:]]  # the cgroup.procs files of the jobs' cgroups A and B
    refusal = _unforkable()
    control.send(json.dumps({"ready": not refusal, "why": refusal}).encode())
    if refusal:
        return 0
    jobs = 0
    spare = _Spare(limits, state, halves[0])
    while True:
        data, fds, _, _ = socket.recv_fds(control, 65536, 16)
        if not data:
            spare.kill()
            return 0
        job = json.loads(data)
        if "kill" in job:  # late: that job's child has been reaped already
            _close(fds)
            continue
        running = spare
        running.start(job, fds)
        control.send(json.dumps({"pid": running.pid}).encode())
        jobs += 1  # job k runs in cgroup k % 2: the next child joins the one the controller emptied before this job
        spare = _Spare(limits, state, halves[jobs % 2])  # and isolates itself while this job runs
        while True:
            ready, _, _ = select.select([control, running.pidfd], [], [])
            if running.pidfd in ready:
                break
            data, extra, _, _ = socket.recv_fds(control, 65536, 16)
            _close(extra)
            if not data:
                running.kill()
                spare.kill()
                return 0
            if "kill" in json.loads(data):
                os.kill(running.pid, signal.SIGKILL)
        control.send(json.dumps(running.reap()).encode())


def _log_to(name: str) -> None:
    """Send this process's stdout and stderr to a file (a pipe nobody reads would block it once full)."""
    import os
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _unforkable() -> str:
    """Why children forked now would share something ('' when they would not): a thread the evaluator
    started (a fork keeps only this one), or shared writable memory (every child would write the same)."""
    import os
    threads = len(os.listdir("/proc/self/task"))
    if threads > 1:
        return f"the evaluator runs {threads - 1} thread(s) once imported"
    with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
        shared = [line.split()[-1] for line in fh if line.split()[1].startswith("rw") and line.split()[1][3] == "s"]
    return f"the evaluator maps shared writable memory ({shared[0]})" if shared else ""


class _Spare:
    """A forked child, isolated ahead of its job: C's pid and the zygote's ends of its pipes."""

    def __init__(self, limits: dict, state: dict, groups: list[int]):
        import os
        import socket

        from sandbox import isolate
        self.job_sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.isolated_r, isolated_w = os.pipe()
        self.err_r, err_w = os.pipe()  # where a failed setup says why (R takes the job's stderr later)
        zygote, ids = os.getpid(), (os.getuid(), os.getgid())
        self.pid, self.pidfd = -1, -1
        if _CLONE3[0]:  # G, born in its namespaces: no C
            try:
                self.pid, self.pidfd = isolate.fork_into_namespaces()
            except isolate.IsolationError:  # refused here (a seccomp filter): fork C, which unshares
                _CLONE3[0] = False
        if self.pid == -1:
            self.pid, ids = os.fork(), None
        if self.pid == 0:
            _child(limits, state, zygote, groups, theirs.fileno(), isolated_w, err_w, ids)  # never returns
        theirs.close()
        os.close(isolated_w)
        os.close(err_w)
        if self.pidfd == -1:
            self.pidfd = os.pidfd_open(self.pid)

    def start(self, job: dict, fds: list[int]) -> None:
        """Hand R its job (limits that vary by job, and the job's file descriptors)."""
        import json
        import socket
        try:
            socket.send_fds(self.job_sock, [json.dumps(job).encode()], fds)
        except OSError:  # R is gone (its setup failed): reap() says so
            pass
        finally:
            _close(fds)
            self.job_sock.close()

    def reap(self) -> dict:
        import os
        _, status, usage = os.wait4(self.pid, 0)
        os.close(self.pidfd)
        isolated = _read_now(self.isolated_r, 1) == b"1"
        why = _read_now(self.err_r, 4096).decode("utf-8", "replace")
        code = os.waitstatus_to_exitcode(status)
        return {"exit": code, "isolated": isolated, "why": "" if isolated else why[-2000:],
                "cpu_s": usage.ru_utime + usage.ru_stime}

    def kill(self) -> None:
        import os
        import signal
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)


def _read_now(fd: int, size: int) -> bytes:
    import os
    os.set_blocking(fd, False)
    try:
        return os.read(fd, size)
    except BlockingIOError:
        return b""
    finally:
        os.close(fd)


def _install(pairs: list[tuple[int, int]]) -> None:
    """Put each fd at its target number (sources and targets may overlap); the sources are closed."""
    import fcntl
    import os
    high = []
    for fd, target in pairs:
        high.append((fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100), target))
        os.close(fd)
    for fd, target in high:
        os.dup2(fd, target)  # the copy at `target` is inheritable
        os.close(fd)


def _close(fds: list[int]) -> None:
    import os
    for fd in fds:
        os.close(fd)


_CLONE3 = [True]  # whether children can be born in their namespaces here (clone3); False once refused


def _child(limits: dict, state: dict, zygote: int, groups: list[int], job: int, isolated: int, err: int,
           ids: tuple[int, int] | None) -> None:
    """C: the cgroup of its job, its own namespaces and files, no capabilities; fork G and exit as it does.
    With `ids` (born in new namespaces by clone3, its uid and gid to map) it is G itself, and does the same
    before it forks R."""
    import os
    import signal

    from sandbox import isolate
    try:
        isolate.prctl(isolate.PR_SET_PDEATHSIG, signal.SIGKILL)
        # (born isolated, its parent is outside its pid namespace and getppid() says 0: were the zygote gone
        # already, R would find the job socket closed and exit, and the bwrap sandbox ends with the zygote)
        if ids is None and os.getppid() != zygote:
            os._exit(SETUP_FAILED)
        for fd in groups:  # before any fork: all the child starts is in the job's cgroup
            os.write(fd, b"0")
        null = os.open("/dev/null", os.O_RDWR)  # not the zygote's stdin and log: R gets its job's instead
        _install([(null, 0), (os.dup(null), 1), (err, 2), (isolated, ISOLATED_FD), (job, JOB_FD)])
        os.closerange(JOB_FD + 1, os.sysconf("SC_OPEN_MAX"))  # the zygote's fds: the other ends of this child's
        os.close(CONTROL_FD)  # and the control socket
        if ids is None:
            isolate.leave_namespaces()
        else:
            isolate.map_ids(*ids)
        isolate.private_files(os.getcwd(), limits["tmpfs_mb"], limits["work_mb"], state["mount_points"])
        isolate.drop_capabilities()  # G and R need none
        if ids is not None:
            _init(limits, state)  # never returns
        g = os.fork()
        if g == 0:
            _init(limits, state)
        os.close(ISOLATED_FD)
        os.close(JOB_FD)
        _, status = os.waitpid(g, 0)
        os._exit(_code(status))
    except BaseException as exc:  # noqa: BLE001 - report, never run a candidate half-isolated
        _fail(f"sandbox.zygote: isolating the child failed: {exc!r}")


def _init(limits: dict, state: dict) -> None:
    """G, pid 1 of the child's pid namespace: fork R, reap, exit with R's status."""
    import os
    import signal

    from sandbox import isolate
    try:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # pid 1 with no handler: R cannot signal it
            signal.signal(sig, signal.SIG_DFL)
        isolate.prctl(isolate.PR_SET_PDEATHSIG, signal.SIGKILL)
        r = os.fork()
        if r == 0:
            _run(limits, state)
        os.close(ISOLATED_FD)
        os.close(JOB_FD)
        while True:
            pid, status = os.waitpid(-1, 0)
            if pid == r:
                os._exit(_code(status))
    except BaseException as exc:  # noqa: BLE001
        _fail(f"sandbox.zygote: the child's init failed: {exc!r}")


def _run(limits: dict, state: dict) -> None:
    """R: the run's limits; then its job, and the runner exactly as in a fresh sandbox."""
    import json
    import os
    import resource
    import socket

    from sandbox import isolate
    try:
        os.setsid()
        cpu = max(1, int(limits["cpu_s"] + 0.999))
        rlimits = [(resource.RLIMIT_CPU, cpu, cpu + 1), (resource.RLIMIT_CORE, 0, 0),
                   (resource.RLIMIT_FSIZE, limits["file_mb"] << 20, limits["file_mb"] << 20),
                   (resource.RLIMIT_NOFILE, limits["open_files"], limits["open_files"])]
        if limits.get("memory_mb"):
            rlimits.append((resource.RLIMIT_AS, limits["memory_mb"] << 20, limits["memory_mb"] << 20))
        for which, soft, hard in rlimits:
            resource.setrlimit(which, (soft, hard))
        isolate.prctl(isolate.PR_SET_DUMPABLE, 1)  # as a fresh process: its own /proc files are its own
        data, fds, _, _ = socket.recv_fds(socket.socket(fileno=JOB_FD), 65536, 16)
        if not data:
            os._exit(SETUP_FAILED)  # the zygote went away before a job came
        job = json.loads(data)
        stdin, stdout, stderr, result = fds
        if job.get("nproc"):
            resource.setrlimit(resource.RLIMIT_NPROC, (job["nproc"], job["nproc"]))
        _install([(stdin, 0), (stdout, 1), (stderr, 2), (result, 3)])
        os.write(ISOLATED_FD, b"1")
        os.closerange(ISOLATED_FD, os.sysconf("SC_OPEN_MAX"))  # the job socket too: nothing leads back
    except BaseException as exc:  # noqa: BLE001
        _fail(f"sandbox.zygote: preparing the child failed: {exc!r}")
    runner.serve(state)
    os._exit(0)


def _code(status: int) -> int:
    """A wait status as an exit code: 128+N for a signal (as bwrap and shells report it)."""
    import os
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _fail(message: str) -> None:
    import os
    try:
        os.write(2, (message + "\n").encode())
    finally:
        os._exit(SETUP_FAILED)


if __name__ == "__main__":
    sys.exit(main())
