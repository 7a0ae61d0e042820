"""The budget a session of a run evolves under, and how the run remembers it.

The command line wins (a flag, or a `--set` of the key: evolve/overrides.py); otherwise a resumed
run keeps the budget it was started (or last resumed) with; a new run takes the problem file's.
The budget in force is written into the run's stored config (`evolution.budget`,
`evolution.concurrency`), so `status`, the live view and the report show the real one, and the
next `resume` finds it.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

from evolve.overrides import pinned_budget
from evolve.problem import Problem, parse_duration
from evolve.search.controller import Limits

KEYS = ("iterations", "wall_time", "target_score", "patience", "concurrency")


@dataclass(frozen=True)
class Plan:
    limits: Limits
    concurrency: int
    source: dict[str, str]  # key -> "command line" | "the run" | "the problem file"

    def describe(self) -> str:
        """One line: each limit and where it came from (printed when a run is resumed)."""
        lim = self.limits
        values = {"iterations": lim.iterations, "wall_time": _seconds(lim.wall_time_s),
                  "target_score": lim.target_score, "patience": lim.patience, "concurrency": self.concurrency}
        parts = [f"{k.replace('_', ' ')} {values[k]} ({self.source[k]})" for k in KEYS if values[k] is not None]
        return "budget: " + ", ".join(parts)


def plan(problem: Problem, stored: dict | None, overrides) -> Plan:
    """The limits of this session: `overrides` (CLI), then `stored` (the run's config), then the problem."""
    evo = problem.spec.evolution
    file_values = {"iterations": evo.budget.iterations, "wall_time": evo.budget.wall_time_s,
                   "target_score": evo.budget.target_score, "patience": evo.budget.patience,
                   "concurrency": evo.concurrency}
    run_values = _stored(stored) if stored is not None else {}
    cli_values = {"iterations": overrides.iterations, "wall_time": overrides.wall_time_s,
                  "concurrency": overrides.concurrency}
    pinned = pinned_budget(getattr(overrides, "settings", None))  # given by --set: the (edited) file's value
    chosen, source = {}, {}
    for key in KEYS:  # a value the command line leaves out; a key the run stored, even when it is none
        if cli_values.get(key) is not None:
            chosen[key], source[key] = cli_values[key], "command line"
        elif key in pinned:
            chosen[key], source[key] = file_values[key], "command line, --set"
        elif key in run_values:
            chosen[key], source[key] = run_values[key], "the run"
        else:
            chosen[key], source[key] = file_values[key], "the problem file"
    limits = Limits(iterations=chosen["iterations"], wall_time_s=chosen["wall_time"],
                    target_score=chosen["target_score"], patience=chosen["patience"])
    return Plan(limits, chosen["concurrency"] or evo.concurrency, source)


def stamped(config: dict, chosen: Plan) -> dict:
    """`config` (a run's stored problem spec) with the budget in force written into it."""
    out = copy.deepcopy(config)
    evo = out.setdefault("evolution", {})
    budget = evo.setdefault("budget", {})
    lim = chosen.limits
    budget.update(iterations=lim.iterations, wall_time=_seconds(lim.wall_time_s), target_score=lim.target_score,
                  patience=lim.patience)
    evo["concurrency"] = chosen.concurrency
    return out


def _stored(config: dict) -> dict:
    """The budget a run was last evolved under, from its stored config (keys absent in old runs are left out)."""
    evo = config.get("evolution") or {}
    budget = evo.get("budget") or {}
    out = {k: budget[k] for k in ("iterations", "target_score", "patience") if k in budget}
    if "wall_time" in budget:
        out["wall_time"] = None if budget["wall_time"] is None else parse_duration(budget["wall_time"])
    if evo.get("concurrency"):
        out["concurrency"] = evo["concurrency"]
    return out


def _seconds(value: float | None) -> str | None:
    return None if value is None else f"{value:g}s"
