"""Multi-zone "Can't Be Late": one job, several zones with their own spot traces; the policy may move.

Each tick the policy returns (action, zone). Semantics extend `spot_sim.simulate`: a running spot
instance in zone z is preempted when z has no capacity; starting, changing type, changing zone, or
resuming after a pause/preemption costs the restart overhead (billed, no progress). SPOT in a zone
without capacity, an unknown zone, or a bad action is an ImpossibleAction. Strict deadline.
"""
from __future__ import annotations

from typing import Callable, Sequence

from .spot_sim import ACTION_LETTER, ACTIONS, EPS, NONE, ON_DEMAND, SPOT, ImpossibleAction, JobSpec, RunResult, _seconds


class MultiState:
    """What the policy sees at one tick (seconds); `spot_available` is a tuple, one bool per zone."""

    __slots__ = ("tick", "elapsed_s", "tick_s", "task_s", "work_done_s", "work_left_s", "deadline_s",
                 "overhead_s", "overhead_left_s", "spot_available", "zones", "zone", "instance", "preempted")

    def __init__(self, **fields):
        for name, value in fields.items():
            setattr(self, name, value)

    @property
    def time_left_s(self) -> float:
        return self.deadline_s - self.elapsed_s


def _check(tick: int, answer: object, avail: tuple, n_zones: int) -> tuple[str, int]:
    if type(answer) is not tuple or len(answer) != 2:
        raise ImpossibleAction(f"tick {tick}: step() returned {answer!r}; expected (action, zone)")
    action, zone = answer
    if type(action) is not str or action not in ACTIONS:
        raise ImpossibleAction(f"tick {tick}: action {action!r}; expected one of {', '.join(ACTIONS)}")
    if type(zone) is not int or not 0 <= zone < n_zones:
        raise ImpossibleAction(f"tick {tick}: unknown zone {zone!r}; expected an int in 0..{n_zones - 1}")
    if action == SPOT and not avail[zone]:
        raise ImpossibleAction(f"tick {tick}: chose SPOT in zone {zone} which has no spot capacity")
    return action, zone


def simulate_multi(step: Callable[[MultiState], object], traces: Sequence[Sequence[bool]], job: JobSpec,
                   tick_s: float = 600.0, zone_names: tuple = ()) -> RunResult:
    """Run one job over per-zone availability `traces`; actions string has the zone index after each letter."""
    task_s, deadline_s, overhead_s = _seconds(job.task_h), _seconds(job.deadline_h), _seconds(job.overhead_h)
    price = {SPOT: job.spot_price * tick_s / 3600.0, ON_DEMAND: job.on_demand_price * tick_s / 3600.0}
    n_zones, n_ticks = len(traces), min(len(t) for t in traces)
    done = overhead_left = cost = 0.0
    instance, zone, tick = NONE, 0, 0
    letters: list[str] = []
    preemptions = spot_ticks = od_ticks = switches = 0
    while task_s - done > EPS:
        elapsed = tick * tick_s
        if elapsed >= deadline_s - EPS:
            return RunResult(cost, False, True, tick, "".join(letters), preemptions, spot_ticks, od_ticks,
                             {"zone_switches": switches})
        if tick >= n_ticks:
            raise ImpossibleAction(f"tick {tick}: the availability trace ended before the deadline")
        avail = tuple(bool(t[tick]) for t in traces)
        preempted = instance == SPOT and not avail[zone]
        if preempted:
            instance, preemptions = NONE, preemptions + 1
        state = MultiState(tick=tick, elapsed_s=elapsed, tick_s=tick_s, task_s=task_s, work_done_s=done,
                           work_left_s=task_s - done, deadline_s=deadline_s, overhead_s=overhead_s,
                           overhead_left_s=overhead_left, spot_available=avail,
                           zones=zone_names or tuple(range(n_zones)), zone=zone, instance=instance,
                           preempted=preempted)
        action, new_zone = _check(tick, step(state), avail, n_zones)
        letters.append(ACTION_LETTER[action] + (str(new_zone) if action != NONE else ""))
        if action != NONE:
            if action != instance or new_zone != zone:
                overhead_left = overhead_s
                switches += new_zone != zone
            useful = max(tick_s - overhead_left, 0.0)
            overhead_left -= tick_s - useful
            done += min(useful, task_s - done)
            cost += price[action]
            spot_ticks += action == SPOT
            od_ticks += action == ON_DEMAND
            zone = new_zone
        instance = action
        tick += 1
    return RunResult(cost, True, False, tick, "".join(letters), preemptions, spot_ticks, od_ticks,
                     {"zone_switches": switches})
