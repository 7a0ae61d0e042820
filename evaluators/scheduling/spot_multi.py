"""Evaluator for `problems/spot_scheduling_multi`: a job that may move between us-west-2a and us-west-2b.

Candidate: class `Policy` with `step(state) -> (action, zone)` (see `spot_multi_sim.MultiState`).
Environments: instance types traced in both zones (k80_8, v100_1); zone 0 = us-west-2a, 1 = us-west-2b;
windows = the published windows of the us-west-2a trace, the same ticks sliced from both traces.
Workloads: {name: full} all windows x deadlines 52/70 h x overheads 0.02/0.05/0.1 h;
{name: smoke} first `windows` (2); {name: probe} `windows` (1). Deterministic; seed ignored.
"""
from __future__ import annotations

import statistics
from pathlib import Path

from ..common import CandidateError, call_candidate, failure, load_candidate, perf_counter, trim_traceback
from .spot import COST_CEILING, COST_FLOOR, DEADLINES_H, OVERHEADS_H, TASK_H, normalized_score
from .spot_multi_sim import simulate_multi
from .spot_sim import ImpossibleAction, JobSpec, load_trace, load_windows

ZONES = ("us-west-2a", "us-west-2b")
TYPES = ("k80_8", "v100_1")


def zone_traces(itype: str, index: int) -> tuple[tuple[bool, ...], ...]:
    """Both zones' availability over the index-th published window of the us-west-2a trace."""
    start, end = load_windows()[f"{ZONES[0]}_{itype}"][index]
    return tuple(load_trace(f"{z}_{itype}")[start:end] for z in ZONES)


def scenarios(workload: dict) -> list[tuple[str, int, JobSpec]]:
    name = workload.get("name", "full")
    if name not in ("full", "smoke", "probe"):
        raise ValueError(f"unknown workload {name!r}; expected full, smoke or probe")
    n = workload.get("windows", {"full": None, "smoke": 2, "probe": 1}[name])
    out = []
    for itype in workload.get("types") or TYPES:
        if itype not in TYPES:
            raise ValueError(f"unknown instance type {itype!r}; known: {', '.join(TYPES)}")
        count = len(load_windows()[f"{ZONES[0]}_{itype}"])
        for index in range(count if n is None else min(int(n), count)):
            for d in workload.get("deadlines_h") or DEADLINES_H:
                for o in workload.get("overheads_h") or OVERHEADS_H:
                    out.append((itype, index, JobSpec(TASK_H, float(d), float(o))))
    return out


def _guarded(step):
    def guarded(state):
        try:
            return step(state)
        except BaseException as exc:
            raise CandidateError(f"tick {state.tick}: `step` raised:\n{trim_traceback(exc)}") from None
    return guarded


def run_policy(policy_cls, grid):
    """Simulate a fresh policy per scenario; errors name the scenario."""
    results = []
    for itype, index, job in grid:
        label = f"{itype} window {index} deadline {job.deadline_h:g}h overhead {job.overhead_h:g}h"
        policy = call_candidate(policy_cls)
        if not callable(getattr(policy, "step", None)):
            raise CandidateError("`Policy()` must have a method `step(state)`")
        try:
            r = simulate_multi(_guarded(policy.step), zone_traces(itype, index), job, zone_names=ZONES)
        except (ImpossibleAction, CandidateError) as exc:
            raise CandidateError(f"in {label}: {exc}") from None
        results.append((label, r))
    return results


def summarize(results) -> dict:
    costs = [r.cost for _, r in results]
    mean_cost = statistics.fmean(costs)
    misses = [label for label, r in results if r.missed_deadline]
    metrics = {"valid": True, "score": normalized_score(mean_cost), "mean_cost": mean_cost,
               "worst_cost": max(costs), "deadline_misses": len(misses), "simulations": len(results),
               "preemptions": sum(r.preemptions for _, r in results),
               "zone_switches": sum(r.notes["zone_switches"] for _, r in results)}
    artifacts = {"normalization": {"ceiling": COST_CEILING, "floor": COST_FLOOR}}
    if misses:
        artifacts["deadline_missed_in"] = misses[:20]
        artifacts["note"] = f"{len(misses)} simulation(s) missed the deadline: infeasible"
    return {"metrics": metrics, "artifacts": artifacts}


def _policy_class(program_path):
    cls = getattr(load_candidate(program_path), "Policy", None)
    if not callable(cls):
        raise CandidateError("the candidate must define a class `Policy` with a method `step(state)`")
    return cls


def evaluate(program_path: str, workload: dict) -> dict:
    start = perf_counter()
    try:
        grid = scenarios(workload)
    except ValueError as exc:
        return failure(f"bad workload: {exc}")
    try:
        out = summarize(run_policy(_policy_class(program_path), grid))
    except CandidateError as exc:
        return failure(str(exc))
    out["metrics"]["eval_s"] = perf_counter() - start
    return out


def probe(program_path: str, workload: dict | None = None) -> object:
    """The candidate's decisions (letter + zone per tick) on the probe windows."""
    try:
        results = run_policy(_policy_class(program_path), scenarios(dict(workload or {"name": "probe"})))
    except (CandidateError, ValueError) as exc:
        return {"error": str(exc).splitlines()[0]}
    return [r.actions for _, r in results]
