"""Baseline spot policies: on-demand only, greedy, and Uniform Progress (NSDI'24).

Each policy is a class with `step(state) -> "SPOT" | "ON_DEMAND" | "NONE"`, the same API a
candidate implements. The greedy and Uniform Progress policies carry the usual safety rule
(the published simulator's "strong guarantee"): once the whole ticks left no longer exceed
the whole ticks needed for the work left plus one restart overhead, run on-demand, except
keep a spot instance that is already running past its overhead (a preemption after that
point still leaves time for on-demand, per the published argument).
"""
from __future__ import annotations

import math

from .spot_sim import NONE, ON_DEMAND, SPOT, SpotState

EPS = 1e-3


def must_secure(state: SpotState) -> bool:
    """True when the ticks left barely cover the work left plus one restart overhead."""
    ticks_left = math.floor(state.time_left_s / state.tick_s)
    ticks_needed = math.ceil((state.work_left_s + state.overhead_s) / state.tick_s)
    return ticks_needed >= ticks_left


def secure(state: SpotState) -> str:
    """The safety rule's choice: keep a running, warmed-up spot instance, else on-demand."""
    if state.instance == SPOT and state.overhead_left_s < EPS:
        return SPOT
    return ON_DEMAND


class OnDemandOnly:
    """Always on-demand: the cost ceiling."""

    def step(self, state: SpotState) -> str:
        return ON_DEMAND if state.work_left_s > 0 else NONE


class Greedy:
    """Spot whenever available; otherwise wait while the slack allows, then on-demand."""

    def step(self, state: SpotState) -> str:
        if must_secure(state):
            return secure(state)
        return SPOT if state.spot_available else NONE


class UniformProgress:
    """Spot when available; on-demand only while progress lags the start-to-deadline line."""

    def step(self, state: SpotState) -> str:
        if must_secure(state):
            return secure(state)
        if state.spot_available:
            return SPOT
        expected = state.elapsed_s * state.task_s / state.deadline_s
        return ON_DEMAND if state.work_done_s < expected else NONE


BASELINES = {"on_demand": OnDemandOnly, "greedy": Greedy, "uniform_progress": UniformProgress}
