"""float32 bit patterns: ordered integers, ULP distance, and walking a range of floats.

Every finite float32 maps to an integer such that adjacent floats differ by 1 and
+0 and -0 share 0; the ULP distance of two floats is the difference of theirs.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

NAN_ULPS = 1 << 32  # the distance charged for a NaN (or any result outside the floats' order)
SIGN = np.int64(0x80000000)
MAG = np.int64(0x7FFFFFFF)


def to_ordered(x: np.ndarray) -> np.ndarray:
    """float32 values -> int64 ordered integers (-0 and +0 both 0)."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.int32).astype(np.int64)
    return np.where(bits < 0, -(bits & MAG), bits)


def from_ordered(o: np.ndarray) -> np.ndarray:
    """int64 ordered integers -> float32 values (0 gives +0)."""
    o = np.asarray(o, dtype=np.int64)
    bits = np.where(o < 0, (-o) | SIGN, o).astype(np.uint32)
    return bits.view(np.float32)


def ordered_of(value: float) -> int:
    return int(to_ordered(np.array([value], dtype=np.float32))[0])


def ulp_distance(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """|got - want| in float32 ULPs, int64; NaN in `got` (where `want` is not NaN) costs NAN_ULPS."""
    d = np.abs(to_ordered(got) - to_ordered(want))
    bad = np.isnan(got) & ~np.isnan(want)
    d[bad] = NAN_ULPS
    d[np.isnan(got) & np.isnan(want)] = 0
    return d


def chunks(lo: int, hi: int, size: int, stride: int = 1, phase: int = 0) -> Iterator[np.ndarray]:
    """float32 arrays covering ordered integers lo..hi (inclusive) with `stride`, `size` at a time."""
    start = lo + (phase % stride if stride > 1 else 0)
    step = size * stride
    for a in range(start, hi + 1, step):
        b = min(a + step, hi + 1)
        yield from_ordered(np.arange(a, b, stride, dtype=np.int64))


def count_in(lo: int, hi: int, stride: int = 1, phase: int = 0) -> int:
    start = lo + (phase % stride if stride > 1 else 0)
    return 0 if start > hi else (hi - start) // stride + 1


class ErrorTally:
    """Running max / mean ULP error over chunks, with the worst input seen."""

    def __init__(self) -> None:
        self.count = 0
        self.total = 0
        self.max = 0
        self.worst_x: float | None = None
        self.over_1 = 0
        self.nonfinite = 0

    def add(self, x: np.ndarray, got: np.ndarray, want: np.ndarray) -> None:
        d = ulp_distance(got, want)
        if d.size == 0:
            return
        self.count += int(d.size)
        self.total += int(d.sum())
        self.over_1 += int((d > 1).sum())
        self.nonfinite += int((~np.isfinite(got) & np.isfinite(want)).sum())
        i = int(np.argmax(d))
        if int(d[i]) > self.max or self.worst_x is None:
            self.max = int(d[i])
            self.worst_x = float(x[i])

    def merge(self, other: dict) -> None:
        """Fold in another tally's `as_dict()` (a part of a chunked check done elsewhere)."""
        self.count += other["points"]
        self.total += other["ulp_sum"]
        self.over_1 += other["points_over_1ulp"]
        self.nonfinite += other["nonfinite"]
        if other["max_ulp"] > self.max or self.worst_x is None:
            self.max, self.worst_x = other["max_ulp"], other["worst_x"]

    def as_dict(self) -> dict:
        return {"points": self.count, "ulp_sum": self.total, "max_ulp": self.max,
                "mean_ulp": self.total / max(self.count, 1), "worst_x": self.worst_x,
                "points_over_1ulp": self.over_1, "nonfinite": self.nonfinite}
