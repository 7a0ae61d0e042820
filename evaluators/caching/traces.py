"""Seeded request traces for cache simulation (object ids as int64 arrays).

TRACE_VERSION changes whenever a generator's output changes.
"""
from __future__ import annotations

import numpy as np

TRACE_VERSION = 1
TRACE_NAMES = ("zipf", "scan", "phases")


def _zipf_probs(n_objects: int, alpha: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, n_objects + 1) ** alpha
    return weights / weights.sum()


def zipf(rng: np.random.Generator, n: int, n_objects: int, alpha: float = 0.8) -> np.ndarray:
    """A stable working set: object popularity follows Zipf(alpha), ids shuffled."""
    ids = rng.permutation(n_objects)
    return ids[rng.choice(n_objects, size=n, p=_zipf_probs(n_objects, alpha))]


def scan(rng: np.random.Generator, n: int, n_objects: int, scan_len: int = 400, every: int = 1500) -> np.ndarray:
    """A Zipf working set polluted by long sequential scans of objects used once."""
    base = zipf(rng, n, n_objects)
    out = []
    fresh = n_objects  # scan objects never collide with the working set
    for start in range(0, n, every):
        out.append(base[start:start + every])
        out.append(np.arange(fresh, fresh + scan_len))
        fresh += scan_len
    return np.concatenate(out)[:n]


def phases(rng: np.random.Generator, n: int, n_objects: int, n_phases: int = 4) -> np.ndarray:
    """The popular set moves: each phase draws Zipf requests over a fresh permutation."""
    lengths = np.full(n_phases, n // n_phases)
    lengths[: n % n_phases] += 1
    parts = [zipf(rng, int(m), n_objects, alpha=0.9) for m in lengths]
    return np.concatenate(parts)


GENERATORS = {"zipf": zipf, "scan": scan, "phases": phases}


def make_trace(name: str, seed: int, n_requests: int, n_objects: int) -> np.ndarray:
    """The named trace for this seed; the same arguments always give the same trace."""
    if name not in GENERATORS:
        raise ValueError(f"unknown trace '{name}'; choose from {', '.join(TRACE_NAMES)}")
    salt = TRACE_NAMES.index(name)
    rng = np.random.default_rng([int(seed), salt, TRACE_VERSION])
    return GENERATORS[name](rng, int(n_requests), int(n_objects)).astype(np.int64)
