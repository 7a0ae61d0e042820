"""Cloudcast baselines (direct, cheapest-path tree, greedy Steiner tree) and a cost lower bound."""
from __future__ import annotations

from .cloudcast_sim import cheapest_paths


def direct(src, dsts, graph, parts):
    """Every partition straight from the source to each destination."""
    return {d: [[src, d]] * parts for d in dsts}


def cheapest_path_tree(src, dsts, graph, parts):
    """Each destination on its cheapest path ($/GB): their union is a shortest-path tree."""
    paths = cheapest_paths(graph, src)
    return {d: [paths[d]] * parts for d in dsts}


def greedy_steiner(src, dsts, graph, parts):
    """Grow a tree: attach the destination cheapest to reach from it (links already in it are free)."""
    tree, chosen, left = set(), {}, sorted(dsts)
    while left:
        paths = cheapest_paths(graph, src, lambda u, v: 0.0 if (u, v) in tree else graph[u][v]["cost"])
        cost = lambda d: sum(0.0 if e in tree else graph[e[0]][e[1]]["cost"] for e in zip(paths[d], paths[d][1:]))
        best = min(left, key=lambda d: (cost(d), d))
        chosen[best] = paths[best]
        tree |= set(zip(paths[best], paths[best][1:]))
        left.remove(best)
    return {d: [chosen[d]] * parts for d in dsts}


BASELINES = {"direct": direct, "cheapest_path_tree": cheapest_path_tree, "greedy_steiner": greedy_steiner}


def egress_lower_bound(src, dsts, graph, data_gb: float) -> float:
    """No broadcast pays less egress: every byte reaches each destination over a distinct last link,
    and reaches the farthest destination along a path at least as dear as its cheapest one."""
    paths = cheapest_paths(graph, src)
    farthest = max(sum(graph[u][v]["cost"] for u, v in zip(paths[d], paths[d][1:])) for d in dsts)
    last_links = sum(min(graph[u][d]["cost"] for u in graph if d in graph[u]) for d in dsts)
    return data_gb * max(farthest, last_links)
