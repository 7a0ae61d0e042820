"""Evaluator for `problems/spot_scheduling_multi`: a job that may move between us-west-2a and us-west-2b.

Candidate: class `Policy` with `step(state) -> (action, zone)` (see `spot_multi_sim.MultiState`).
Environments: instance types traced in both zones (k80_8, v100_1); zone 0 = us-west-2a, 1 = us-west-2b;
windows = the published windows of the us-west-2a trace, the same ticks sliced from both traces.
Workloads: {name: full} all windows x deadlines 52/70 h x overheads 0.02/0.05/0.1 h;
{name: smoke} first `windows` (2); {name: probe} `windows` (1). Deterministic; seed ignored.
The two zones' trace files must line up (same tick length, start and length: `check_aligned`), and
`gap_to_bound` compares the mean cost with `cost_bound`, an overhead-free oracle's.
"""
from __future__ import annotations

import json
import math
import statistics
from functools import lru_cache
from pathlib import Path

from ..common import CandidateError, call_candidate, failure, guarded_step, load_candidate, perf_counter
from .spot import COST_CEILING, COST_FLOOR, DEADLINES_H, OVERHEADS_H, TASK_H, normalized_score
from .spot_multi_sim import simulate_multi
from .spot_sim import DATA_DIR, ImpossibleAction, JobSpec, load_trace, load_windows

ZONES = ("us-west-2a", "us-west-2b")
TYPES = ("k80_8", "v100_1")


TICK_S = 600.0  # the simulator's tick; every trace must be sampled at it
START_KEYS = ("start", "start_time", "start_timestamp", "start_ts")  # a trace's first-tick time, when recorded


class TraceMismatch(ValueError):
    """The zones' trace files do not share their ticks (tick length, start, or length)."""


def check_aligned(paths: list[Path], tick_s: float = TICK_S) -> None:
    """Raise TraceMismatch, naming the files, unless every trace file has tick `tick_s` (metadata
    `gap_seconds`), the same number of ticks, and the same start time where a start is recorded (the
    shipped files record none: their first ticks are taken to coincide, as the published harness does)."""
    metas = []
    for path in paths:
        raw = json.loads(Path(path).read_text())
        meta = raw.get("metadata") or {}
        start = next((meta[k] for k in START_KEYS if k in meta), None)
        metas.append((Path(path).name, meta.get("gap_seconds"), start, len(raw["data"])))
    first = metas[0]
    for name, gap, start, n in metas:
        if gap is None or float(gap) != tick_s:
            raise TraceMismatch(f"trace {name}: tick length (metadata gap_seconds) {gap!r}, the simulator's is "
                                f"{tick_s:g} s")
        if start != first[2]:
            raise TraceMismatch(f"traces {first[0]} and {name} do not line up: they start at {first[2]!r} and "
                                f"{start!r}")
        if n != first[3]:
            raise TraceMismatch(f"traces {first[0]} and {name} do not line up: {first[3]} and {n} ticks")


@lru_cache(maxsize=None)
def check_type(itype: str) -> None:
    """The zones' traces of instance type `itype` line up tick for tick (checked once per process)."""
    check_aligned([DATA_DIR / f"{z}_{itype}.json" for z in ZONES])


def zone_traces(itype: str, index: int) -> tuple[tuple[bool, ...], ...]:
    """Both zones' availability over the index-th published window of the us-west-2a trace."""
    check_type(itype)
    start, end = load_windows()[f"{ZONES[0]}_{itype}"][index]
    return tuple(load_trace(f"{z}_{itype}")[start:end] for z in ZONES)


def cost_bound(traces, job: JobSpec, tick_s: float = TICK_S) -> float:
    """A lower bound on any feasible policy's cost: the work needs ceil(task / tick) billed ticks before the
    deadline, and a tick can be spot only where some zone has capacity. So at best every such tick is spot
    and the rest on-demand - the oracle that knows both zones' future and pays no overhead (restarts and
    moves cost nothing), hence a bound no real policy reaches."""
    need = math.ceil(job.task_h * 3600.0 / tick_s - 1e-9)
    ticks = min(math.ceil(job.deadline_h * 3600.0 / tick_s - 1e-9), min(len(t) for t in traces))
    spot = min(need, sum(1 for row in zip(*(t[:ticks] for t in traces)) if any(row)))
    return (spot * job.spot_price + (need - spot) * job.on_demand_price) * tick_s / 3600.0


def scenarios(workload: dict) -> list[tuple[str, int, JobSpec]]:
    name = workload.get("name", "full")
    if name not in ("full", "smoke", "probe"):
        raise ValueError(f"unknown workload {name!r}; expected full, smoke or probe")
    n = workload.get("windows", {"full": None, "smoke": 2, "probe": 1}[name])
    out = []
    for itype in workload.get("types") or TYPES:
        if itype not in TYPES:
            raise ValueError(f"unknown instance type {itype!r}; known: {', '.join(TYPES)}")
        check_type(itype)  # the zones' traces share their ticks (a TraceMismatch names the files)
        count = len(load_windows()[f"{ZONES[0]}_{itype}"])
        for index in range(count if n is None else min(int(n), count)):
            for d in workload.get("deadlines_h") or DEADLINES_H:
                for o in workload.get("overheads_h") or OVERHEADS_H:
                    out.append((itype, index, JobSpec(TASK_H, float(d), float(o))))
    return out


def run_policy(policy_cls, grid):
    """Simulate a fresh policy per scenario; errors name the scenario."""
    results = []
    for itype, index, job in grid:
        label = f"{itype} window {index} deadline {job.deadline_h:g}h overhead {job.overhead_h:g}h"
        policy = call_candidate(policy_cls)
        if not callable(getattr(policy, "step", None)):
            raise CandidateError("`Policy()` must have a method `step(state)`")
        try:
            r = simulate_multi(guarded_step(policy.step), zone_traces(itype, index), job, zone_names=ZONES)
        except (ImpossibleAction, CandidateError) as exc:
            raise CandidateError(f"in {label}: {exc}") from None
        r.notes["bound"] = cost_bound(zone_traces(itype, index), job)
        results.append((label, r))
    return results


def summarize(results) -> dict:
    costs = [r.cost for _, r in results]
    mean_cost = statistics.fmean(costs)
    misses = [label for label, r in results if r.missed_deadline]
    mean_bound = statistics.fmean(r.notes["bound"] for _, r in results)
    metrics = {"valid": True, "score": normalized_score(mean_cost), "mean_cost": mean_cost,
               "gap_to_bound": mean_cost / mean_bound - 1.0, "bound_cost": mean_bound,
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
    except TraceMismatch as exc:
        return failure(f"the zones' availability traces do not line up: {exc}")
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
