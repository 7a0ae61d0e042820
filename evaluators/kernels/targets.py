"""The functions the transcendental problems approximate: API name, reference, domain, edge cases.

The reference is the float64 NumPy function rounded to float32 (captured when
this module is imported, before any candidate runs, so a candidate cannot
replace it). Domains are ranges of float32 inputs, inclusive.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

# Captured at import, before any candidate code: the evaluator's own references.
_EXP, _LOG = np.exp, np.log
F32 = np.float32
TINY = float(np.finfo(np.float32).smallest_subnormal)
MIN_NORMAL = float(np.finfo(np.float32).smallest_normal)
MAX = float(np.finfo(np.float32).max)
LN2 = 0.6931471805599453


@dataclass(frozen=True)
class Target:
    name: str  # exp, log
    api: str  # the candidate's function name
    ref64: Callable[[np.ndarray], np.ndarray]  # float64 in, float64 out
    ref32: Callable[[np.ndarray], np.ndarray]  # the NumPy float32 routine that timings compare with
    lo: float
    hi: float
    edges: Callable[["Target"], np.ndarray]

    def reference(self, x: np.ndarray) -> np.ndarray:
        """The correctly rounded result (float64 function, rounded to float32)."""
        with np.errstate(all="ignore"):
            return self.ref64(x.astype(np.float64)).astype(np.float32)


def _step(x: float, toward: float, n: int = 1) -> float:
    v = F32(x)
    for _ in range(n):
        v = np.nextafter(v, F32(toward))
    return float(v)


def _neighbours(values, ulps: int = 2) -> list[float]:
    out = []
    for v in values:
        out.append(float(F32(v)))
        for n in range(1, ulps + 1):
            out += [_step(v, np.inf, n), _step(v, -np.inf, n)]
    return out


def _exp_bounds() -> tuple[float, float]:
    """[lo, hi]: every float32 x whose exp rounds to a finite normal float32."""
    with np.errstate(all="ignore"):
        return _exp_bounds_search()


def _exp_bounds_search() -> tuple[float, float]:
    lo = F32(np.log(MIN_NORMAL))
    while _EXP(np.float64(lo)) < MIN_NORMAL:
        lo = np.nextafter(lo, F32(0))
    while _EXP(np.float64(np.nextafter(lo, F32(-np.inf)))) >= MIN_NORMAL:
        lo = np.nextafter(lo, F32(-np.inf))
    hi = F32(np.log(MAX))
    while F32(_EXP(np.float64(hi))) == np.inf:
        hi = np.nextafter(hi, F32(0))
    while F32(_EXP(np.float64(np.nextafter(hi, F32(np.inf))))) != np.inf:
        hi = np.nextafter(hi, F32(np.inf))
    return float(lo), float(hi)


def _exp_edges(t: Target) -> np.ndarray:
    vals = [0.0, -0.0, TINY, -TINY, MIN_NORMAL, -MIN_NORMAL, 1e-30, -1e-30, 1e-7, -1e-7,
            1.0, -1.0, 0.5, -0.5, 2.0, 10.0, -10.0, 50.0, -50.0, t.lo, t.hi]
    vals += [_step(t.lo, 0.0, n) for n in range(1, 4)] + [_step(t.hi, 0.0, n) for n in range(1, 4)]
    ks = np.arange(-126, 128)
    multiples = [k * LN2 for k in ks] + [(k + 0.5) * LN2 for k in ks]  # reduction boundaries
    vals += _neighbours([m for m in multiples if t.lo <= m <= t.hi])
    return np.array(vals, dtype=np.float32)


def _log_edges(t: Target) -> np.ndarray:
    vals = [TINY, _step(TINY, 1.0), MIN_NORMAL, _step(MIN_NORMAL, 0.0), MAX, _step(MAX, 0.0),
            1.0, 2.0, 0.5, 10.0, 0.1, float(np.e), float(np.sqrt(2)), float(np.sqrt(0.5))]
    vals += [_step(1.0, 0.0, n) for n in range(1, 200)] + [_step(1.0, 2.0, n) for n in range(1, 200)]
    powers = [2.0 ** k for k in range(-149, 128)]
    vals += _neighbours(powers) + _neighbours([np.sqrt(2) * 2.0 ** k for k in range(-126, 127)], 1)
    x = np.array(vals, dtype=np.float32)
    return x[(x >= t.lo) & (x <= t.hi)]


_lo, _hi = _exp_bounds()
TARGETS = {
    "exp": Target("exp", "exp_f32", _EXP, _EXP, _lo, _hi, _exp_edges),
    "log": Target("log", "log_f32", _LOG, _LOG, TINY, MAX, _log_edges),
}


def get_target(name: str) -> Target:
    if name not in TARGETS:
        raise ValueError(f"unknown function '{name}'; choose one of {sorted(TARGETS)}")
    return TARGETS[name]
