"""Cloudcast: broadcast data from one cloud region to several, as cheaply as possible.

API: `search_algorithm(src, dsts, graph, num_partitions) -> {dst: [path per partition]}`; a path is a
list of region names from src to dst over links of `graph` (or give one path: all partitions take it).
`graph[u][v]` = {"cost": $/GB egress, "throughput": Gbps}. A link carrying k distinct partitions is paid
k partition volumes once, whichever destinations they go on to (a multicast tree). Regions used add
VM cost for the transfer time.

Starting program: destinations one by one (cheapest direct link first), each on its cheapest path by
`link_weight`, a blend of $/GB, a slowness penalty and a hop penalty. `REUSE_DISCOUNT` = 1.0 gives a link
already in the tree no bonus, so the start rarely shares links (~$615 over the five broadcasts, where the
greedy Steiner tree pays ~$427): lowering it, or the penalties, moves it toward a multicast tree.
"""
import heapq


def search_algorithm(src, dsts, graph, num_partitions):
    """Route destinations one by one over `link_weight`, reusing links already chosen."""
    chosen, out = set(), {}
    for dst in sorted(dsts, key=lambda d: graph[src][d]["cost"]):
        path = cheapest(graph, src, dst, lambda u, v: link_weight(graph[u][v], (u, v) in chosen))
        chosen |= set(zip(path, path[1:]))
        out[dst] = [path] * num_partitions
    return out


def cheapest(graph, src, dst, weight):
    """Dijkstra from src to dst by weight(u, v) (negative weights count as 0, so the search always ends)."""
    dist, prev, heap = {src: 0.0}, {}, [(0.0, src)]
    while heap:
        d, u = heapq.heappop(heap)
        if u == dst:
            break
        if d > dist[u]:
            continue
        for v in sorted(graph[u]):
            nd = d + max(weight(u, v), 0.0)  # a negative weight is cut to 0: Dijkstra needs weights >= 0
            if nd < dist.get(v, float("inf")):
                dist[v], prev[v] = nd, u
                heapq.heappush(heap, (nd, v))
    path = [dst]
    while path[-1] != src:
        path.append(prev[path[-1]])
    return path[::-1]


# EVOLVE-BLOCK-START
COST_WEIGHT = 1.0      # $/GB of a link
SLOW_WEIGHT = 0.5      # penalty per 1/Gbps: prefers fast links
HOP_WEIGHT = 0.05      # penalty per hop
REUSE_DISCOUNT = 1.0   # factor on a link already in the tree (below 1 favours sharing)


def link_weight(link, in_tree):
    """The weight of a link for the path search."""
    w = COST_WEIGHT * link["cost"] + SLOW_WEIGHT / link["throughput"] + HOP_WEIGHT
    return w * REUSE_DISCOUNT if in_tree else w
# EVOLVE-BLOCK-END
