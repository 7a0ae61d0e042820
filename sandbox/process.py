"""The `process` backend: a child process in its own session, rlimits, no secrets.

It is the baseline every machine has. Network isolation uses an unprivileged
user+network namespace (`unshare -rn`) where the kernel allows it.
"""
from __future__ import annotations

import asyncio
import functools
import json
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from sandbox.spec import (
    ERROR, INVALID_RESULT, KILLED, OK, OOM, OUTPUT_CAP, RESULT_FILE, TIMEOUT, RunResult, RunSpec,
)

TAIL_BYTES = 8192
CHUNK = 65536


@functools.cache
def network_namespace_available() -> bool:
    """Whether `unshare -rn` works here (it needs unprivileged user namespaces)."""
    if shutil.which("unshare") is None:
        return False
    try:
        done = subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _limits(spec: RunSpec):
    """Resource limits applied in the child before exec."""
    def apply() -> None:
        cpu = max(1, int(spec.cpu_s + 0.999))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        mem = spec.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def _environment(spec: RunSpec, workdir: str) -> dict[str, str]:
    env = {k: os.environ[k] for k in spec.env_allow if k in os.environ}
    env.update(spec.env)
    env.update(HOME=workdir, TMPDIR=workdir, PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED="0")
    if spec.readable_paths:
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in spec.readable_paths)
    if spec.gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in spec.gpus)
    return env


class _Tail:
    """Counts bytes of a stream and keeps its last TAIL_BYTES."""

    def __init__(self) -> None:
        self.data = b""
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.data = (self.data + chunk)[-TAIL_BYTES:]

    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


class ProcessBackend:
    name = "process"

    async def run(self, spec: RunSpec) -> RunResult:
        workdir = tempfile.mkdtemp(prefix="evolve-sbx-")
        try:
            for name, content in spec.files.items():
                Path(workdir, name).write_text(content, encoding="utf-8")
            return await self._run_in(spec, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    async def _run_in(self, spec: RunSpec, workdir: str) -> RunResult:
        argv = list(spec.argv)
        if not spec.network and network_namespace_available():
            argv = ["unshare", "-rn", *argv]
        start = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=workdir, env=_environment(spec, workdir),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True, preexec_fn=_limits(spec),
        )
        out, err = _Tail(), _Tail()
        capped = asyncio.Event()

        async def pump(stream: asyncio.StreamReader, tail: _Tail) -> None:
            while chunk := await stream.read(CHUNK):
                tail.add(chunk)
                if out.total + err.total > spec.output_bytes:
                    capped.set()
                    _kill_group(proc.pid)
                    return

        status = OK
        pumps = asyncio.gather(pump(proc.stdout, out), pump(proc.stderr, err))
        try:
            # the run is over when the main process exits (or the cap kills it); whatever
            # it left behind in its process group dies with it and closes the pipes
            await asyncio.wait_for(_exited(proc.pid), timeout=spec.wall_s)
        except asyncio.TimeoutError:
            status = TIMEOUT
        finally:
            _kill_group(proc.pid)
            await asyncio.wait([pumps], timeout=5)  # the pipes close once the group is dead
            pumps.cancel()
            await asyncio.gather(pumps, return_exceptions=True)
            await asyncio.wait([asyncio.ensure_future(proc.wait())], timeout=5)
        wall = time.monotonic() - start
        return _classify(status, proc.returncode, out, err, capped.is_set(), workdir, spec, wall)


async def _exited(pid: int) -> None:
    """Return when process `pid` has exited (before it is reaped), without waiting for its pipes.

    asyncio's Process.wait() also waits for stdout/stderr to close, which a
    leftover grandchild can hold open for ever.
    """
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


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _classify(status, rc, out, err, capped, workdir, spec, wall) -> RunResult:
    res = RunResult(status=status, returncode=rc, stdout=out.text(), stderr=err.text(), wall_s=wall)
    payload, problem = _read_result(Path(workdir, RESULT_FILE))
    if isinstance(payload, dict):
        res.cpu_s = float(payload.get("cpu_s", 0.0) or 0.0)
    if status == TIMEOUT:
        res.error = f"wall-clock limit of {spec.wall_s:g} s reached; the process group was killed"
    elif capped:
        res.status = OUTPUT_CAP
        res.error = f"output passed {spec.output_bytes} bytes; the process group was killed"
    elif rc == -signal.SIGXCPU:
        res.status = TIMEOUT
        res.error = f"CPU limit of {spec.cpu_s:g} s reached"
    elif "MemoryError" in res.stderr or (isinstance(payload, dict) and payload.get("oom")):
        res.status = OOM
        res.error = f"memory limit of {spec.memory_mb} MB reached"
    elif rc is not None and rc < 0:
        res.status = KILLED
        res.error = f"killed by signal {signal.Signals(-rc).name}"
    elif isinstance(payload, dict) and "error" in payload:
        res.status = ERROR
        res.error = str(payload["error"])
    elif rc != 0:
        res.status = ERROR
        res.error = f"exit code {rc}: {res.stderr.strip()[-2000:] or 'no output'}"
    elif problem:
        res.status = INVALID_RESULT
        res.error = problem
    else:
        res.result = payload.get("value")
    return res


def _read_result(path: Path):
    """(payload, problem): the parsed result.json, or why it could not be read."""
    if not path.is_file():
        return None, "the run left no result.json"
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"result.json is not valid JSON: {exc}"
    if not isinstance(payload, dict) or "value" not in payload and "error" not in payload:
        return None, "result.json does not hold a 'value'"
    return payload, ""
