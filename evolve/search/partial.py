"""Partial evaluation of a hit: measure again only the costs its hash cannot vouch for.

A hit behaves as its original on the probe, so its `behaviour` metrics, and every cost the
probe reported under its `costs` key, are the original's. Any other `cost` metric (a
runtime, anything timed) is measured again: the stages that supplied it run with
`measure: cost` in their workload (the evaluator measures its costs only; `known` holds
the original's behaviour metrics, for a metric derived from both), and the child is scored
as its own program, linked to its original by `duplicate_of`. An evaluator without a cost
mode evaluates in full and the costs are taken from that.
"""
from __future__ import annotations

from typing import Any, Iterable

from evolve.db.repo import COST_PREFIX
from evolve.problem import ProblemSpec, Stage

COSTS_KEY = "costs"  # where a probe reports the deterministic costs it measured


def cost_names(spec: ProblemSpec) -> frozenset[str]:
    """The objectives and constraints declared `kind: cost`."""
    return frozenset(m.name for m in [*spec.objectives, *spec.constraints] if m.kind == "cost")


def probed_costs(outputs: Iterable[Any]) -> frozenset[str]:
    """The cost metrics every probe output reported under `costs` (they are in the hash)."""
    found = None
    for out in outputs:
        costs = out.get(COSTS_KEY) if isinstance(out, dict) else None
        names = frozenset(costs) if isinstance(costs, dict) else frozenset()
        found = names if found is None else found & names
    return found or frozenset()


def sources(rows: Iterable[tuple[str, dict | None]], stage_names: list[str]) -> dict[str, str]:
    """Metric -> the search stage whose value a program's metrics hold (the last to report it),
    from its evaluations rows (stage, metrics) in order; a cost-only row counts as its stage."""
    out: dict[str, str] = {}
    for stage, metrics in rows:
        stage = stage.removeprefix(COST_PREFIX)
        if stage in stage_names:
            out.update({name: stage for name in metrics or {}})
    return out


def cost_stages(stages: list[Stage], names: Iterable[str], source: dict[str, str], known: dict,
                done: Iterable[str] = ()) -> list[Stage]:
    """The stages to run again in cost mode: those that supplied one of `names` (all of them when the
    source of one is unknown), less the stages already run in full (`done`)."""
    names = list(names)
    wanted = {source.get(n) for n in names}
    skip = set(done)
    return [cost_stage(s, known) for s in stages
            if (None in wanted or s.name in wanted) and s.name not in skip]


def cost_stage(stage: Stage, known: dict) -> Stage:
    """`stage` as a cost-only run: `measure: cost`, the original's behaviour metrics as `known`, no `require`
    (what it checks is the original's)."""
    return Stage(name=stage.name, workload={**stage.workload, "measure": "cost", "known": known})


def merge(original: dict, outcomes: list, names: Iterable[str], source: dict[str, str],
          required: Iterable[str]) -> tuple[dict | None, str]:
    """The child's metrics: the original's, with each of `names` taken from the child's own run of the stage
    that supplies it. (None, why) when a run failed or left out one of `required`: evaluate in full."""
    merged, by_stage = dict(original), {o.stage.name: o for o in outcomes}
    for o in outcomes:
        if o.status != "ok":
            return None, f"the cost-only run of stage '{o.stage.name}' ended {o.status}: {o.error[-200:]}"
        if o.metrics.get("valid") is False:
            return None, f"the cost-only run of stage '{o.stage.name}' failed: {o.error or o.artifacts.get('error')}"
    for name in names:
        run = by_stage.get(source.get(name, ""))
        found = [o.metrics[name] for o in outcomes if name in o.metrics]
        if run is not None and name in run.metrics:
            merged[name] = run.metrics[name]
        elif found:
            merged[name] = found[-1]
        elif name in set(required):
            return None, f"the cost-only runs did not report '{name}' (an evaluator without `measure: cost`?)"
    return merged, ""
