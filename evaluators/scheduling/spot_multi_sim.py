"""Multi-zone "Can't Be Late": one job, several zones with their own spot traces; the policy may move.

Each tick the policy returns (action, zone). Semantics extend `spot_sim.simulate`: a running spot
instance in zone z is preempted when z has no capacity; starting, changing type, changing zone, or
resuming after a pause/preemption costs the restart overhead (billed, no progress). SPOT in a zone
without capacity, an unknown zone, or a bad action is an ImpossibleAction. Strict deadline.
The tick loop is `spot_sim.run_ticks`, the single-zone simulator's; `Zones` is its placement hook.
"""
from __future__ import annotations

from typing import Callable, Sequence

from .spot_sim import ACTION_LETTER, ACTIONS, NONE, SPOT, ImpossibleAction, JobSpec, Placement, RunResult, run_ticks


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


class Zones(Placement):
    """Several zones for `spot_sim.run_ticks`: the policy answers (action, zone) and sees a `MultiState`."""

    def __init__(self, step: Callable[[MultiState], object], traces: Sequence[Sequence[bool]], zone_names: tuple = ()):
        self.step, self.traces = step, tuple(traces)
        self.names = zone_names or tuple(range(len(self.traces)))

    def decide(self, job: tuple, tick: int, elapsed: float, done: float, overhead_left: float, instance: str,
               preempted: bool, avail: tuple, zone: int) -> tuple[str, int, str]:
        tick_s, task_s, deadline_s, overhead_s = job
        answer = self.step(MultiState(tick=tick, elapsed_s=elapsed, tick_s=tick_s, task_s=task_s, work_done_s=done,
                                      work_left_s=task_s - done, deadline_s=deadline_s, overhead_s=overhead_s,
                                      overhead_left_s=overhead_left, spot_available=avail, zones=self.names,
                                      zone=zone, instance=instance, preempted=preempted))
        action, zone = _check(tick, answer, avail, len(self.traces))
        return action, zone, ACTION_LETTER[action] + (str(zone) if action != NONE else "")

    def notes(self, switches: int) -> dict:
        return {"zone_switches": switches}


def simulate_multi(step: Callable[[MultiState], object], traces: Sequence[Sequence[bool]], job: JobSpec,
                   tick_s: float = 600.0, zone_names: tuple = ()) -> RunResult:
    """Run one job over per-zone availability `traces`; actions string has the zone index after each letter."""
    return run_ticks(Zones(step, traces, zone_names), job, tick_s, enforce_deadline=True)
