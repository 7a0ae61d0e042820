"""Reference placements: each takes a Trace and returns placement[layers, experts]."""
from __future__ import annotations

import numpy as np


def round_robin(trace):
    """Expert e on GPU e % G in every layer."""
    return np.tile(np.arange(trace.num_experts) % trace.num_gpus, (trace.num_layers, 1))


def _balanced_layer(loads, gpus, cap):
    """Heaviest expert first onto the least-loaded GPU with room (LPT)."""
    out, gpu_load, room = np.empty(len(loads), dtype=np.int64), np.zeros(gpus), np.full(gpus, cap)
    for e in np.argsort(-loads, kind="stable"):
        g = int(np.argmin(np.where(room > 0, gpu_load, np.inf)))
        out[e], gpu_load[g], room[g] = g, gpu_load[g] + loads[e], room[g] - 1
    return out


def load_balanced(trace):
    """Balance each layer's GPU loads, ignoring affinity: the affinity-blind reference."""
    return np.stack([_balanced_layer(trace.loads[l], trace.num_gpus, trace.capacity)
                     for l in range(trace.num_layers)])


def _affinity_layer(loads, pull, gpus, cap, limit):
    """Heaviest expert first onto the GPU with the most pull among those with room whose load stays within
    `limit`; when none does, onto the GPU with most pull among those with room (which may pass `limit`)."""
    out, gpu_load, room = np.empty(len(loads), dtype=np.int64), np.zeros(gpus), np.full(gpus, cap)
    for e in np.argsort(-loads, kind="stable"):
        ok = (room > 0) & (gpu_load + loads[e] <= limit)
        if not ok.any():
            ok = room > 0
        g = int(np.argmax(np.where(ok, pull[e], -np.inf)))
        out[e], gpu_load[g], room[g] = g, gpu_load[g] + loads[e], room[g] - 1
    return out, gpu_load


SLACKS = (1.0, 0.95, 0.9, 0.85, 0.8, 0.7, 0.6)  # bounded greedy: tighter per-GPU limits tried in turn


def greedy_affinity(trace, bounded=True):
    """Layer 0 balanced (LPT); each next layer's experts (heaviest first) go to the GPU holding most of
    their previous-layer partners, among GPUs with room whose load stays within the balance bound.

    Greedy can paint itself into a corner (no GPU with room fits the next expert); `bounded` then retries
    the layer with the limit cut to each of SLACKS times the bound, and falls back to the balanced LPT
    layer, so every layer's busiest GPU stays within the bound (as long as LPT's does).
    `bounded=False` keeps the first try whatever it costs the bound (`greedy_affinity_unbounded`)."""
    G, cap = trace.num_gpus, trace.capacity
    p = [_balanced_layer(trace.loads[0], G, cap)]
    for l in range(1, trace.num_layers):
        loads = trace.loads[l]
        mean = loads.sum() / G
        bound = trace.balance_bound * mean
        pull = trace.cooc[l - 1].T @ np.eye(G)[p[-1]]  # (E, G): pairs if expert j sits on GPU g
        layer = None
        for slack in (SLACKS if bounded else SLACKS[:1]):
            out, gpu_load = _affinity_layer(loads, pull, G, cap, slack * bound)
            if not bounded or gpu_load.max() / mean <= trace.balance_bound:  # placement.imbalance's test
                layer = out
                break
        p.append(layer if layer is not None else _balanced_layer(loads, G, cap))
    return np.stack(p)


def greedy_affinity_unbounded(trace):
    """greedy_affinity without the retries: breaks the balance bound where greedy gets stuck."""
    return greedy_affinity(trace, bounded=False)


BASELINES = {"round_robin": round_robin, "load_balanced": load_balanced, "greedy_affinity": greedy_affinity,
             "greedy_affinity_unbounded": greedy_affinity_unbounded}
