"""Evaluator for `problems/spot_scheduling_multi`: a job that may move between us-west-2a and us-west-2b.

Candidate: class `Policy` with `step(state) -> (action, zone)` (see `spot_multi_sim.MultiState`).
Environments: instance types traced in both zones (k80_8, v100_1); zone 0 = us-west-2a, 1 = us-west-2b;
windows = the published windows of the us-west-2a trace, the same ticks sliced from both traces.
Workloads: {name: full} all windows x deadlines 52/70 h x overheads 0.02/0.05/0.1 h;
{name: smoke} first `windows` (2). Deterministic; seed ignored. The probe (`probe`, `segments`) takes
{name: probe, heads, tails, ticks, seed, windows}: short simulations drawn over the full grid (see PROBE).
The two zones' trace files must line up (same tick length, start and length: `check_aligned`), and
`gap_to_bound` compares the mean cost with `cost_bound`, an overhead-free oracle's.
"""
from __future__ import annotations

import json
import math
import random
import statistics
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..common import CandidateError, call_candidate, failure, guarded_step, load_candidate, perf_counter
from .spot import COST_CEILING, COST_FLOOR, DEADLINES_H, OVERHEADS_H, TASK_H, normalized_score
from .spot_multi_sim import Zones, simulate_multi
from .spot_sim import ACTION_LETTER, ON_DEMAND, SPOT, DATA_DIR, ImpossibleAction, JobSpec, load_trace, load_windows, run_ticks

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


# The probe workload's keys and defaults: short simulations drawn with random.Random(seed) over the full
# grid's types, windows, deadlines and overheads, each cut after `ticks` ticks: `heads` from a run's start,
# `tails` resumed late in a run (see `_segments`); plus whole runs on the first `windows` windows of every
# type, deadline and overhead (the probe was `windows: 1` alone until it was found merging candidates).
PROBE = {"windows": 0, "heads": 20, "tails": 300, "ticks": 16, "seed": 0}
WORK_POWER, SLACK_POWER = 3.0, 2.0  # a tail's work left: 48 h x u^3; its spare time: (deadline - 48 h) x v^2


@dataclass(frozen=True)
class Segment:
    """One probe simulation: the policy sees the 48 h job `job` of window `window`, resumed at tick `start`
    with `done_s` of work done, for at most `ticks` ticks (None: to the end); `first` forces the first tick's
    (action, zone), so that the policy starts with an instance running."""

    itype: str
    window: int
    job: JobSpec
    start: int = 0
    done_s: float = 0.0
    ticks: int | None = None
    first: tuple[str, int] | None = None


class Resumed(Zones):
    """`Zones` for a `Segment`: the simulated run starts at tick 0 of the segment's trace slice with nothing
    done; the policy sees `start` ticks and `done_s` seconds of work added, and the segment's 48 h job.
    Records the letters of the ticks decided so far (`letters`), kept when the run stops on an error."""

    def __init__(self, segment: Segment, traces):
        super().__init__(None, traces, ZONES)
        self.seg, self.letters = segment, []

    def decide(self, job, tick, elapsed, done, overhead_left, instance, preempted, avail, zone):
        seg = self.seg
        if tick == 0 and seg.first is not None:
            out = (*seg.first, ACTION_LETTER[seg.first[0]] + str(seg.first[1]))
        else:
            seen = (job[0], seg.job.task_h * 3600.0, seg.job.deadline_h * 3600.0, job[3])
            out = super().decide(seen, tick + seg.start, elapsed + seg.start * job[0], done + seg.done_s,
                                 overhead_left, instance, preempted, avail, zone)
        self.letters.append(out[2])
        return out


def segments(workload: dict) -> tuple[Segment, ...]:
    """The probe workload's simulations (keys: PROBE's and `name: probe`); ValueError on a bad workload."""
    extra = set(workload) - set(PROBE) - {"name"}
    if extra or workload.get("name", "probe") != "probe":
        raise ValueError(f"a spot_scheduling_multi probe workload has name probe and the keys "
                         f"{', '.join(PROBE)}; got {workload!r}")
    return _segments(json.dumps({**PROBE, **workload}, sort_keys=True))


@lru_cache(maxsize=8)
def _segments(key: str) -> tuple[Segment, ...]:
    """Heads: a run's first ticks. Tails: the policy shown a state late in a run - work left 48 h x u^3
    (most of them in the last hours, where policies part) floored to ticks plus a remainder that some number
    of restart overheads leaves (uniform over those remainders: the rounding a policy does against the tick
    depends on it), spare time (deadline - 48 h) x v^2, and the first tick forced idle, spot (in a zone with
    capacity) or on-demand, so that the policy decides from each kind of instance."""
    w = json.loads(key)
    rng = random.Random(w["seed"])
    cut, tick = int(w["ticks"]), int(TICK_S)
    out = [Segment(t, i, job) for t, i, job in scenarios({**w, "name": "probe", "windows": int(w["windows"])})]

    def draw() -> tuple[str, int, JobSpec]:
        itype = rng.choice(TYPES)
        index = rng.randrange(len(load_windows()[f"{ZONES[0]}_{itype}"]))
        return itype, index, JobSpec(TASK_H, float(rng.choice(DEADLINES_H)), float(rng.choice(OVERHEADS_H)))

    for _ in range(int(w["heads"])):
        out.append(Segment(*draw(), ticks=cut))
    for _ in range(int(w["tails"])):
        itype, index, job = draw()
        over = round(job.overhead_h * 3600.0)
        left = int(TASK_H * 3600.0 * rng.random() ** WORK_POWER) // tick * tick
        left += rng.randrange(tick // math.gcd(over, tick)) * over % tick or (0 if left else over)
        spare = rng.random() ** SLACK_POWER * (job.deadline_h - TASK_H) * 3600.0
        start = round(job.deadline_h * 3600.0 / TICK_S) - math.ceil((left + spare) / TICK_S)
        first, zone = rng.choice((None, SPOT, ON_DEMAND)), rng.randrange(len(ZONES))
        if first == SPOT and not zone_traces(itype, index)[zone][start]:
            first = SPOT if zone_traces(itype, index)[1 - zone][start] else ON_DEMAND
            zone = 1 - zone if first == SPOT else zone
        out.append(Segment(itype, index, job, start, TASK_H * 3600.0 - left, cut, first and (first, zone)))
    return tuple(out)


def prepare(workload: dict | None = None) -> None:
    """Draw a probe workload's simulations ahead (sandbox.runner --prepare), so a probe costs the candidate's
    decisions alone; a stage's workload needs nothing ahead."""
    if (workload or {}).get("name") == "probe":
        segments(dict(workload))


def probe(program_path: str, workload: dict | None = None) -> object:
    """The candidate's decisions (letter + zone per tick: S0, O1, -) on the probe's simulations (`segments`).

    The score is a function of the decisions on the full grid's 360 runs, and candidates that score apart
    almost always part at a few rare states: entering the endgame (spare time used up) while on spot, a
    rounding of work left against the tick, the last partial tick. Whole runs reach those states a few times
    in 360; a probe of a dozen whole runs merged such candidates. Hundreds of short heads and tails over the
    same grid reach them cheaply, with the policy shown the real 48 h job, its deadline and overhead, and the
    real traces at those ticks. Costs about what the dozen whole runs cost."""
    plan = segments(dict(workload or {}))  # a bad workload raises: it is no candidate's failure
    try:
        cls = _policy_class(program_path)
    except CandidateError as exc:
        return {"error": str(exc).splitlines()[0]}
    return [_decisions(cls, segment) for segment in plan]


def _decisions(cls, seg: Segment) -> str:
    """One segment's letters; one the candidate breaks ends with `!` and what broke (its exception's type,
    or the impossible action)."""
    traces = tuple(t[seg.start:None if seg.ticks is None else seg.start + seg.ticks]
                   for t in zone_traces(seg.itype, seg.window))
    place = Resumed(seg, traces)
    sim = JobSpec(seg.job.task_h - seg.done_s / 3600.0, seg.job.deadline_h - seg.start * TICK_S / 3600.0,
                  seg.job.overhead_h)
    try:
        step = getattr(call_candidate(cls), "step", None)
        if not callable(step):
            raise CandidateError("`Policy()` must have a method `step(state)`")
        place.step = guarded_step(step)
        run_ticks(place, sim, TICK_S, enforce_deadline=True)
    except ImpossibleAction as exc:
        if len(place.letters) < len(traces[0]):  # else the segment only reached its cut
            return "".join(place.letters) + "!" + str(exc).split(": ", 1)[-1]
    except CandidateError as exc:
        return "".join(place.letters) + "!" + str(exc).strip().splitlines()[-1].split(":")[0]
    return "".join(place.letters)
