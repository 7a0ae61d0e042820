"""Deadline-aware spot scheduling ("Can't Be Late", NSDI'24): the starting policy (greedy).

API: a class `Policy` with `step(self, state) -> SPOT | ON_DEMAND | NONE`. The evaluator
builds a fresh `Policy()` for every simulation and calls `step` once per 10-minute tick
until the job's 48 hours of work are done. Return one of the strings below.

`state` fields (all times in seconds; a fresh object each tick):
  tick             index of this tick (0 at the start of the window)
  elapsed_s        seconds since the start (tick * tick_s)
  tick_s           tick length (600)
  task_s           total work the job needs (48 h = 172800)
  work_done_s      progress made so far (kept across preemptions)
  work_left_s      task_s - work_done_s
  deadline_s       the deadline, from the start (52 h or 70 h)
  time_left_s      deadline_s - elapsed_s
  overhead_s       restart overhead paid (billed, no progress) when an instance starts,
                   switches type, or restarts after a preemption or a pause
  overhead_left_s  overhead still to pay on the running instance
  spot_available   spot capacity exists for this tick
  instance         what runs now: SPOT, ON_DEMAND or NONE (a preempted spot is NONE)
  preempted        the spot instance was lost at this tick
Rules: SPOT while spot_available is False is an error; missing the deadline is infeasible.
Cost: on-demand $3.06/h, spot $0.9731/h, billed per started tick.
"""
import math

SPOT, ON_DEMAND, NONE = "SPOT", "ON_DEMAND", "NONE"


# EVOLVE-BLOCK-START
class Policy:
    """Greedy: spot whenever available, otherwise wait while the slack allows, then on-demand."""

    def step(self, state):
        ticks_left = math.floor(state.time_left_s / state.tick_s)
        ticks_needed = math.ceil((state.work_left_s + state.overhead_s) / state.tick_s)
        if ticks_needed >= ticks_left:
            # Safety rule: no slack for another restart. Keep a warmed-up spot, else on-demand.
            if state.instance == SPOT and state.overhead_left_s < 1e-3:
                return SPOT
            return ON_DEMAND
        return SPOT if state.spot_available else NONE
# EVOLVE-BLOCK-END
