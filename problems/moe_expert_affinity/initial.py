"""moe_expert_affinity: place each MoE layer's experts on GPUs to cut all-to-all traffic between layers.

API: `place(trace) -> placement`, an int array (layers, experts) of GPU ids, every GPU holding exactly
trace.capacity experts per layer. `trace` has (read-only numpy):
  cooc[l][i, j]  tokens routed to expert i in layer l and expert j in layer l + 1 (all top-k pairs)
  loads[l][e]    tokens routed to expert e in layer l
  num_gpus, top_k, capacity, num_layers, num_experts, balance_bound (max busiest/mean GPU load per layer)
Traffic: a pair (i, j) crosses GPUs when placement[l][i] != placement[l + 1][j]. Minimize the crossing share.
Starting program: greedy, heaviest expert first, each to the GPU with the best affinity-minus-load score.
"""
import numpy as np


# EVOLVE-BLOCK-START
AFFINITY_WEIGHT = 1.0  # pairs kept on one GPU
LOAD_WEIGHT = 50.0     # penalty per unit of GPU load / mean GPU load


def place_layer(loads, pull, gpus, cap):
    mean = loads.sum() / gpus
    out = np.empty(len(loads), dtype=np.int64)
    gpu_load, room = np.zeros(gpus), np.full(gpus, cap)
    scale = pull.max() + 1e-9
    for e in np.argsort(-loads, kind="stable"):
        score = AFFINITY_WEIGHT * pull[e] / scale - LOAD_WEIGHT * (gpu_load + loads[e]) / mean / gpus
        g = int(np.argmax(np.where(room > 0, score, -np.inf)))
        out[e], gpu_load[g], room[g] = g, gpu_load[g] + loads[e], room[g] - 1
    return out


def place(trace):
    G, E = trace.num_gpus, trace.num_experts
    layers = [place_layer(trace.loads[0], np.zeros((E, G)), G, trace.capacity)]
    for l in range(1, trace.num_layers):
        pull = trace.cooc[l - 1].T @ np.eye(G)[layers[-1]]
        layers.append(place_layer(trace.loads[l], pull, G, trace.capacity))
    return np.stack(layers)
# EVOLVE-BLOCK-END
