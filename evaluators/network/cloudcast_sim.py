"""Cloudcast: check a broadcast's paths, then its egress + instance cost and transfer time.

Follows the published simulator's model: a link carrying k distinct partitions sends k partition
volumes once (a multicast tree: two destinations sharing a link for one partition pay once); a link's
flow is its throughput, cut to an equal share of a region's ingress/egress cap when the links used into
(out of) it exceed that cap; a destination's time is the slowest link on its partitions' paths, each link
taking k * partition volume * 8 / flow seconds; instance cost is VMs * $/h for every region used.
"""
from __future__ import annotations

import heapq

INSTANCE_USD_PER_HOUR = 0.54  # m5.8xlarge spot, the published figure


def normalize(answer, src: str, dsts: list[str], parts: int, graph) -> tuple[dict | None, str]:
    """{dst: [path per partition]} as lists of region names, or None and the reason it is invalid."""
    if not isinstance(answer, dict):
        return None, f"expected a dict destination -> paths, got {type(answer).__name__}"
    out = {}
    for dst in dsts:
        if dst not in answer:
            return None, f"no path for destination {dst}"
        paths = answer[dst]
        if isinstance(paths, (list, tuple)) and paths and all(isinstance(n, str) for n in paths):
            paths = [paths] * parts  # one path: every partition takes it
        if not isinstance(paths, (list, tuple)) or len(paths) != parts:
            return None, f"{dst}: expected {parts} paths (one per partition), got {_count(paths)}"
        for i, path in enumerate(paths):
            reason = path_error(path, src, dst, graph)
            if reason:
                return None, f"{dst} partition {i}: {reason}"
        out[dst] = [list(p) for p in paths]
    extra = [d for d in answer if d not in dsts]
    if extra:
        return None, f"{extra[0]!r} is not a destination"
    return out, ""


def _count(paths) -> str:
    """How many paths a value holds, for error messages."""
    return str(len(paths)) if isinstance(paths, (list, tuple)) else type(paths).__name__


def path_error(path, src: str, dst: str, graph) -> str:
    """Why `path` is not a simple path src -> dst over the graph's links, or ""."""
    if not isinstance(path, (list, tuple)) or len(path) < 2 or not all(isinstance(n, str) for n in path):
        return f"a path is a list of at least two region names, got {path!r}"[:200]
    if path[0] != src or path[-1] != dst:
        return f"path must go from {src} to {dst}, got {path[0]} -> {path[-1]}"
    if len(set(path)) != len(path):
        return f"path visits a region twice: {path}"
    for u, v in zip(path, path[1:]):
        if v not in graph.get(u, {}):
            return f"no link {u} -> {v}"
    return ""


def link_partitions(paths: dict) -> dict[tuple[str, str], set[int]]:
    """Each used link -> the partitions that cross it."""
    used: dict[tuple[str, str], set[int]] = {}
    for plist in paths.values():
        for i, path in enumerate(plist):
            for edge in zip(path, path[1:]):
                used.setdefault(edge, set()).add(i)
    return used


def flows(used, graph, caps) -> dict[tuple[str, str], float]:
    """Each used link's Gbps: its throughput, shared equally under a region's ingress/egress cap."""
    flow = {e: graph[e[0]][e[1]]["throughput"] for e in sorted(used)}
    nodes = sorted({n for e in used for n in e})
    for node in nodes:
        ins = [e for e in flow if e[1] == node]
        outs = [e for e in flow if e[0] == node]
        ingress, egress = caps[node.split(":")[0]]
        in_sum, out_sum = sum(flow[e] for e in ins), sum(flow[e] for e in outs)
        if in_sum > ingress:
            for e in ins:
                flow[e] = min(flow[e], ingress / len(ins))
        if out_sum > egress:
            for e in outs:
                flow[e] = min(flow[e], egress / len(outs))
    return flow


def simulate(paths: dict, graph, caps, data_gb: float, parts: int, num_vms: int) -> dict:
    """Cost ($) and time (s) of a checked broadcast."""
    used = link_partitions(paths)
    flow = flows(used, graph, caps)
    part_gb = data_gb / parts
    link_s = {e: len(ps) * part_gb * 8 / flow[e] for e, ps in used.items()}
    times = {d: max(link_s[e] for p in plist for e in zip(p, p[1:])) for d, plist in paths.items()}
    max_t = max(times.values())
    egress = sum(len(ps) * part_gb * graph[u][v]["cost"] for (u, v), ps in used.items())
    regions = {n for e in used for n in e}
    instance = len(regions) * num_vms * INSTANCE_USD_PER_HOUR / 3600 * round(max_t, 2)
    return {"cost": egress + instance, "egress_cost": egress, "instance_cost": instance,
            "transfer_time_s": max_t, "dst_time_s": times}


def cheapest_paths(graph, src: str, weight=None) -> dict[str, list[str]]:
    """Dijkstra from src by `weight(u, v)` (default: $/GB): node -> path, ties broken by name."""
    weight = weight or (lambda u, v: graph[u][v]["cost"])
    dist, prev, heap = {src: 0.0}, {}, [(0.0, src)]
    while heap:
        d, u = heapq.heappop(heap)
        if d > dist[u]:
            continue
        for v in sorted(graph[u]):
            nd = d + weight(u, v)
            if nd < dist.get(v, float("inf")) - 1e-12:
                dist[v], prev[v] = nd, u
                heapq.heappush(heap, (nd, v))
    paths = {}
    for node in dist:
        path = [node]
        while path[-1] != src:
            path.append(prev[path[-1]])
        paths[node] = path[::-1]
    return paths
