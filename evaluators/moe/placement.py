"""Checking and scoring a placement: placement[l, e] = the GPU holding expert e of layer l."""
from __future__ import annotations

import numpy as np


class PlacementError(ValueError):
    """The placement is not a valid answer; the message says why."""


def check(trace, placement) -> np.ndarray:
    """The placement as an int array of shape (layers, experts), each GPU holding exactly `capacity`."""
    try:
        p = np.asarray(placement)
    except Exception as exc:  # noqa: BLE001 - any odd object
        raise PlacementError(f"placement is not array-like: {exc}") from None
    want = (trace.num_layers, trace.num_experts)
    if p.shape != want:
        raise PlacementError(f"placement must have shape {want} (layers, experts), got {p.shape}")
    if not np.issubdtype(p.dtype, np.integer):
        if not np.issubdtype(p.dtype, np.number) or not np.all(np.equal(np.mod(p, 1), 0)):
            raise PlacementError(f"placement must hold integer GPU ids, got dtype {p.dtype}")
        p = p.astype(np.int64)
    if p.min() < 0 or p.max() >= trace.num_gpus:
        raise PlacementError(f"GPU ids must be in 0..{trace.num_gpus - 1}, got {p.min()}..{p.max()}")
    counts = np.stack([np.bincount(row, minlength=trace.num_gpus) for row in p])
    bad = np.argwhere(counts != trace.capacity)
    if len(bad):
        l, g = bad[0]
        raise PlacementError(f"layer {l}: GPU {g} holds {counts[l, g]} experts; every GPU holds exactly "
                             f"{trace.capacity} (= experts / gpus) per layer ({len(bad)} GPU-layers off)")
    return p.astype(np.int64)


def crossing(trace, p: np.ndarray) -> float:
    """Token-expert pairs (i in layer l, j in l + 1) of the same token with i and j on different GPUs."""
    total = 0.0
    for l in range(trace.num_layers - 1):
        apart = p[l][:, None] != p[l + 1][None, :]
        total += float(trace.cooc[l][apart].sum())
    return total


def imbalance(trace, p: np.ndarray) -> np.ndarray:
    """Per layer: busiest GPU's tokens / mean GPU tokens."""
    out = np.empty(trace.num_layers)
    for l in range(trace.num_layers):
        gpu = np.bincount(p[l], weights=trace.loads[l], minlength=trace.num_gpus)
        out[l] = gpu.max() / max(gpu.mean(), 1e-12)
    return out


def score(trace, placement) -> dict:
    """Metrics of a placement (PlacementError if invalid)."""
    p = check(trace, placement)
    pairs = float(trace.cooc.sum())
    cross = crossing(trace, p)
    per_layer = imbalance(trace, p)
    return {"cross_fraction": cross / max(pairs, 1e-12), "cross_pairs": cross,
            "imbalance": float(per_layer.max()), "mean_imbalance": float(per_layer.mean()),
            "worst_layer": int(per_layer.argmax())}
