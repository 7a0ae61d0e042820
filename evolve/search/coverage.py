"""Does the functional hash cover everything the score depends on? (`evolve check`, before a run)

Every objective and constraint is either `behaviour` (the probe's outputs determine it) or
`cost`. Three experiments on the starting program find the ones declared wrongly:
  - evaluated twice: a behaviour metric that changes is noisy (a runtime), not behaviour;
  - a copy with one dead computation (evolve/search/variants.py): where the probe gives
    the same outputs, a behaviour metric that changes is a cost the probe does not see
    (an op count);
  - each cost the probe reports under `costs` must equal what the evaluation measures,
    and the others are measured alone, as for a hit (a cost-only run), to show they can be.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from evolve.search import fhash, partial, variants
from evolve.search.scoring import assess

NOISY_FIX = "declare it `kind: cost` (a hit then measures it again) or set `dedup.functional: false`"
HIDDEN_FIX = ("declare it `kind: cost` and report it from probe() under `costs` (it then enters the hash), "
              "or set `dedup.functional: false`")


@dataclass
class Coverage:
    noisy: dict[str, tuple] = field(default_factory=dict)  # behaviour metric -> its two values
    hidden: dict[str, tuple] = field(default_factory=dict)  # behaviour metric -> (starting program, dead-code twin)
    probed: dict[str, tuple] = field(default_factory=dict)  # cost -> (the probe's value, the evaluation's)
    remeasured: dict[str, object] = field(default_factory=dict)  # cost -> its cost-only value (None: not reported)
    labels: dict[str, str] = field(default_factory=dict)  # name -> objective | constraint
    twin: str = ""  # what the dead-code experiment showed
    cost_s: float = 0.0  # the cost-only runs
    full_s: float = 0.0  # a full evaluation

    def refusals(self) -> list[str]:
        """One message per objective or constraint the hash does not cover: what showed it, and the fix."""
        out = [f"{self.labels.get(name, 'metric')} '{name}' is not determined by the probe's outputs: two evaluations "
               f"of the starting program gave {a!r} and {b!r}: {NOISY_FIX}" for name, (a, b) in self.noisy.items()]
        out += [f"{self.labels.get(name, 'metric')} '{name}' is not determined by the probe's outputs: a copy of the "
                "starting program with one dead "
                f"computation gives the same probe outputs but {name} = {b!r} (the starting program: {a!r}): "
                f"{HIDDEN_FIX}" for name, (a, b) in self.hidden.items()]
        out += [f"probe() reports cost '{name}' = {a!r} but the evaluation measures {b!r}: measure it on the same "
                "inputs as the stage that reports it" for name, (a, b) in self.probed.items() if not _same(a, b)]
        return out


async def measure(problem, executor, outcomes: list, probe_outputs: list, rng: random.Random | None = None) -> Coverage:
    """The three experiments, given the starting program's evaluation and its probe outputs."""
    spec, code = problem.spec, problem.initial_code
    labels = {**{c.name: "constraint" for c in spec.constraints}, **{o.name: "objective" for o in spec.objectives}}
    cov = Coverage(full_s=sum(o.wall_s for o in outcomes), labels=labels)
    first = _metrics(spec, outcomes)
    again = _metrics(spec, await executor.evaluate(code))
    behaviour = [n for n in _declared(spec) if n not in partial.cost_names(spec)]
    cov.noisy = {n: (first.get(n), again.get(n)) for n in behaviour if not _same(first.get(n), again.get(n))}
    costs = sorted(partial.cost_names(spec))
    reported = probe_outputs[0].get(partial.COSTS_KEY, {}) if isinstance(probe_outputs[0], dict) else {}
    cov.probed = {n: (reported[n], first.get(n)) for n in costs if n in reported}
    await _twin(problem, executor, probe_outputs, first, [n for n in behaviour if n not in cov.noisy], cov, rng)
    rest = [n for n in costs if n not in reported]
    if rest:
        source = partial.sources([(o.stage.name, o.metrics) for o in outcomes], [s.name for s in spec.workloads.stages])
        known = {k: v for k, v in first.items() if k not in costs}
        runs = await executor.evaluate(code, partial.cost_stages(spec.workloads.stages, rest, source, known))
        cov.cost_s = sum(o.wall_s for o in runs)
        found = {k: v for o in runs if o.status == "ok" for k, v in o.metrics.items()}
        cov.remeasured = {n: found.get(n) for n in rest}
    return cov


async def _twin(problem, executor, probe_outputs, first: dict, stable: list[str], cov: Coverage, rng) -> None:
    twin = variants.dead_copy(problem.initial_code, rng or random.Random(0))
    if twin is None:
        cov.twin = "no assignment to copy in the EVOLVE-BLOCKs: the dead-code experiment did not run"
        return
    result = await executor.probe(twin, repeat=1)
    key = fhash.problem_key(problem)
    try:
        same = result.ok and (fhash.functional_hash(key, [result.result[0]], problem.spec.dedup.float_bits)
                              == fhash.functional_hash(key, probe_outputs[:1], problem.spec.dedup.float_bits))
    except fhash.Unhashable:
        same = False
    if not same:
        cov.twin = "a copy with one dead computation changes the probe's outputs (a cost the probe reports)"
        return
    outcomes = await executor.evaluate(twin)
    status, _, metrics, error = assess(problem.spec.objectives, problem.spec.constraints, outcomes)
    if status != "evaluated":
        cov.twin = f"a copy with one dead computation is {status} ({(error or '')[-200:]}): nothing concluded"
        return
    cov.hidden = {n: (first.get(n), metrics.get(n)) for n in stable if not _same(first.get(n), metrics.get(n))}
    cov.twin = "a copy with one dead computation has the same probe outputs" + (
        " and the same metrics" if not cov.hidden else f" but other {', '.join(cov.hidden)}")


def _declared(spec) -> list[str]:
    return list(dict.fromkeys(m.name for m in [*spec.objectives, *spec.constraints]))


def _metrics(spec, outcomes: list) -> dict:
    return assess(spec.objectives, spec.constraints, outcomes)[2] if outcomes else {}


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, (int, float)) or isinstance(b, float) and isinstance(a, (int, float)):
        return a == b or abs(a - b) <= 1e-12 * max(abs(a), abs(b))
    return a == b
