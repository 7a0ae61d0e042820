"""Which GPUs this machine has, and handing each evaluation its own.

The count comes from EVOLVE_GPU_COUNT when set (tests, or to use fewer GPUs than the
machine has), else from the /dev/nvidiaN device nodes, else from `nvidia-smi -L`.
At most one evaluation holds a device at a time, so a timing measurement on a GPU never
shares it; CPU-only evaluations do not wait for devices.
"""
from __future__ import annotations

import asyncio
import glob
import os
import re
import shutil
import subprocess
from contextlib import asynccontextmanager

COUNT_ENV = "EVOLVE_GPU_COUNT"


def detect() -> int:
    """How many GPUs evaluations may use on this machine."""
    override = os.environ.get(COUNT_ENV, "").strip()
    if override:
        if not override.isdigit():
            raise ValueError(f"environment variable {COUNT_ENV}={override!r} must be a whole number of GPUs")
        return int(override)
    nodes = [p for p in glob.glob("/dev/nvidia*") if re.fullmatch(r"/dev/nvidia\d+", p)]
    if nodes:
        return len(nodes)
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.TimeoutExpired):
            return 0
        return sum(1 for line in out.splitlines() if line.startswith("GPU "))
    return 0


def resolve(requested: int | str, available: int, where: str) -> int:
    """GPUs per evaluation: `auto` is 1 where the machine has one, else 0; too many is an error."""
    if requested == "auto":
        return 1 if available else 0
    if requested > available:
        have = f"{available} GPU(s)" if available else "no GPU (no /dev/nvidiaN, no `nvidia-smi -L` output)"
        raise GpuError(
            f"{where}: key 'sandbox.gpus' asks for {requested} GPU(s) per evaluation, but this machine "
            f"has {have}. Run on a machine with GPUs, set sandbox.gpus: auto (CPU fallback), or 0."
        )
    return int(requested)


class GpuError(Exception):
    """A problem asks for GPUs this machine does not have."""


class DevicePool:
    """Hands out device indices; each device serves one evaluation at a time."""

    def __init__(self, count: int):
        self.free = list(range(count))
        self.count = count
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def devices(self, n: int):
        """Wait until `n` devices are free; yield their indices; give them back afterwards."""
        if n == 0:
            yield ()
            return
        if n > self.count:
            raise GpuError(f"an evaluation asks for {n} GPU(s) but the pool has {self.count}")
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.free) >= n)
            taken, self.free = tuple(self.free[:n]), self.free[n:]
        try:
            yield taken
        finally:
            async with self._changed:
                self.free = sorted(self.free + list(taken))
                self._changed.notify_all()
