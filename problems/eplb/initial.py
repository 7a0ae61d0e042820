"""Expert-parallel load balancer for MoE serving: place each layer's expert replicas on GPUs.

rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus)
    weight: [layers, n_logical] token load of each logical expert (numpy array)
    returns (phy2log [layers, num_replicas],        logical expert held by each physical slot
             log2phy [layers, n_logical, max_rep],  physical slots of each expert, padded with -1
             logcnt  [layers, n_logical])           replica count of each expert
Physical slot p sits on GPU p // (num_replicas // num_gpus); GPU g on node
g // (num_gpus // num_nodes). An expert's tokens split evenly over its replicas.
"""
import numpy as np


# EVOLVE-BLOCK-START
def pack_balanced(loads, num_packs):
    """Largest first: each item goes to the lightest pack with room; equal item count per pack."""
    capacity = len(loads) // num_packs
    pack_load = [0.0] * num_packs
    pack_items = [[] for _ in range(num_packs)]
    for item in sorted(range(len(loads)), key=lambda i: -loads[i]):
        open_packs = [p for p in range(num_packs) if len(pack_items[p]) < capacity]
        best = min(open_packs, key=lambda p: pack_load[p])
        pack_items[best].append(item)
        pack_load[best] += loads[item]
    return pack_items


def replicate_experts(loads, num_slots):
    """One replica each, then each extra replica to the expert with the most load per replica."""
    counts = [1] * len(loads)
    replicas = list(range(len(loads)))
    for _ in range(num_slots - len(loads)):
        best = max(range(len(loads)), key=lambda e: loads[e] / counts[e])
        replicas.append(best)
        counts[best] += 1
    return replicas, counts


def place_layer(loads, num_replicas, num_groups, num_nodes, num_gpus):
    """Physical slot -> logical expert for one layer, packing hierarchically (nodes, then GPUs)."""
    n = len(loads)
    if num_groups % num_nodes:
        num_groups, num_nodes = 1, 1
    group_size = n // num_groups
    group_loads = [sum(loads[g * group_size:(g + 1) * group_size]) for g in range(num_groups)]
    slots_per_node = num_replicas // num_nodes
    gpus_per_node = num_gpus // num_nodes
    slots = []
    for node_groups in pack_balanced(group_loads, num_nodes):
        experts = [g * group_size + k for g in node_groups for k in range(group_size)]
        node_loads = [loads[e] for e in experts]
        replicas, counts = replicate_experts(node_loads, slots_per_node)
        replica_loads = [node_loads[r] / counts[r] for r in replicas]
        for gpu_items in pack_balanced(replica_loads, gpus_per_node):
            slots.extend(experts[replicas[i]] for i in gpu_items)
    return slots


def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
    weight = np.asarray(weight, dtype=np.float64)
    layers, n = weight.shape
    phy2log = np.array([place_layer(weight[layer].tolist(), num_replicas, num_groups, num_nodes, num_gpus)
                        for layer in range(layers)], dtype=np.int64)
    logcnt = np.zeros((layers, n), dtype=np.int64)
    log2phy_lists = [[[] for _ in range(n)] for _ in range(layers)]
    for layer in range(layers):
        for slot, expert in enumerate(phy2log[layer]):
            log2phy_lists[layer][expert].append(slot)
            logcnt[layer, expert] += 1
    log2phy = np.full((layers, n, int(logcnt.max())), -1, dtype=np.int64)
    for layer in range(layers):
        for expert, where in enumerate(log2phy_lists[layer]):
            log2phy[layer, expert, :len(where)] = where
    return phy2log, log2phy, logcnt
# EVOLVE-BLOCK-END
