"""Reference placements, written from their published descriptions and vectorized over layers.

- no_rebalancing: expert e lives on GPU e * num_gpus // n_logical; spare slots hold
  extra copies of a GPU's own experts, so no load moves.
- hierarchical: pack expert groups onto nodes (balanced, largest first); inside each
  node give extra replicas one at a time to the expert with the most load per
  replica; pack the replicas onto the node's GPUs the same balanced way.
- global_greedy: the same with one node and one group (replicate over all experts,
  pack over all GPUs).

Ties, and the arithmetic, are DeepSeek's reference eplb.py's (`ties="reference"`, the default):
loads in float32 (its `weight.float()`), items packed in the order torch's CPU
`sort(descending=True)` gives (torch_order.py: stable for at most 16 items, introsort order
beyond), a packing with one item per pack puts item i in pack i, and a replica goes to the
first expert with the most load per replica. `ties="stable"` (hierarchical_stable,
global_greedy_stable) is float64 with ties to the lowest index: what problems/eplb/initial.py
computes. Both give the same replica counts; placements differ only where loads tie.

Every function has the candidate API:
`(weight[L, N], num_replicas, num_groups, num_nodes, num_gpus) -> (phy2log, log2phy, logcnt)`.
Physical slot p sits on GPU p // (num_replicas // num_gpus).
"""
from __future__ import annotations

import numpy as np

from .torch_order import descending_order

TIES = ("reference", "stable")


def _as_weight(weight, ties: str) -> np.ndarray:
    """The loads in the arithmetic of the tie rule: float32 as the reference computes, or float64."""
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
    return np.asarray(weight, dtype=np.float32 if ties == "reference" else np.float64)


def balanced_packing(weight: np.ndarray, num_packs: int, ties: str = "reference") -> tuple[np.ndarray, np.ndarray]:
    """Largest-first packing of each row's items into equal-count packs.

    weight [B, n] with n divisible by num_packs. Returns (pack[B, n], rank[B, n]):
    the pack of each item and its position inside the pack. Each item goes to
    the lightest pack that still has room (ties: the lowest pack index), pack loads
    summed in weight's dtype. Items are taken in torch's CPU sort order
    (`ties="reference"`, where one item per pack also means item i -> pack i, as the
    reference does) or in stable order (`"stable"`: equal items by index).
    """
    rows, n = weight.shape
    capacity = n // num_packs
    if ties == "reference" and capacity == 1:
        return np.tile(np.arange(n, dtype=np.int64), (rows, 1)), np.zeros((rows, n), dtype=np.int64)
    order = descending_order(weight) if ties == "reference" else np.argsort(-weight, axis=1, kind="stable")
    pack = np.empty((rows, n), dtype=np.int64)
    rank = np.empty((rows, n), dtype=np.int64)
    pack_load = np.zeros((rows, num_packs), dtype=weight.dtype)
    pack_count = np.zeros((rows, num_packs), dtype=np.int64)
    r = np.arange(rows)
    for j in range(n):
        item = order[:, j]
        choice = np.where(pack_count < capacity, pack_load, np.inf).argmin(axis=1)
        pack[r, item] = choice
        rank[r, item] = pack_count[r, choice]
        pack_load[r, choice] += weight[r, item]
        pack_count[r, choice] += 1
    return pack, rank


def replicate(weight: np.ndarray, num_phy: int) -> tuple[np.ndarray, np.ndarray]:
    """Give each row's experts num_phy replicas: one each, then one at a time to the max load/count.

    Returns (phy2log[B, num_phy], count[B, n]); ties go to the lowest expert index, and
    load / count is computed in weight's dtype (float32 in the reference, like torch).
    """
    rows, n = weight.shape
    phy2log = np.empty((rows, num_phy), dtype=np.int64)
    phy2log[:, :n] = np.arange(n)
    count = np.ones((rows, n), dtype=np.int64)
    r = np.arange(rows)
    for slot in range(n, num_phy):
        best = (weight / count.astype(weight.dtype)).argmax(axis=1)
        phy2log[:, slot] = best
        count[r, best] += 1
    return phy2log, count


def log2phy_from_phy2log(phy2log: np.ndarray, num_logical: int) -> tuple[np.ndarray, np.ndarray]:
    """(log2phy[L, N, max_count] padded with -1, logcnt[L, N]); replicas listed by slot index."""
    layers, num_phy = phy2log.shape
    logcnt = np.zeros((layers, num_logical), dtype=np.int64)
    np.add.at(logcnt, (np.arange(layers)[:, None], phy2log), 1)
    order = np.argsort(phy2log, axis=1, kind="stable")  # slots grouped by expert, ascending
    experts = np.take_along_axis(phy2log, order, axis=1)
    start = np.cumsum(logcnt, axis=1) - logcnt
    within = np.arange(num_phy)[None, :] - np.take_along_axis(start, experts, axis=1)
    log2phy = np.full((layers, num_logical, max(1, int(logcnt.max()))), -1, dtype=np.int64)
    log2phy[np.arange(layers)[:, None], experts, within] = order
    return log2phy, logcnt


def _pack_replicas(weight: np.ndarray, phy2log: np.ndarray, count: np.ndarray, num_gpus: int,
                   ties: str) -> np.ndarray:
    """Reorder each row's replicas so slot s sits on GPU s // slots_per_gpu, balanced by load."""
    rows, num_phy = phy2log.shape
    replica_load = np.take_along_axis(weight / count.astype(weight.dtype), phy2log, axis=1)
    gpu, rank = balanced_packing(replica_load, num_gpus, ties)
    slot = gpu * (num_phy // num_gpus) + rank
    placed = np.empty_like(phy2log)
    placed[np.arange(rows)[:, None], slot] = phy2log
    return placed


def hierarchical(weight, num_replicas: int, num_groups: int, num_nodes: int, num_gpus: int, *,
                 ties: str = "reference"):
    """Groups to nodes, replicate inside each node, replicas to the node's GPUs."""
    weight = _as_weight(weight, ties)
    layers, n = weight.shape
    if num_groups % num_nodes:  # groups cannot be spread evenly: fall back to global
        return global_greedy(weight, num_replicas, num_groups, num_nodes, num_gpus, ties=ties)
    group_size = n // num_groups
    per_node = n // num_nodes
    group_load = weight.reshape(layers, num_groups, group_size).sum(axis=2)
    node, rank = balanced_packing(group_load, num_nodes, ties)
    # node-local ("mid") index of every logical expert, then its inverse
    offset = np.arange(n) % group_size
    group_of = np.arange(n) // group_size
    log2mlog = node[:, group_of] * per_node + rank[:, group_of] * group_size + offset
    mlog2log = np.empty_like(log2mlog)
    mlog2log[np.arange(layers)[:, None], log2mlog] = np.arange(n)
    node_weight = np.take_along_axis(weight, mlog2log, axis=1).reshape(layers * num_nodes, per_node)
    phy2mlog, count = replicate(node_weight, num_replicas // num_nodes)
    phy2mlog = _pack_replicas(node_weight, phy2mlog, count, num_gpus // num_nodes, ties)
    mlog_global = phy2mlog.reshape(layers, num_nodes, -1) + (np.arange(num_nodes) * per_node)[None, :, None]
    phy2log = np.take_along_axis(mlog2log, mlog_global.reshape(layers, -1), axis=1)
    log2phy, logcnt = log2phy_from_phy2log(phy2log, n)
    return phy2log, log2phy, logcnt


def global_greedy(weight, num_replicas: int, num_groups: int, num_nodes: int, num_gpus: int, *,
                  ties: str = "reference"):
    """Replicate over all experts, pack over all GPUs (no groups, no nodes): the reference's global policy."""
    weight = _as_weight(weight, ties)
    phy2log, count = replicate(weight, num_replicas)
    phy2log = _pack_replicas(weight, phy2log, count, num_gpus, ties)
    log2phy, logcnt = log2phy_from_phy2log(phy2log, weight.shape[1])
    return phy2log, log2phy, logcnt


def no_rebalancing(weight, num_replicas: int, num_groups: int, num_nodes: int, num_gpus: int):
    """Static placement: expert e on GPU e * num_gpus // n; spare slots copy the GPU's own experts."""
    layers, n = np.shape(weight)
    per_gpu = num_replicas // num_gpus
    home = np.arange(n) * num_gpus // n
    row = []
    for gpu in range(num_gpus):
        own = np.flatnonzero(home == gpu)
        if len(own) > per_gpu or len(own) == 0:
            raise ValueError(f"GPU {gpu} would hold {len(own)} experts in {per_gpu} slots")
        row.extend(own[np.arange(per_gpu) % len(own)])
    phy2log = np.tile(np.asarray(row, dtype=np.int64), (layers, 1))
    log2phy, logcnt = log2phy_from_phy2log(phy2log, n)
    return phy2log, log2phy, logcnt


def hierarchical_stable(weight, num_replicas: int, num_groups: int, num_nodes: int, num_gpus: int):
    """hierarchical in float64 with ties to the lowest index (problems/eplb/initial.py's arrays)."""
    return hierarchical(weight, num_replicas, num_groups, num_nodes, num_gpus, ties="stable")


def global_greedy_stable(weight, num_replicas: int, num_groups: int, num_nodes: int, num_gpus: int):
    """global_greedy in float64 with ties to the lowest index."""
    return global_greedy(weight, num_replicas, num_groups, num_nodes, num_gpus, ties="stable")


BASELINES = {"no_rebalancing": no_rebalancing, "hierarchical": hierarchical, "global_greedy": global_greedy,
             "hierarchical_stable": hierarchical_stable, "global_greedy_stable": global_greedy_stable}
