"""The ADRS leaderboard's harness settings for the spot evaluator: its safety net and its deadline rule.

The leaderboard (UCB-ADRS/ADRS-Leaderboard, problems/cant_be_late) scores a strategy inside the
"Can't Be Late" simulator, whose base `Strategy.step` post-processes every decision the strategy
makes, and whose loop never fails a run for finishing late. Two workload keys reproduce that:

  safety_net: none   the candidate's decision is final (default; SPOT without capacity is an error)
              adrs   the harness's wrapper, in its order: (1) the "strong guarantee": when the whole
                     ticks left no longer exceed the ticks the work left plus one restart overhead
                     needs, the decision becomes SPOT if the instance of the last tick was spot and
                     warmed up (overhead paid), else ON_DEMAND, whatever the candidate proposed;
                     (2) SPOT while the trace has no capacity becomes NONE.
  deadline:   strict a job not done by the deadline is a deadline miss (default)
              adrs   the run goes on until the job is done; finishing late is counted like any
                     finish (`deadline_misses` stays 0) and reported as `late_finishes`

Written from the definition of `Strategy._apply_strong_guarantee` and `Strategy.step` in
problems/cant_be_late/resources/cant-be-late-simulator/sky_spot/strategies/strategy.py, and of
`Env.observe` (the "last cluster type" is the one of the previous tick, before any preemption).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .spot_policies import must_secure
from .spot_sim import NONE, ON_DEMAND, SPOT, SpotState, check_action

SAFETY_NETS = {
    "none": "the candidate's decision is final; SPOT without capacity is an error",
    "adrs": "the leaderboard harness's strong guarantee, then SPOT without capacity -> NONE",
}
DEADLINES = {
    "strict": "a job not done by the deadline is a deadline miss",
    "adrs": "as the leaderboard counts it: a late finish is no miss (reported as late_finishes)",
}
WARM = 1e-3  # seconds: the harness's "overhead paid" and "work done" tolerance


@dataclass(frozen=True)
class Harness:
    """How the evaluator wraps and judges a candidate: ours (the defaults) or the leaderboard's."""

    safety_net: str = "none"
    deadline: str = "strict"

    @property
    def enforce_deadline(self) -> bool:
        return self.deadline == "strict"


DEFAULTS = Harness()


def harness_settings(workload: dict) -> Harness:
    """The workload's `safety_net` and `deadline` keys; a bad value is a ValueError naming the key."""
    values = {}
    for key, known in (("safety_net", SAFETY_NETS), ("deadline", DEADLINES)):
        value = workload.get(key, next(iter(known)))
        if not isinstance(value, str) or value not in known:
            choices = "; ".join(f"{name} ({what})" for name, what in known.items())
            raise ValueError(f"workload key `{key}`: unknown value {value!r}; set it to one of: {choices}")
        values[key] = value
    return Harness(**values)


def last_instance(state: SpotState) -> str:
    """What ran during the previous tick, as the harness's `observe` reports it (a preempted spot is SPOT)."""
    return SPOT if state.preempted else state.instance


def strong_guarantee(proposal: str, state: SpotState) -> str:
    """The harness's final check: in the no-slack zone keep a warm spot, else force on-demand."""
    if state.work_left_s <= WARM or not must_secure(state):
        return proposal
    if last_instance(state) == SPOT and state.overhead_left_s < WARM:
        return SPOT
    return ON_DEMAND


@dataclass
class AdrsNet:
    """A candidate's `step` behind the harness's wrapper; counts the decisions it changed."""

    step: Callable[[SpotState], object]
    forced: int = 0  # the strong guarantee changed the candidate's decision
    spot_to_none: int = 0  # SPOT without capacity (proposed, or kept by the guarantee) became NONE

    def __call__(self, state: SpotState) -> str:
        proposal = self.step(state)
        check_action(state.tick, proposal, state.spot_available, allow_unavailable_spot=True)
        decision = strong_guarantee(proposal, state)
        if decision != proposal:
            self.forced += 1
        if decision == SPOT and not state.spot_available:
            decision = NONE
            self.spot_to_none += 1
        return decision

    def counts(self) -> dict[str, int]:
        return {"net_forced": self.forced, "net_spot_to_none": self.spot_to_none}


def wrap(step: Callable[[SpotState], object], harness: Harness) -> Callable[[SpotState], object]:
    """`step` as the harness runs it: unchanged under `safety_net: none`, else behind an AdrsNet."""
    return AdrsNet(step) if harness.safety_net == "adrs" else step
