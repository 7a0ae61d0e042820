"""Serve a window of tokens on a placement: per-GPU and per-node load, balancedness, the ADRS score.

Tokens routed to an expert split evenly across its replicas; physical slot p sits
on GPU p // slots_per_gpu and GPU g on node g // gpus_per_node. The busiest GPU
sets the pace, so a layer's balancedness is mean GPU load / max GPU load.
"""
from __future__ import annotations

import numpy as np

from .workloads import Setup


def gpu_loads(load: np.ndarray, phy2log: np.ndarray, logcnt: np.ndarray, setup: Setup) -> np.ndarray:
    """Tokens each GPU serves, [layers, gpus]; experts without a replica serve nothing."""
    share = np.divide(load, logcnt, out=np.zeros_like(load, dtype=np.float64), where=logcnt > 0)
    per_slot = np.take_along_axis(share, phy2log, axis=1)
    return per_slot.reshape(setup.num_layers, setup.num_gpus, setup.slots_per_gpu).sum(axis=2)


def balancedness(loads: np.ndarray) -> np.ndarray:
    """Per-layer mean / max over the last axis; a layer with no load is perfectly balanced."""
    top = loads.max(axis=-1)
    return np.divide(loads.mean(axis=-1), top, out=np.ones_like(top), where=top > 0)


def score_window(load: np.ndarray, phy2log: np.ndarray, logcnt: np.ndarray, setup: Setup) -> dict:
    """GPU and node balancedness (mean over layers) and the share of tokens with no replica."""
    per_gpu = gpu_loads(load, phy2log, logcnt, setup)
    per_node = per_gpu.reshape(setup.num_layers, setup.num_nodes, -1).sum(axis=2)
    total = float(load.sum())
    unserved = float(load[logcnt == 0].sum()) / total if total > 0 else 0.0
    gpu_bal = balancedness(per_gpu)
    return {"balancedness": float(gpu_bal.mean()), "worst_layer": float(gpu_bal.min()),
            "node_balancedness": float(balancedness(per_node).mean()), "unserved": unserved}


def adrs_score(balance: float, runtime_s: float) -> float:
    """The ADRS leaderboard scalar: 90 b + 5 min(0.002/t, 2) - (t > 0.01 ? min(20 t, 20) : 0)."""
    t = max(float(runtime_s), 1e-12)
    penalty = min(20.0 * t, 20.0) if t > 0.01 else 0.0
    return 90.0 * balance + 5.0 * min(0.002 / t, 2.0) - penalty
