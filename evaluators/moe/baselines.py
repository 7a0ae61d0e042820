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


def greedy_affinity(trace, slack=1.0):
    """Layer 0 balanced; each next expert (heaviest first) goes to the GPU holding most of its
    previous-layer partners, among GPUs with room whose load stays within the balance bound."""
    G, cap = trace.num_gpus, trace.capacity
    p = [_balanced_layer(trace.loads[0], G, cap)]
    for l in range(1, trace.num_layers):
        loads, limit = trace.loads[l], slack * trace.balance_bound * trace.loads[l].sum() / G
        onehot = np.eye(G)[p[-1]]                  # (E, G)
        pull = trace.cooc[l - 1].T @ onehot        # (E, G): pairs if expert j sits on GPU g
        out, gpu_load, room = np.empty(len(loads), dtype=np.int64), np.zeros(G), np.full(G, cap)
        for e in np.argsort(-loads, kind="stable"):
            ok = (room > 0) & (gpu_load + loads[e] <= limit)
            if not ok.any():
                ok = room > 0
            g = int(np.argmax(np.where(ok, pull[e], -np.inf)))
            out[e], gpu_load[g], room[g] = g, gpu_load[g] + loads[e], room[g] - 1
        p.append(out)
    return np.stack(p)


BASELINES = {"round_robin": round_robin, "load_balanced": load_balanced, "greedy_affinity": greedy_affinity}
