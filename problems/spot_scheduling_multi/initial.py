"""Multi-zone deadline-aware spot scheduling: the starting policy (stay-put greedy with a zone hop).

API: a class `Policy` with `step(self, state) -> (action, zone)`; action is SPOT, ON_DEMAND or NONE,
zone an int index into state.zones (0 = us-west-2a, 1 = us-west-2b). A fresh Policy() per simulation,
`step` once per 10-minute tick until 48 h of work are done.
state: tick, elapsed_s, tick_s, task_s, work_done_s, work_left_s, deadline_s, time_left_s,
  overhead_s, overhead_left_s, spot_available (tuple of bool per zone), zones, zone (current),
  instance (SPOT/ON_DEMAND/NONE; a preempted spot is NONE), preempted.
Rules: SPOT in a zone without capacity is an error; moving zone, changing type or restarting pays
the overhead (billed, no progress); missing the deadline is infeasible.
Cost: on-demand $3.06/h, spot $0.9731/h, billed per tick used.
"""
import math

SPOT, ON_DEMAND, NONE = "SPOT", "ON_DEMAND", "NONE"


# EVOLVE-BLOCK-START
SAFETY_TICKS = 2  # extra ticks of slack kept before falling back to on-demand
HOP = 0  # 1: move to another zone's spot when the current one has none


class Policy:
    """Spot in the current zone when there, else wait while slack allows, else on-demand."""

    def step(self, state):
        ticks_left = math.floor(state.time_left_s / state.tick_s)
        ticks_needed = math.ceil((state.work_left_s + state.overhead_s) / state.tick_s) + SAFETY_TICKS
        here = state.zone
        if state.instance == SPOT and state.spot_available[here] and state.overhead_left_s < 1e-3:
            return SPOT, here
        if ticks_needed >= ticks_left:
            return ON_DEMAND, here
        if state.spot_available[here]:
            return SPOT, here
        if HOP > 0:
            for z in range(len(state.zones)):
                if state.spot_available[z]:
                    return SPOT, z
        return NONE, here
# EVOLVE-BLOCK-END
