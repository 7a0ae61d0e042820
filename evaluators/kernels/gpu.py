"""Which device a GPU kernel evaluation has, decided at run time, and timing on it.

`detect()` must run before triton is imported: with no CUDA device it sets
TRITON_INTERPRET=1 so kernels run (slowly, exactly) on the CPU under Triton's
interpreter. No GPU means: EVOLVE_GPUS=0, CUDA_VISIBLE_DEVICES empty, or torch
seeing no CUDA device (a CPU build, or no driver).
"""
from __future__ import annotations

import os
import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Device:
    cuda: bool
    reason: str  # why this device: what was seen in the environment

    @property
    def torch_device(self) -> str:
        return "cuda" if self.cuda else "cpu"


class MissingDependency(Exception):
    """torch or triton is not installed where the evaluator runs."""


def _no_gpu_reason() -> str | None:
    if os.environ.get("EVOLVE_GPUS", "").strip() == "0":
        return "EVOLVE_GPUS=0: the sandbox gave this evaluation no GPU"
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return "CUDA_VISIBLE_DEVICES is empty: the sandbox gave this evaluation no GPU"
    return None


def detect() -> Device:
    """The device to use; sets TRITON_INTERPRET=1 when there is no CUDA device."""
    reason = _no_gpu_reason()
    try:
        import torch
    except ImportError:
        raise MissingDependency("torch is not installed where the evaluator runs; "
                                "install the gpu extra: pip install -e '.[gpu]'") from None
    if reason is None:
        if torch.cuda.is_available():
            return Device(True, f"CUDA device {torch.cuda.get_device_name(0)}")
        reason = ("torch sees no CUDA device (CUDA build: "
                  f"{torch.version.cuda or 'no, a CPU build of torch'})")
    os.environ["TRITON_INTERPRET"] = "1"
    try:
        import triton  # noqa: F401
    except ImportError:
        raise MissingDependency("triton is not installed where the evaluator runs; "
                                "install the gpu extra: pip install -e '.[gpu]'") from None
    return Device(False, reason + "; kernels run under Triton's interpreter (TRITON_INTERPRET=1)")


def cuda_median_ms(fns: dict, warmup: int, repeats: int) -> dict[str, float]:
    """Median milliseconds of each callable, by CUDA events, warmed up, runs interleaved."""
    import torch
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    torch.cuda.synchronize()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times[name].append(start.elapsed_time(end))
    return {name: statistics.median(ts) for name, ts in times.items()}
