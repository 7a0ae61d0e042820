"""Turn an evaluator's metrics into feasibility, a score and a rank.

Objectives have a direction; every vector here is "max is better" (values of
`min` objectives negated, divided by the objective's `scale`). Three orders:
weighted (sum of weight * value), lexicographic (objectives in declared order)
and Pareto (non-dominated rank, then crowding distance). Constraints are hard:
an infeasible program ranks below every feasible one, by how far it misses.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

from evolve.problem import Condition, Objective

MISSING_PENALTY = 1e6  # violation of a constraint whose metric was not reported


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


def violation(conditions: Iterable[Condition], metrics: dict[str, Any]) -> float:
    """How far `metrics` miss the conditions: 0 when all are met; relative misses summed."""
    total = 0.0
    for c in conditions:
        value = metrics.get(c.name)
        if c.name not in metrics or (c.equals is None and not _is_number(value)):
            total += MISSING_PENALTY
        elif c.equals is not None:
            total += 0.0 if value == c.equals else 1.0
        else:
            if c.min is not None and value < c.min:
                total += (c.min - value) / max(abs(c.min), 1e-12)
            if c.max is not None and value > c.max:
                total += (value - c.max) / max(abs(c.max), 1e-12)
    return total


def objective_vector(objectives: Sequence[Objective], metrics: dict[str, Any]) -> tuple[float, ...]:
    """Objective values, max-is-better and scaled; ValueError if one is missing or not finite."""
    out = []
    for obj in objectives:
        value = metrics.get(obj.name)
        if not _is_number(value) or not math.isfinite(value):
            raise ValueError(f"objective '{obj.name}' is {value!r}; the evaluator must report a finite number")
        out.append((value if obj.direction == "max" else -value) / obj.scale)
    return tuple(out)


def weighted_score(objectives: Sequence[Objective], metrics: dict[str, Any]) -> float:
    """The weighted sum of scaled objectives (higher is better)."""
    vector = objective_vector(objectives, metrics)
    return sum(obj.weight * v for obj, v in zip(objectives, vector))


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """a is at least as good as b everywhere and better somewhere (max is better)."""
    return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))


def pareto_ranks(points: Sequence[Sequence[float]]) -> list[int]:
    """Non-dominated sorting: 0 for the Pareto front, 1 for the front once it is removed, ..."""
    n = len(points)
    dominated_by = [0] * n
    dominating: list[list[int]] = [[] for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if dominates(points[i], points[j]):
                dominating[i].append(j)
                dominated_by[j] += 1
            elif dominates(points[j], points[i]):
                dominating[j].append(i)
                dominated_by[i] += 1
    ranks = [0] * n
    front = [i for i in range(n) if dominated_by[i] == 0]
    rank = 0
    while front:
        nxt = []
        for i in front:
            ranks[i] = rank
            for j in dominating[i]:
                dominated_by[j] -= 1
                if dominated_by[j] == 0:
                    nxt.append(j)
        front, rank = nxt, rank + 1
    return ranks


def crowding_distances(points: Sequence[Sequence[float]], ranks: Sequence[int]) -> list[float]:
    """NSGA-II crowding distance within each front; boundary points get infinity."""
    n = len(points)
    dist = [0.0] * n
    fronts: dict[int, list[int]] = {}
    for i, r in enumerate(ranks):
        fronts.setdefault(r, []).append(i)
    dims = len(points[0]) if n else 0
    for members in fronts.values():
        for d in range(dims):
            order = sorted(members, key=lambda i: points[i][d])
            lo, hi = points[order[0]][d], points[order[-1]][d]
            dist[order[0]] = dist[order[-1]] = math.inf
            if hi == lo:
                continue
            for k in range(1, len(order) - 1):
                dist[order[k]] += (points[order[k + 1]][d] - points[order[k - 1]][d]) / (hi - lo)
    return dist


def order_keys(method: str, points: Sequence[Sequence[float]], scores: Sequence[float]) -> list[tuple]:
    """A sort key per program (smaller sorts first = better) under `method`."""
    if method == "weighted":
        return [(-s,) for s in scores]
    if method == "lexicographic":
        return [tuple(-v for v in p) for p in points]
    if method == "pareto":
        ranks = pareto_ranks(points)
        crowd = crowding_distances(points, ranks)
        return [(r, -c) for r, c in zip(ranks, crowd)]
    raise ValueError(f"unknown ranking method '{method}'; choose weighted, lexicographic or pareto")


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


def assess_metrics(objectives, constraints, metrics: dict) -> tuple[str, float | None, str | None]:
    """(status, score, error) of a complete set of metrics (a partial evaluation's, merged): `infeasible` when
    a constraint is unmet, `failed` when an objective is missing, else `evaluated`."""
    reason = first_unmet(constraints, metrics)
    if reason:
        return "infeasible", None, f"constraint not met: {reason}"
    try:
        return "evaluated", weighted_score(objectives, metrics), None
    except ValueError as exc:
        return "failed", None, str(exc)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
