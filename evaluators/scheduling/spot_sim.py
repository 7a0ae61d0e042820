"""Tick-level simulator of one deadline-bound job on spot / on-demand instances ("Can't Be Late").

Semantics (the published NSDI'24 simulator's, without its silent safety overrides):
- Time advances in ticks of `tick_s` seconds. At tick t the policy sees the state (spot
  capacity for [t, t+1), what is running after any preemption at t) and picks an action
  for the interval [t, t+1).
- A running spot instance is lost (preempted) at the first tick whose trace entry says
  no capacity; progress made so far is kept.
- Starting an instance, switching type, or coming back after a preemption or a pause
  sets `overhead_left_s` to the restart overhead: billed time with no progress.
- Each tick with an instance is billed whole at that instance's hourly price; its
  progress is `tick_s` minus any overhead still left, capped at the work remaining.
- The run ends when the work is done; if it is not done by the deadline it is a miss.
  With `enforce_deadline=False` (the ADRS leaderboard's rule) the run goes on past the
  deadline until the work is done, and `missed_deadline` marks the late finish.
- SPOT when the trace has no capacity is an error (`ImpossibleAction`), not a fix-up
  (`spot_adrs` holds the published harness's fix-up, for callers that want it).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

SPOT, ON_DEMAND, NONE = "SPOT", "ON_DEMAND", "NONE"
ACTIONS = (SPOT, ON_DEMAND, NONE)
ACTION_LETTER = {SPOT: "S", ON_DEMAND: "O", NONE: "-"}

DATA_DIR = Path(__file__).parent / "data" / "spot"
ON_DEMAND_PRICE = 3.06  # $/h, the published setup
SPOT_PRICE = 0.9731  # $/h, the published setup
EPS = 1e-6  # seconds; float slack for "work left is zero"


class ImpossibleAction(Exception):
    """The policy chose an action the environment cannot honour (or not an action at all)."""


class SpotState:
    """What the policy sees at one tick; times are in seconds, fresh object every tick."""

    __slots__ = ("tick", "elapsed_s", "tick_s", "task_s", "work_done_s", "work_left_s",
                 "deadline_s", "overhead_s", "overhead_left_s", "spot_available",
                 "instance", "preempted")

    def __init__(self, **fields):
        for name, value in fields.items():
            setattr(self, name, value)

    @property
    def time_left_s(self) -> float:
        """Seconds until the deadline."""
        return self.deadline_s - self.elapsed_s

    def __repr__(self) -> str:
        body = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"SpotState({body})"


@dataclass(frozen=True)
class JobSpec:
    """One scenario's job: work, deadline and restart overhead in hours; prices in $/h."""

    task_h: float = 48.0
    deadline_h: float = 52.0
    overhead_h: float = 0.05
    on_demand_price: float = ON_DEMAND_PRICE
    spot_price: float = SPOT_PRICE


@dataclass
class RunResult:
    """Outcome of one simulation."""

    cost: float
    finished: bool
    missed_deadline: bool
    end_tick: int
    actions: str  # one letter per tick: S spot, O on-demand, - none
    preemptions: int
    spot_ticks: int
    on_demand_ticks: int
    notes: dict = field(default_factory=dict)  # the caller's per-run counts (e.g. a safety net's overrides)

    @property
    def finished_late(self) -> bool:
        """Done, but only after the deadline (possible only without `enforce_deadline`)."""
        return self.finished and self.missed_deadline


def _seconds(hours: float) -> float:
    """Hours to seconds, rounded so 0.1 h is exactly 360 s."""
    return round(hours * 3600.0, 6)


def check_action(tick: int, action: object, has_spot: bool, allow_unavailable_spot: bool = False) -> None:
    """Raise ImpossibleAction unless `action` is one of ACTIONS (and, by default, SPOT has capacity)."""
    if type(action) is not str or action not in ACTIONS:  # no user __eq__ runs here
        raise ImpossibleAction(f"tick {tick}: step() returned {action!r}; expected one of "
                               f"{', '.join(ACTIONS)}")
    if action == SPOT and not has_spot and not allow_unavailable_spot:
        raise ImpossibleAction(f"tick {tick}: chose SPOT but the trace has no spot capacity "
                               f"(state.spot_available is False)")


class Placement:
    """Where the instance may run, for `run_ticks`: here one zone; `spot_multi_sim.Zones` several.

    It holds one availability trace per zone, builds the state the policy sees, checks the policy's
    answer into (action, zone) and spells the tick's letter. The tick loop charges the restart overhead
    when the action changes type *or* zone (one zone never changes here).
    """

    def __init__(self, step: Callable[[SpotState], object], availability: Sequence[bool]):
        self.step = step
        self.traces = (availability,)

    def decide(self, job: tuple, tick: int, elapsed: float, done: float, overhead_left: float, instance: str,
               preempted: bool, avail: tuple, zone: int) -> tuple[str, int, str]:
        """Ask the policy for tick `tick`: (action, zone, the tick's letter in `RunResult.actions`), checked.
        `job` = (tick_s, task_s, deadline_s, overhead_s); `avail` = spot capacity per zone; `zone` = where
        the last instance ran."""
        tick_s, task_s, deadline_s, overhead_s = job
        action = self.step(SpotState(tick=tick, elapsed_s=elapsed, tick_s=tick_s, task_s=task_s, work_done_s=done,
                                     work_left_s=task_s - done, deadline_s=deadline_s, overhead_s=overhead_s,
                                     overhead_left_s=overhead_left, spot_available=avail[0], instance=instance,
                                     preempted=preempted))
        check_action(tick, action, avail[0])
        return action, 0, ACTION_LETTER[action]

    def notes(self, switches: int) -> dict:
        return {}


def simulate(policy_step: Callable[[SpotState], object], availability: Sequence[bool],
             job: JobSpec, tick_s: float = 600.0, enforce_deadline: bool = True) -> RunResult:
    """Run one job on `availability` (True = spot capacity in that tick) with `policy_step`.

    With `enforce_deadline` the run stops, missed, at the first tick that starts at or past the
    deadline with work left; without it the run goes on and `missed_deadline` marks the late finish.
    Raises ImpossibleAction for an unknown action, SPOT without capacity, or a trace that ends
    before the job does; any exception raised by `policy_step` propagates unchanged.
    """
    return run_ticks(Placement(policy_step, availability), job, tick_s, enforce_deadline)


def run_ticks(place: Placement, job: JobSpec, tick_s: float = 600.0, enforce_deadline: bool = True) -> RunResult:
    """The tick loop of `simulate` (see the module docstring) over `place`'s zones and policy."""
    task_s, deadline_s, overhead_s = _seconds(job.task_h), _seconds(job.deadline_h), _seconds(job.overhead_h)
    price = {SPOT: job.spot_price * tick_s / 3600.0, ON_DEMAND: job.on_demand_price * tick_s / 3600.0}
    fixed = (tick_s, task_s, deadline_s, overhead_s)
    rows = [tuple(map(bool, r)) for r in zip(*place.traces)]  # per tick: spot capacity in each zone
    n_ticks = len(rows)
    done = overhead_left = cost = 0.0
    instance, zone, tick = NONE, 0, 0
    letters: list[str] = []
    preemptions = spot_ticks = od_ticks = switches = 0
    late = False
    while task_s - done > EPS:
        elapsed = tick * tick_s
        if elapsed >= deadline_s - EPS:
            if enforce_deadline:
                return RunResult(cost, False, True, tick, "".join(letters), preemptions, spot_ticks, od_ticks,
                                 place.notes(switches))
            late = True
        if tick >= n_ticks:
            when = "with the work not done (past the deadline)" if late else "before the deadline"
            raise ImpossibleAction(f"tick {tick}: the availability trace ended {when}")
        avail = rows[tick]
        preempted = instance == SPOT and not avail[zone]
        if preempted:
            instance = NONE
            preemptions += 1
        action, new_zone, letter = place.decide(fixed, tick, elapsed, done, overhead_left, instance, preempted,
                                                avail, zone)
        letters.append(letter)
        if action != NONE:
            if action != instance or new_zone != zone:
                overhead_left = overhead_s
                switches += new_zone != zone
            useful = max(tick_s - overhead_left, 0.0)
            overhead_left -= tick_s - useful
            done += min(useful, task_s - done)
            cost += price[action]
            if action == SPOT:
                spot_ticks += 1
            else:
                od_ticks += 1
            zone = new_zone
        instance = action
        tick += 1
    return RunResult(cost, True, late, tick, "".join(letters), preemptions, spot_ticks, od_ticks,
                     place.notes(switches))


@lru_cache(maxsize=None)
def load_trace(env: str) -> tuple[bool, ...]:
    """Spot availability per tick for an environment (True = capacity), from the shipped trace."""
    path = DATA_DIR / f"{env}.json"
    raw = json.loads(path.read_text())
    # In the published files 1 means "no spot capacity" (preempted) and 0 means available.
    return tuple(not bool(v) for v in raw["data"])


@lru_cache(maxsize=None)
def load_windows() -> dict[str, list[tuple[int, int]]]:
    """The published evaluation windows: env -> [(start_tick, end_tick), ...]."""
    raw = json.loads((DATA_DIR / "windows.json").read_text())
    return {env: [tuple(w) for w in wins] for env, wins in raw["windows"].items()}


def window(env: str, index: int) -> tuple[bool, ...]:
    """Availability of one published window."""
    start, end = load_windows()[env][index]
    return load_trace(env)[start:end]
