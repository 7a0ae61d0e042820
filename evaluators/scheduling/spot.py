"""Evaluator for `problems/spot_scheduling`: run a candidate policy on the published scenarios.

The candidate module defines a class `Policy` with `step(state) -> "SPOT"|"ON_DEMAND"|"NONE"`;
a fresh `Policy()` runs each simulation. Workloads (the problem YAML's mapping):
  {name: full}   6 environments x 30 windows x deadlines 52/70 h x overheads 0.02/0.05/0.1 h
  {name: smoke}  the same grid on the first `windows` (default 2) windows per environment
  {name: probe}  `windows` (default 2) windows of one environment, deadline 52 h, overhead 0.05 h
Optional keys: `windows` (per environment), `envs` (list), `deadlines_h`, `overheads_h`, and the
published harness's settings (`spot_adrs`): `safety_net: none|adrs`, `deadline: strict|adrs`.
Nothing here is random: the seed key is accepted and ignored.
"""
from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..common import (
    CandidateError, call_candidate, failure, fingerprint, guarded_step, load_candidate, perf_counter, unchanged,
)
from .spot_adrs import DEFAULTS, AdrsNet, Harness, harness_settings, wrap
from .spot_sim import ImpossibleAction, JobSpec, RunResult, load_windows, simulate, window

TASK_H = 48.0
DEADLINES_H = (52.0, 70.0)
OVERHEADS_H = (0.02, 0.05, 0.1)
# Leaderboard normalisation: all on-demand (48 h x $3.06) -> 0, all spot (48 h x $0.9731) -> 100.
COST_CEILING = 146.88
COST_FLOOR = 46.71


@dataclass(frozen=True)
class Scenario:
    """One simulation: an environment's window under one job spec."""

    env: str
    window: int
    job: JobSpec

    @property
    def label(self) -> str:
        return f"{self.env} window {self.window} deadline {self.job.deadline_h:g}h overhead {self.job.overhead_h:g}h"


def scenarios(workload: dict) -> list[Scenario]:
    """The scenario grid a workload names."""
    name = workload.get("name", "full")
    wins = load_windows()
    if name not in ("full", "smoke", "probe"):
        raise ValueError(f"unknown spot workload {name!r}; expected full, smoke or probe")
    envs = list(workload.get("envs") or (list(wins)[:1] if name == "probe" else list(wins)))
    default_windows = {"full": None, "smoke": 2, "probe": 2}[name]
    n_windows = workload.get("windows", default_windows)
    deadlines = workload.get("deadlines_h") or ((52.0,) if name == "probe" else DEADLINES_H)
    overheads = workload.get("overheads_h") or ((0.05,) if name == "probe" else OVERHEADS_H)
    out = []
    for env in envs:
        if env not in wins:
            raise ValueError(f"unknown environment {env!r}; known: {', '.join(wins)}")
        count = len(wins[env]) if n_windows is None else min(int(n_windows), len(wins[env]))
        for index in range(count):
            for deadline in deadlines:
                for overhead in overheads:
                    out.append(Scenario(env, index, JobSpec(TASK_H, float(deadline), float(overhead))))
    return out


def normalized_score(mean_cost: float) -> float:
    """The ADRS leaderboard score: 0 at all-on-demand cost, 100 at all-spot cost."""
    value = (COST_CEILING - mean_cost) / (COST_CEILING - COST_FLOOR)
    return min(max(value, 0.0), 1.0) * 100.0


def run_policy(policy_cls, grid: list[Scenario], harness: Harness = DEFAULTS) -> list[tuple[Scenario, RunResult]]:
    """Simulate a policy class on every scenario under `harness`; errors name the scenario and tick."""
    results = []
    for sc in grid:
        policy = call_candidate(policy_cls)
        step = getattr(policy, "step", None)
        if not callable(step):
            raise CandidateError("`Policy()` must have a method `step(state)`")
        wrapped = wrap(guarded_step(step), harness)
        try:
            result = simulate(wrapped, window(sc.env, sc.window), sc.job,
                              enforce_deadline=harness.enforce_deadline)
        except ImpossibleAction as exc:
            raise CandidateError(f"impossible action in {sc.label}: {exc}") from None
        except CandidateError as exc:
            raise CandidateError(f"in {sc.label}: {exc}") from None
        if isinstance(wrapped, AdrsNet):
            result.notes.update(wrapped.counts())
        results.append((sc, result))
    return results


def summarize(results: list[tuple[Scenario, RunResult]], harness: Harness = DEFAULTS) -> tuple[dict, dict]:
    """Flat metrics and a small breakdown table from simulation results (run under `harness`)."""
    costs = [r.cost for _, r in results]
    mean_cost = statistics.fmean(costs)
    by_env: dict[str, list[float]] = defaultdict(list)
    by_deadline: dict[float, list[float]] = defaultdict(list)
    by_cell: dict[str, list[float]] = defaultdict(list)
    misses = []
    for sc, r in results:
        by_env[sc.env].append(r.cost)
        by_deadline[sc.job.deadline_h].append(r.cost)
        by_cell[f"{sc.env}|{sc.job.deadline_h:g}h|{sc.job.overhead_h:g}h"].append(r.cost)
        if r.missed_deadline and not r.finished:
            misses.append(sc.label)
    metrics = {
        "valid": True,
        "score": normalized_score(mean_cost),
        "mean_cost": mean_cost,
        "worst_cost": max(costs),
        "deadline_misses": len(misses),
        "simulations": len(results),
        "preemptions": sum(r.preemptions for _, r in results),
    }
    for env, values in by_env.items():
        metrics[f"cost_{env.replace('-', '_')}"] = statistics.fmean(values)
    for deadline, values in by_deadline.items():
        metrics[f"cost_deadline_{deadline:g}h"] = statistics.fmean(values)
    artifacts = {"mean_cost_by_env_deadline_overhead": {k: round(statistics.fmean(v), 3) for k, v in by_cell.items()}}
    if misses:
        artifacts["deadline_missed_in"] = misses[:20]
        artifacts["note"] = f"{len(misses)} simulation(s) missed the deadline: infeasible"
    if harness != DEFAULTS:
        _harness_metrics(results, harness, metrics, artifacts)
    return metrics, artifacts


def _harness_metrics(results, harness: Harness, metrics: dict, artifacts: dict) -> None:
    """What the published harness's settings changed: late finishes it counts, decisions its net changed."""
    artifacts["harness"] = {"safety_net": harness.safety_net, "deadline": harness.deadline}
    if harness.deadline == "adrs":
        late = [(sc, r) for sc, r in results if r.finished_late]
        metrics["late_finishes"] = len(late)
        metrics["max_ticks_late"] = max((r.end_tick - _deadline_tick(sc) for sc, r in late), default=0)
        if late:
            artifacts["finished_late_in"] = [sc.label for sc, _ in late[:20]]
            artifacts["late_note"] = (f"{len(late)} simulation(s) finished after the deadline; counted, as the "
                                      f"ADRS leaderboard counts them (`deadline: strict` would call them misses)")
    if harness.safety_net == "adrs":
        for key in ("net_forced", "net_spot_to_none"):
            metrics[key] = sum(r.notes.get(key, 0) for _, r in results)


def _deadline_tick(sc: Scenario) -> int:
    """The tick count by which a job must be done to meet the deadline (the simulator's 600 s ticks)."""
    return math.ceil(sc.job.deadline_h * 3600.0 / 600.0 - 1e-9)


def _policy_class(program_path: str | Path):
    module = load_candidate(program_path)
    policy_cls = getattr(module, "Policy", None)
    if not callable(policy_cls):
        raise CandidateError("the candidate must define a class `Policy` with a method `step(state)`")
    return policy_cls


def evaluate(program_path: str, workload: dict) -> dict:
    """Metrics of the candidate's policy on the workload's scenarios; failures with a reason."""
    start = perf_counter()
    try:
        grid = scenarios(workload)
        harness = harness_settings(workload)
    except ValueError as exc:
        return failure(f"bad workload: {exc}")
    before = fingerprint(load_windows())  # the published windows, read before the candidate is imported
    try:
        results = run_policy(_policy_class(program_path), grid, harness)
        unchanged(before, load_windows(), "spot windows")
    except CandidateError as exc:
        return failure(str(exc))
    metrics, artifacts = summarize(results, harness)
    metrics["eval_s"] = perf_counter() - start
    return {"metrics": metrics, "artifacts": artifacts}


def probe(program_path: str, workload: dict | None = None) -> object:
    """The candidate's actions (one letter per tick: S, O, -) on the probe windows."""
    try:
        workload = dict(workload or {"name": "probe"})
        grid = scenarios(workload)
        results = run_policy(_policy_class(program_path), grid, harness_settings(workload))
    except (CandidateError, ValueError) as exc:
        return {"error": str(exc).splitlines()[0]}
    return [r.actions for _, r in results]
