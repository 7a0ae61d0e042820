"""Turn an evaluator's metrics into feasibility and a score.

score = sum(weight * value) over objectives, with value negated where the
direction is `min`: higher is always better. Constraints are hard: a program
that misses one is infeasible and gets no score.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

from evolve.problem import Condition, Objective


def unmet(condition: Condition, metrics: dict[str, Any]) -> str | None:
    """Why `metrics` miss `condition`, or None when they meet it."""
    if condition.name not in metrics:
        return f"metric '{condition.name}' was not reported"
    value = metrics[condition.name]
    if condition.equals is not None:
        return None if value == condition.equals else f"{condition.name} = {value!r}, required {condition.equals!r}"
    if not _is_number(value):
        return f"{condition.name} = {value!r} is not a number"
    if condition.min is not None and value < condition.min:
        return f"{condition.name} = {value:g} < minimum {condition.min:g}"
    if condition.max is not None and value > condition.max:
        return f"{condition.name} = {value:g} > maximum {condition.max:g}"
    return None


def first_unmet(conditions: Iterable[Condition], metrics: dict[str, Any]) -> str | None:
    for condition in conditions:
        reason = unmet(condition, metrics)
        if reason:
            return reason
    return None


def weighted_score(objectives: Iterable[Objective], metrics: dict[str, Any]) -> float:
    """The weighted sum of objectives (max-is-better); ValueError if one is missing or not finite."""
    total = 0.0
    for obj in objectives:
        value = metrics.get(obj.name)
        if not _is_number(value) or not math.isfinite(value):
            raise ValueError(f"objective '{obj.name}' is {value!r}; the evaluator must report a finite number")
        total += obj.weight * (value if obj.direction == "max" else -value)
    return total


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def assess(objectives, constraints, outcomes) -> tuple[str, float | None, dict, str | None]:
    """(status, score, metrics, error) of a program from its stage outcomes.

    status: `failed` when a stage did not run to completion in the sandbox,
    `infeasible` when a stage requirement or a constraint is unmet, else `evaluated`.
    """
    metrics: dict[str, Any] = {}
    for outcome in outcomes:
        metrics.update(outcome.metrics)
    last = outcomes[-1]
    if last.status != "ok":
        return "failed", None, metrics, f"stage '{last.stage.name}': {last.status}: {last.error}"
    if not last.passed:
        return "infeasible", None, metrics, last.error
    reason = first_unmet(constraints, metrics)
    if reason:
        error = f"constraint not met: {reason}"
        if isinstance(last.artifacts.get("error"), str):
            error += f"\n{last.artifacts['error']}"
        return "infeasible", None, metrics, error
    try:
        return "evaluated", weighted_score(objectives, metrics), metrics, None
    except ValueError as exc:
        return "failed", None, metrics, str(exc)
