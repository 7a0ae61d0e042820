"""What a sandboxed run is asked to do (RunSpec) and what came of it (RunResult)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

# Statuses a run can end with.
OK, ERROR, TIMEOUT, OOM, OUTPUT_CAP, KILLED, INVALID_RESULT = (
    "ok", "error", "timeout", "oom", "output_cap", "killed", "invalid_result",
)
STATUSES = (OK, ERROR, TIMEOUT, OOM, OUTPUT_CAP, KILLED, INVALID_RESULT)

# The run's result travels on this inherited pipe fd (or, for docker, a nonce-framed file),
# never through a file the candidate can write in its work dir.
RESULT_FD = 3
RESULT_MAX_BYTES = 64 * 1024 * 1024

# Environment variables a sandboxed process may inherit; everything else is dropped (PATH is
# the sandbox's own: see workdir.environment).
DEFAULT_ENV_ALLOW = ("LANG", "LC_ALL", "TZ")


@dataclass(frozen=True)
class RunSpec:
    """One sandboxed command: files to place in a fresh work dir, argv, and limits.

    `stdin` is fed to the process and closed (the runner's request and nonce go here, so
    the candidate never finds them in a file). With a `nonce`, the result is the payload
    the process wrote on fd RESULT_FD after a first line equal to the nonce.
    """

    argv: list[str]
    files: dict[str, str] = field(default_factory=dict)  # name in work dir -> text content
    env: dict[str, str] = field(default_factory=dict)  # set explicitly, after the allow-list
    env_allow: tuple[str, ...] = DEFAULT_ENV_ALLOW
    wall_s: float = 60.0
    cpu_s: float = 60.0
    memory_mb: int = 4096
    output_bytes: int = 1_000_000
    pids: int = 256  # processes and threads the run may hold at once
    open_files: int = 1024
    file_mb: int = 1024  # largest file the run may write
    tmpfs_mb: int = 512  # size of the private /tmp (bwrap, docker)
    gpus: tuple[int, ...] = ()  # device indices this run may see (CUDA_VISIBLE_DEVICES)
    network: bool = False
    readable_paths: tuple[Path, ...] = ()  # directories the run may read (bwrap, docker bind them)
    python_path: tuple[Path, ...] = ()  # PYTHONPATH entries
    stdin: bytes = b""
    nonce: str = ""


@dataclass
class RunResult:
    """How a sandboxed run ended; `result` is the JSON payload the runner sent back."""

    status: str
    returncode: int | None
    stdout: str = ""
    stderr: str = ""
    result: Any = None
    error: str = ""
    wall_s: float = 0.0
    cpu_s: float = 0.0
    backend: str = ""
    probe: Any = None  # outputs of a probe that rode along with this run (see request.evaluation)
    probe_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == OK


class Backend(Protocol):
    """Runs one RunSpec to its end; never raises because of what the run did."""

    name: str

    async def run(self, spec: RunSpec) -> RunResult: ...
