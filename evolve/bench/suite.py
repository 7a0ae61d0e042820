"""The suite file: problems x arms x seeds under one per-run budget, validated into the runs to make.

```yaml
name: smoke                       # default bench name (else the file's stem)
problems: [cache_eviction, ./my_problem]          # built-in names, or paths relative to this file
arms:
  - {name: power_law, settings: {}}
  - {name: tournament, settings: {evolution.selection: tournament}}
seeds: [0, 1]                     # each seed an independent run (evolution.seed)
budget: {iterations: 20, wall_time: 10m, max_usd: 2}   # per run
settings: {sandbox.wall_s: 10}    # for every run, under the arm's
references: [{problem: cache_eviction, label: LRU, metric: hit_rate, value: 0.2965, source: README}]
```

Every setting is a `--set KEY=VALUE` of the runs (evolve/overrides.py) and is checked against every
problem before anything runs. Errors name the file, the line, the key and the fix.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from evolve import overrides
from evolve.bench.references import Reference
from evolve.problem import ProblemError, load_problem, parse_duration, read_mapping

NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"
SEED_KEY = "evolution.seed"
BUDGET_KEYS = {"iterations": "evolution.budget.iterations", "wall_time": "evolution.budget.wall_time",
               "max_usd": "llm.budget.max_usd"}


class SuiteError(ProblemError):
    """A suite file is missing or wrong; the message names the file, the key and the fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _canonical(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings with their keys checked against the problem schema and spelled canonically."""
    out = {}
    for key, value in settings.items():
        try:
            parts = overrides.split(str(key).strip())
            overrides.check_key(parts)
        except ValueError as exc:
            raise ValueError(f"setting '{key}': {exc}") from None
        canonical = overrides.join(parts)
        if canonical == SEED_KEY:
            raise ValueError(f"setting '{key}': the seeds come from the suite's `seeds` list; remove it here")
        out[canonical] = value
    return out


class RunBudget(_Strict):
    """What one run may spend: iterations (children), wall time per session, LLM dollars."""

    iterations: int | None = Field(None, ge=1)
    wall_time: str | None = None
    max_usd: float | None = Field(None, gt=0)

    @field_validator("wall_time", mode="before")
    @classmethod
    def _duration(cls, value):
        if value is not None:
            parse_duration(value)
            return str(value)
        return value

    @model_validator(mode="after")
    def _some(self):
        if self.iterations is None and self.wall_time is None and self.max_usd is None:
            raise ValueError("give at least one of iterations, wall_time, max_usd, e.g. budget: {iterations: 30}")
        return self

    def settings(self) -> dict[str, Any]:
        return {BUDGET_KEYS[k]: v for k, v in self.model_dump().items() if v is not None}


class Arm(_Strict):
    """One configuration of the search: a name and the settings that make it."""

    name: str = Field(pattern=NAME, max_length=60)
    settings: dict[str, Any] = Field(default_factory=dict)
    description: str | None = None

    @field_validator("settings")
    @classmethod
    def _keys(cls, settings: dict[str, Any]) -> dict[str, Any]:
        return _canonical(settings)


class SuiteReference(_Strict):
    problem: str
    label: str
    metric: str
    value: float
    source: str
    approx: bool = False


class SuiteSpec(_Strict):
    name: str | None = Field(None, pattern=NAME, max_length=60)
    description: str | None = None
    problems: list[str] = Field(min_length=1)
    arms: list[Arm] = Field(min_length=1)
    seeds: list[int] = Field(min_length=1)
    budget: RunBudget
    settings: dict[str, Any] = Field(default_factory=dict)
    references: list[SuiteReference] = Field(default_factory=list)

    @field_validator("settings")
    @classmethod
    def _keys(cls, settings: dict[str, Any]) -> dict[str, Any]:
        return _canonical(settings)

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds: list[int]) -> list[int]:
        if any(s < 0 for s in seeds):
            raise ValueError("seeds are whole numbers, 0 or more")
        if len(set(seeds)) != len(seeds):
            raise ValueError("a seed is listed twice; each seed is one independent run, list it once")
        return seeds

    @field_validator("arms")
    @classmethod
    def _arms(cls, arms: list[Arm]) -> list[Arm]:
        names = [a.name for a in arms]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"arm name(s) {', '.join(twice)} used twice; give each arm its own name")
        return arms


@dataclass(frozen=True)
class Planned:
    """One run of the bench: a problem, an arm and a seed, with the `--set` values that make it."""

    run: str  # BENCH.PROBLEM.ARM.sSEED
    problem: str
    problem_path: str
    arm: str
    seed: int
    settings: dict

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Suite:
    spec: SuiteSpec
    path: Path
    problems: dict[str, str]  # problem name -> its YAML file
    text: str

    @property
    def references(self) -> list[Reference]:
        return [Reference(**r.model_dump()) for r in self.spec.references]

    def plan(self, bench: str) -> list[Planned]:
        """Every problem x arm x seed, seed by seed (so a stopped bench has every arm of the first seeds)."""
        out = []
        for seed in self.spec.seeds:
            for problem, path in self.problems.items():
                for arm in self.spec.arms:
                    settings = overrides.merge(self.spec.budget.settings(), self.spec.settings, arm.settings,
                                               {SEED_KEY: seed})
                    out.append(Planned(f"{bench}.{problem}.{arm.name}.s{seed}", problem, path, arm.name, seed,
                                       settings))
        return out


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite file and check each arm's settings against each problem."""
    path = Path(path)
    if not path.is_file():
        raise SuiteError(f"{path}: no such suite file. Give a YAML file with problems, arms, seeds and budget "
                         "(e.g. suites/smoke.yaml).")
    data, lines = read_mapping(path, SuiteError, "a suite file is a YAML mapping with keys problems, arms, seeds, budget")
    try:
        spec = SuiteSpec.model_validate(data)
    except ValidationError as exc:
        raise SuiteError(_explain(path, exc, lines)) from None
    suite = Suite(spec, path, _problems(path, spec, lines), path.read_text(encoding="utf-8"))
    _check_settings(suite, lines)
    return suite


def _explain(path: Path, exc: ValidationError, lines: dict) -> str:
    parts = [f"{path}: invalid suite file:"]
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc) or "(top level)"
        line = next((lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lines), None)
        where = f"line {line}: " if line else ""
        if err["type"] == "extra_forbidden":
            fix = ("unknown key; a suite has name, description, problems, arms (name, settings, description), "
                   "seeds, budget (iterations, wall_time, max_usd), settings and references")
        elif err["type"] == "missing":
            fix = "required key is missing; add it"
        elif err["type"] == "string_type" and isinstance(err.get("input"), bool):
            fix = (f"YAML read this as {err['input']!r} (yes/no/on/off/true/false are booleans); quote it, "
                   "e.g. name: 'off'")
        elif err["type"] == "string_pattern_mismatch":
            fix = (f"{err.get('input')!r} is not a usable name; use letters, digits, '_' and '-', starting with "
                   "a letter or digit (it becomes part of run names)")
        else:
            fix = f"{err['msg'].removeprefix('Value error, ')} (got {err.get('input')!r})"
        parts.append(f"  {where}key '{key}': {fix}")
    return "\n".join(parts)


def _problems(path: Path, spec: SuiteSpec, lines: dict) -> dict[str, str]:
    """Problem name -> YAML file; a path is looked up beside the suite file first."""
    out: dict[str, str] = {}
    for i, ref in enumerate(spec.problems):
        where = f"{path}:{lines.get(('problems', i), '?')}: problems[{i}] '{ref}'"
        local = path.parent / ref
        try:
            problem = load_problem(local if local.exists() else ref)
        except ProblemError as exc:
            raise SuiteError(f"{where}: {exc}") from None
        if problem.name in out:
            raise SuiteError(f"{where}: a second problem named '{problem.name}' (runs are named by problem); "
                             "list each problem once.")
        out[problem.name] = str(problem.yaml_path)
    return out


def _check_settings(suite: Suite, lines: dict) -> None:
    """Load every problem with every arm's settings, as its runs will: a bad value fails here, not mid-bench."""
    from evolve.runs import Overrides

    for i, arm in enumerate(suite.spec.arms):
        settings = overrides.merge(suite.spec.budget.settings(), suite.spec.settings, arm.settings)
        for name, yaml_path in suite.problems.items():
            try:
                overrides.load(yaml_path, Overrides(settings=settings))
            except ProblemError as exc:
                line = lines.get(("arms", i, "settings"), lines.get(("arms", i), "?"))
                raise SuiteError(f"{suite.path}:{line}: arm '{arm.name}' on problem '{name}': {exc} "
                                 "(fix the arm's settings, the suite's settings or its budget)") from None
