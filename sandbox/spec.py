"""What a sandboxed run is asked to do (RunSpec) and what came of it (RunResult)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Statuses a run can end with.
OK, ERROR, TIMEOUT, OOM, OUTPUT_CAP, KILLED, INVALID_RESULT = (
    "ok", "error", "timeout", "oom", "output_cap", "killed", "invalid_result",
)
RESULT_FILE = "result.json"

# Environment variables a sandboxed process may inherit; everything else is dropped.
DEFAULT_ENV_ALLOW = ("PATH", "LANG", "LC_ALL", "TZ")


@dataclass(frozen=True)
class RunSpec:
    """One sandboxed command: files to place in a fresh work dir, argv, and limits."""

    argv: list[str]
    files: dict[str, str] = field(default_factory=dict)  # name in work dir -> text content
    env: dict[str, str] = field(default_factory=dict)  # set explicitly, after the allow-list
    env_allow: tuple[str, ...] = DEFAULT_ENV_ALLOW
    wall_s: float = 60.0
    cpu_s: float = 60.0
    memory_mb: int = 4096
    output_bytes: int = 1_000_000
    gpus: tuple[int, ...] = ()
    network: bool = False
    readable_paths: tuple[Path, ...] = ()  # code the run may import (the project root)


@dataclass
class RunResult:
    """How a sandboxed run ended; `result` is the JSON the run left in result.json."""

    status: str
    returncode: int | None
    stdout: str = ""
    stderr: str = ""
    result: Any = None
    error: str = ""
    wall_s: float = 0.0
    cpu_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == OK
