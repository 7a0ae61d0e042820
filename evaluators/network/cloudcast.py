"""Evaluator for `problems/cloudcast`: cost and time of the candidate's broadcast paths.

The candidate defines `search_algorithm(src, dsts, graph, num_partitions) -> {dst: [path per partition]}`
(see the problem README). Workload mapping: `configs` (names in regions.CONFIGS, or "all"),
`data_gb` (volume broadcast), `partitions`, `num_vms` (per region), `graph_seed`.
"""
from __future__ import annotations

from ..common import (
    CandidateError, call_candidate, failure, load_candidate, perf_counter, probe_decisions, require_callable,
)
from .cloudcast_baselines import BASELINES, egress_lower_bound
from .cloudcast_sim import normalize, simulate
from .regions import CONFIGS, copy_graph, limits, make_graph


def setting(workload: dict) -> dict:
    """The workload mapping with defaults filled in."""
    names = workload.get("configs", "all")
    names = sorted(CONFIGS) if names == "all" else list(names)
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        raise ValueError(f"unknown cloudcast config {unknown[0]!r}; known: {sorted(CONFIGS)}")
    return {"configs": names, "data_gb": float(workload.get("data_gb", 300.0)),
            "parts": int(workload.get("partitions", 10)), "num_vms": int(workload.get("num_vms", 2)),
            "graph": make_graph(int(workload.get("graph_seed", 0)), int(workload.get("num_vms", 2)))}


def paths_of(search, s: dict) -> tuple[dict | None, str]:
    """Every config's checked paths (the candidate's decisions), or None and the reason."""
    answers = {}
    for name in s["configs"]:
        src, dsts = CONFIGS[name]
        answer = call_candidate(search, src, list(dsts), copy_graph(s["graph"]), s["parts"])
        paths, reason = normalize(answer, src, dsts, s["parts"], s["graph"])
        if paths is None:
            return None, f"config {name}: {reason}"
        answers[name] = paths
    return answers, ""


def run_policy(search, s: dict) -> tuple[dict | None, dict, str]:
    """Every config's checked paths and simulated result, or None and the reason."""
    answers, reason = paths_of(search, s)
    if answers is None:
        return None, {}, reason
    caps = limits(s["num_vms"])
    results = {name: simulate(paths, s["graph"], caps, s["data_gb"], s["parts"], s["num_vms"])
               for name, paths in answers.items()}
    return answers, results, ""


def metrics_of(s: dict, results: dict) -> dict:
    """Totals over the configs, and the cost's ratio to the egress lower bound."""
    bound = sum(egress_lower_bound(*CONFIGS[n], s["graph"], s["data_gb"]) for n in s["configs"])
    cost = sum(r["cost"] for r in results.values())
    return {"valid": True, "total_cost": cost, "transfer_time_s": sum(r["transfer_time_s"] for r in results.values()),
            "egress_cost": sum(r["egress_cost"] for r in results.values()), "gap_to_bound": cost / bound - 1.0}


def evaluate(program_path: str, workload: dict) -> dict:
    """Run the candidate on each config; invalid paths fail with the reason."""
    s = setting(workload)
    start = perf_counter()
    try:
        search = require_callable(load_candidate(program_path), "search_algorithm")
        answers, results, reason = run_policy(search, s)
    except CandidateError as exc:
        return failure(str(exc))
    if answers is None:
        return failure(reason)
    per = {n: {k: round(v, 4) for k, v in r.items() if k != "dst_time_s"} for n, r in results.items()}
    return {"metrics": metrics_of(s, results),
            "artifacts": {"per_config": per, "candidate_seconds": round(perf_counter() - start, 4)}}


def probe(program_path: str, workload: dict):
    """The candidate's paths on the probe configs (its decisions), or the reason it failed: the paths decide
    the simulated cost and time, so the probe leaves the simulation out."""
    s = setting(workload)
    return probe_decisions(program_path, "search_algorithm", lambda search: paths_of(search, s))


def baseline_metrics(workload: dict) -> dict[str, dict]:
    """Metrics of each baseline, and the egress lower bound, on the workload (tests, benchmark)."""
    s = setting(workload)
    out = {name: metrics_of(s, run_policy(fn, s)[1]) for name, fn in BASELINES.items()}
    out["lower_bound"] = {"total_cost": sum(egress_lower_bound(*CONFIGS[n], s["graph"], s["data_gb"])
                                            for n in s["configs"])}
    return out
