"""Check a candidate's placement before it is scored; every failure names the first bad entry."""
from __future__ import annotations

import numpy as np

from evaluators.common import CandidateError

from .workloads import Setup

NAMES = ("phy2log", "log2phy", "logcnt")


def to_numpy(value, name: str) -> np.ndarray:
    """The candidate's output as an ndarray; torch tensors are converted, lists are refused."""
    if isinstance(value, np.ndarray):
        return value
    if type(value).__module__.split(".")[0] == "torch":
        try:
            import torch  # noqa: F401  (only to prove torch is really there)
            return np.asarray(value.detach().cpu())
        except Exception as exc:
            raise CandidateError(f"`{name}` is a torch tensor that cannot be converted: {exc}") from None
    if isinstance(value, (list, tuple)):
        raise CandidateError(f"`{name}` is a Python {type(value).__name__}; return a numpy array "
                             f"(for example np.asarray({name}, dtype=np.int64))")
    raise CandidateError(f"`{name}` must be a numpy array, got {type(value).__name__}")


def unpack(result) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split the candidate's return value into (phy2log, log2phy, logcnt) arrays."""
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        kind = f"a {type(result).__name__}" + (f" of length {len(result)}" if isinstance(result, (tuple, list)) else "")
        raise CandidateError(f"rebalance_experts must return (phy2log, log2phy, logcnt); it returned {kind}")
    return tuple(to_numpy(v, n) for v, n in zip(result, NAMES))


def _first(mask: np.ndarray) -> tuple:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def check_placement(phy2log, log2phy, logcnt, setup: Setup, weight: np.ndarray) -> None:
    """Raise CandidateError with the exact reason unless the three arrays form a valid placement."""
    L, N, R = setup.num_layers, setup.num_logical, setup.num_replicas
    for name, arr in zip(NAMES, (phy2log, log2phy, logcnt)):
        if arr.dtype.kind not in "iu":
            raise CandidateError(f"`{name}` must hold integers, got dtype {arr.dtype}")
    if phy2log.shape != (L, R):
        raise CandidateError(f"`phy2log` must have shape (layers, num_replicas) = {(L, R)}, got {phy2log.shape}")
    if logcnt.shape != (L, N):
        raise CandidateError(f"`logcnt` must have shape (layers, n_logical) = {(L, N)}, got {logcnt.shape}")
    if log2phy.ndim != 3 or log2phy.shape[:2] != (L, N) or log2phy.shape[2] < 1:
        raise CandidateError(f"`log2phy` must have shape ({L}, {N}, max_replicas), got {log2phy.shape}")
    phy2log = phy2log.astype(np.int64, copy=False)
    log2phy = log2phy.astype(np.int64, copy=False)
    logcnt = logcnt.astype(np.int64, copy=False)
    bad = (phy2log < 0) | (phy2log >= N)
    if bad.any():
        l, p = _first(bad)
        raise CandidateError(f"phy2log[{l}, {p}] = {phy2log[l, p]} is not a logical expert in [0, {N})")
    if (logcnt < 0).any():
        l, e = _first(logcnt < 0)
        raise CandidateError(f"logcnt[{l}, {e}] = {logcnt[l, e]} is negative")
    sums = logcnt.sum(axis=1)
    if (sums != R).any():
        l = int(np.flatnonzero(sums != R)[0])
        raise CandidateError(f"logcnt of layer {l} sums to {sums[l]}, but there are {R} physical slots")
    actual = np.zeros((L, N), dtype=np.int64)
    np.add.at(actual, (np.arange(L)[:, None], phy2log), 1)
    if (actual != logcnt).any():
        l, e = _first(actual != logcnt)
        raise CandidateError(f"logcnt[{l}, {e}] = {logcnt[l, e]} but phy2log places expert {e} "
                             f"{actual[l, e]} time(s) in layer {l}")
    orphan = (logcnt == 0) & (weight > 0)
    if orphan.any():
        l, e = _first(orphan)
        raise CandidateError(f"expert {e} of layer {l} has load {weight[l, e]:g} but no replica")
    _check_log2phy(phy2log, log2phy, logcnt)


def _check_log2phy(phy2log, log2phy, logcnt) -> None:
    """log2phy[l, e, :logcnt] lists exactly e's physical slots (any order); the rest is -1."""
    L, N, M = log2phy.shape
    R = phy2log.shape[1]
    if M < logcnt.max():
        raise CandidateError(f"log2phy has room for {M} replicas per expert but logcnt reaches {logcnt.max()}")
    used = np.arange(M)[None, None, :] < logcnt[:, :, None]
    padding = ~used & (log2phy != -1)
    if padding.any():
        l, e, k = _first(padding)
        raise CandidateError(f"log2phy[{l}, {e}, {k}] = {log2phy[l, e, k]} but expert {e} has only "
                             f"{logcnt[l, e]} replica(s); pad with -1")
    out_of_range = used & ((log2phy < 0) | (log2phy >= R))
    if out_of_range.any():
        l, e, k = _first(out_of_range)
        raise CandidateError(f"log2phy[{l}, {e}, {k}] = {log2phy[l, e, k]} is not a physical slot in [0, {R})")
    layer = np.broadcast_to(np.arange(L)[:, None, None], log2phy.shape)
    target = phy2log[layer, np.where(used, log2phy, 0)]
    expert = np.broadcast_to(np.arange(N)[None, :, None], log2phy.shape)
    wrong = used & (target != expert)
    if wrong.any():
        l, e, k = _first(wrong)
        raise CandidateError(f"log2phy[{l}, {e}, {k}] = {log2phy[l, e, k]} but phy2log[{l}, "
                             f"{log2phy[l, e, k]}] = {target[l, e, k]}, not {e}")
    seen = np.zeros((L, R), dtype=np.int64)
    np.add.at(seen, (layer[used], log2phy[used]), 1)
    if (seen != 1).any():
        l, p = _first(seen != 1)
        raise CandidateError(f"physical slot {p} of layer {l} appears {seen[l, p]} times in log2phy")
