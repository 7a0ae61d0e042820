"""Load a problem directory or YAML file into typed, validated objects.

Every error names the file, the key (with its YAML line where known) and the fix.
"""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

BUILTIN_PROBLEMS = Path(__file__).resolve().parent.parent / "problems"
EVOLVE_START = "EVOLVE-BLOCK-START"
EVOLVE_END = "EVOLVE-BLOCK-END"


class ProblemError(Exception):
    """A problem file is missing or wrong; the message says where and how to fix it."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Objective(_Strict):
    """A metric to optimize. `kind`, for the functional hash: `behaviour` when the probe's outputs determine
    it; `cost` when they do not (op count, code size, runtime): a cost the probe reports under its `costs`
    key enters the hash, any other is measured again for each hit (see evolve/search/partial.py)."""

    name: str
    direction: Literal["max", "min"]
    weight: float = 1.0
    scale: float = Field(1.0, gt=0)
    kind: Literal["behaviour", "cost"] = "behaviour"


class Condition(_Strict):
    """A hard requirement on one metric: `equals`, or a `min` and/or `max` bound."""

    name: str
    equals: bool | float | int | str | None = None
    min: float | None = None
    max: float | None = None
    kind: Literal["behaviour", "cost"] = "behaviour"  # as for objectives (a constraint; unused in `require`)

    @model_validator(mode="after")
    def _one_kind(self) -> "Condition":
        if self.equals is None and self.min is None and self.max is None:
            raise ValueError(f"condition on '{self.name}' needs `equals`, `min` or `max`")
        if self.equals is not None and (self.min is not None or self.max is not None):
            raise ValueError(f"condition on '{self.name}': use `equals` or `min`/`max`, not both")
        return self


class Stage(_Strict):
    name: str
    workload: dict[str, Any] = Field(default_factory=dict)
    require: list[Condition] = Field(default_factory=list)


class Workloads(_Strict):
    probe: dict[str, Any] | None = None
    stages: list[Stage] = Field(min_length=1)
    holdout: list[Stage] = Field(default_factory=list)

    @field_validator("stages")
    @classmethod
    def _unique_names(cls, stages: list[Stage]) -> list[Stage]:
        names = [s.name for s in stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names must be unique, got {names}")
        return stages


class SandboxConfig(_Strict):
    backend: Literal["auto", "bwrap", "process", "docker"] = "auto"
    wall_s: float = Field(60.0, gt=0)
    cpu_s: float = Field(60.0, gt=0)
    memory_mb: int = Field(4096, ge=64)
    output_bytes: int = Field(1_000_000, ge=1024)
    pids: int = Field(256, ge=8)
    tmpfs_mb: int = Field(512, ge=1)
    gpus: int | Literal["auto"] = Field(0)
    timing: bool = False  # an evaluation that measures speed: alone on its GPU, or alone on the machine
    warm: bool = True  # start each evaluation's (single-use) sandbox ahead of need
    allow_root: bool = False  # process backend, as root, where it cannot drop privileges: run candidates as root
    # what a file evaluator reads beside itself (data, helper modules), relative to its folder: the only
    # files of that folder a candidate's sandbox can read besides the evaluator (never the problem's YAML)
    evaluator_files: list[str] = Field(default_factory=list)

    @field_validator("gpus")
    @classmethod
    def _gpus(cls, value):
        if isinstance(value, int) and value < 0:
            raise ValueError("gpus must be 0 or more, or auto")
        return value

    @field_validator("evaluator_files")
    @classmethod
    def _relative(cls, paths: list[str]) -> list[str]:
        for path in paths:
            if Path(path).is_absolute() or ".." in Path(path).parts or Path(path) == Path("."):
                raise ValueError(f"evaluator_files entry '{path}' must name a file or folder inside the "
                                 "evaluator's folder (relative, no '..', not the folder itself)")
        return paths

    @model_validator(mode="after")
    def _root_only_by_name(self) -> "SandboxConfig":
        if self.allow_root and self.backend != "process":
            raise ValueError("sandbox.allow_root applies to sandbox.backend: process only (auto never runs "
                             "candidates as root); set backend: process too, or install bwrap instead")
        return self


class Budget(_Strict):
    iterations: int | None = Field(200, ge=1)
    wall_time: str | None = None
    target_score: float | None = None
    patience: int | None = Field(None, ge=1)

    @field_validator("wall_time")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @property
    def wall_time_s(self) -> float | None:
        return None if self.wall_time is None else parse_duration(self.wall_time)


class Migration(_Strict):
    interval: int = Field(50, ge=0)
    count: int = Field(1, ge=1)
    topology: Literal["ring", "all"] = "ring"


class Feature(_Strict):
    """A MAP-Elites dimension: a reported metric or a built-in (code_length, code_lines), binned."""

    name: str
    bins: int = Field(8, ge=1, le=1000)
    min: float = 0.0
    max: float

    @model_validator(mode="after")
    def _range(self) -> "Feature":
        if self.max <= self.min:
            raise ValueError(f"feature '{self.name}': max ({self.max}) must be above min ({self.min})")
        return self


class Reevaluate(_Strict):
    """For noisy metrics: evaluate the `top` programs `times` more before reporting the best."""

    top: int = Field(0, ge=0)
    times: int = Field(3, ge=1)


class Evolution(_Strict):
    budget: Budget = Field(default_factory=Budget)
    concurrency: int = Field(2, ge=1, le=256)
    seed: int = 0
    islands: int = Field(1, ge=1, le=64)
    population_size: int = Field(100, ge=1)
    selection: Literal["power_law", "weighted", "tournament", "uniform", "best"] = "power_law"
    power_law_alpha: float = Field(1.0, gt=0)
    tournament_size: int = Field(3, ge=1)
    ranking: Literal["weighted", "lexicographic", "pareto"] = "weighted"
    migration: Migration = Field(default_factory=Migration)
    reseed_after: int = Field(0, ge=0)
    features: list[Feature] = Field(default_factory=list)
    inspirations_top: int = Field(2, ge=0)
    inspirations_diverse: int = Field(2, ge=0)
    crossover_rate: float = Field(0.1, ge=0, le=1)
    holdout_top: int = Field(3, ge=0)
    holdout_warn: float = Field(0.1, ge=0)
    reevaluate: Reevaluate = Field(default_factory=Reevaluate)
    deterministic: bool = False  # every choice from the seed, none from timing (evolve/search/sequence.py)


class ModelSpec(_Strict):
    """One model of the ensemble: a litellm model name and how to call it."""

    name: str = Field(min_length=1)  # litellm name: openai/gpt-4.1-mini, anthropic/..., openai/<local> + api_base
    weight: float = Field(1.0, ge=0)
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(4096, ge=1)
    api_base: str | None = None
    api_key_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    input_cost_per_token: float | None = Field(None, ge=0)  # USD; overrides litellm's price map
    output_cost_per_token: float | None = Field(None, ge=0)
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = None
    timeout_s: float = Field(300.0, gt=0)
    # how calls are sent: litellm, or plain HTTP to an OpenAI-compatible server (evolve.llm.openai_http);
    # auto: HTTP for an openai/<name> at an api_base (vLLM, Ollama, a proxy), litellm for the rest
    client: Literal["auto", "litellm", "http"] = "auto"


class MutationOdds(_Strict):
    """Relative odds of the LLM mutation kinds (crossover only when a partner is given)."""

    diff: float = Field(0.7, ge=0)
    rewrite: float = Field(0.2, ge=0)
    crossover: float = Field(0.1, ge=0)

    @model_validator(mode="after")
    def _some(self) -> "MutationOdds":
        if self.diff + self.rewrite <= 0:
            raise ValueError("diff or rewrite needs odds above 0")
        return self


class LLMBudget(_Strict):
    max_usd: float | None = Field(None, gt=0)
    max_llm_calls: int | None = Field(None, ge=1)


class LLMConfig(_Strict):
    mutator: Literal["offline", "llm"] = "offline"  # "llm" when `models` is given and this key is not
    models: list[ModelSpec] = Field(default_factory=list)
    selection: Literal["weighted", "bandit"] = "weighted"
    exploration: float = Field(1.0, ge=0)  # UCB exploration constant of the bandit
    cost_aware: bool = False  # bandit: divide a model's value by its relative cost per call
    mutation: MutationOdds = Field(default_factory=MutationOdds)
    concurrency: int = Field(4, ge=1, le=256)
    max_patch_attempts: int = Field(1, ge=1, le=5)
    retries: int = Field(3, ge=0, le=20)
    backoff_s: float = Field(2.0, ge=0)
    cooldown_after: int = Field(3, ge=1)
    cooldown_s: float = Field(120.0, ge=0)
    preflight: Literal["probe", "check", "off"] = "probe"
    feedback_chars: int = Field(3000, ge=100)
    budget: LLMBudget = Field(default_factory=LLMBudget)

    @model_validator(mode="before")
    @classmethod
    def _default_mutator(cls, data):
        if isinstance(data, dict) and "mutator" not in data and data.get("models"):
            data = {**data, "mutator": "llm"}
        return data

    @model_validator(mode="after")
    def _models_for_llm(self) -> "LLMConfig":
        if self.mutator == "llm" and not self.models:
            raise ValueError("mutator 'llm' needs at least one entry in llm.models")
        if self.models and sum(m.weight for m in self.models) <= 0:
            raise ValueError("at least one of llm.models needs a weight above 0")
        return self


class Dedup(_Strict):
    """How duplicates are caught before evaluation (see evolve/search/fhash.py)."""

    syntactic: bool = True
    functional: bool = True
    float_bits: int = Field(20, ge=1, le=52)
    reevaluate_hits: int = Field(0, ge=0)
    audit_rate: float = Field(0.0, ge=0, le=1)
    tolerance: float = Field(1e-9, ge=0)


class RayConfig(_Strict):
    """Where the Ray cluster is and what one evaluation task asks of it (see evolve/ray_executor.py)."""

    address: str | None = None  # none: a local cluster on this machine; `auto`, `host:port` or `ray://host:port`
    num_cpus: float = Field(1.0, gt=0)
    num_gpus: float | None = Field(None, ge=0)  # fractional allowed; none: sandbox.gpus (auto: 1 if the cluster has GPUs)
    memory_mb: int | None = Field(None, ge=1)  # declared to Ray's scheduler; none: not declared
    max_retries: int = Field(1, ge=0, le=10)  # a task whose worker or node dies is run again this many times


class ExecutorConfig(_Strict):
    """Where evaluations run: this machine's worker pool, or Ray tasks on a cluster."""

    kind: Literal["local", "ray"] = "local"
    ray: RayConfig = Field(default_factory=RayConfig)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data):
        return {"kind": data} if isinstance(data, str) else data  # `executor: ray`


class DatabaseConfig(_Strict):
    url: str | None = None  # none: runs/<run>/evolve.db (SQLite); or postgresql+psycopg://user@host/db


class ProblemSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    description: str
    program: str
    evaluator: str
    objectives: list[Objective] = Field(min_length=1)
    constraints: list[Condition] = Field(default_factory=list)
    workloads: Workloads
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    evolution: Evolution = Field(default_factory=Evolution)
    dedup: Dedup = Field(default_factory=Dedup)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)


class Problem:
    """A validated problem: its spec plus resolved paths and the starting code."""

    def __init__(self, spec: ProblemSpec, yaml_path: Path, initial_code: str):
        self.spec = spec
        self.yaml_path = yaml_path
        self.root = yaml_path.parent
        self.initial_code = initial_code
        self.settings: dict = {}  # the `--set KEY=VALUE` in force (evolve/overrides.py), remembered by the run

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def evaluator_ref(self) -> str:
        """A dotted module name, or an absolute path to an evaluator file."""
        ev = self.spec.evaluator
        if ev.endswith(".py"):
            return str((self.root / ev).resolve())
        return ev


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_duration(text: str | int | float) -> float:
    """'90s', '30m', '4h', '1d' or a number of seconds -> seconds."""
    if isinstance(text, (int, float)):
        return float(text)
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"'{text}' is not a duration; write e.g. 90s, 30m, 4h or 1d")
    scale = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return float(match.group(1)) * scale


def resolve_problem_path(ref: str | Path) -> Path:
    """A path to a problem dir or YAML file, or the name of a built-in problem -> YAML path."""
    path = Path(ref)
    if not path.exists() and not path.is_absolute() and (BUILTIN_PROBLEMS / str(ref)).is_dir():
        path = BUILTIN_PROBLEMS / str(ref)
    if path.is_dir():
        path = path / "problem.yaml"
    if not path.is_file():
        builtins = ", ".join(sorted(p.name for p in BUILTIN_PROBLEMS.glob("*") if p.is_dir()))
        raise ProblemError(
            f"{ref}: no such problem file or directory. Give a directory holding problem.yaml, "
            f"a YAML file, or a built-in problem name ({builtins})."
        )
    return path.resolve()


def load_problem(ref: str | Path, check_evaluator: bool = True, edit=None) -> Problem:
    """Read, validate and resolve a problem; raise ProblemError with a precise message.

    `edit(mapping) -> mapping`, when given, changes the YAML mapping before it is validated (`--set`)."""
    path = resolve_problem_path(ref)
    data, lines = read_mapping(path, ProblemError, "the file must be a YAML mapping of keys (name, program, evaluator, ...)")
    if edit is not None:
        data = edit(data)
    try:
        spec = ProblemSpec.model_validate(data)
    except ValidationError as exc:
        raise ProblemError(_explain(path, exc, lines)) from None
    program = path.parent / spec.program
    if not program.is_file():
        raise ProblemError(
            f"{path}:{lines.get(('program',), '?')}: key 'program': file {program} does not exist. "
            "Point it at the starting program, relative to the YAML file."
        )
    code = program.read_text(encoding="utf-8")
    _check_markers(program, code)
    problem = Problem(spec, path, code)
    if check_evaluator:
        _check_evaluator(problem, lines)
    return problem


def _check_markers(program: Path, code: str) -> None:
    starts = [line for line in code.splitlines() if line.strip() == f"# {EVOLVE_START}"]
    ends = [line for line in code.splitlines() if line.strip() == f"# {EVOLVE_END}"]
    if not starts or len(starts) != len(ends):
        raise ProblemError(
            f"{program}: the starting program needs matching '# {EVOLVE_START}' and "
            f"'# {EVOLVE_END}' comment lines around the code evolution may change "
            f"(found {len(starts)} start and {len(ends)} end markers)."
        )
    try:
        compile(code, str(program), "exec")
    except SyntaxError as exc:
        raise ProblemError(f"{program}:{exc.lineno}: the starting program does not parse: {exc.msg}.") from None


def _check_evaluator(problem: Problem, lines: dict) -> None:
    ref = problem.evaluator_ref
    where = f"{problem.yaml_path}:{lines.get(('evaluator',), '?')}: key 'evaluator'"
    if ref.endswith(".py"):
        if not Path(ref).is_file():
            raise ProblemError(f"{where}: file {ref} does not exist. Give a .py path relative to the YAML file.")
        return
    try:
        found = importlib.util.find_spec(ref)
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise ProblemError(
            f"{where}: module '{ref}' cannot be imported. Use a module under evaluators/ "
            "(e.g. evaluators.caching) or a path like ./evaluate.py beside the YAML file."
        )


def _explain(path: Path, exc: ValidationError, lines: dict) -> str:
    parts = [f"{path}: invalid problem file:"]
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc) or "(top level)"
        line = _nearest_line(loc, lines)
        where = f"line {line}: " if line else ""
        if err["type"] == "extra_forbidden":
            fix = "unknown key; remove it or check its spelling against the README's reference table"
        elif err["type"] == "missing":
            fix = "required key is missing; add it"
        else:
            fix = f"{err['msg']} (got {err.get('input')!r})"
        parts.append(f"  {where}key '{key}': {fix}")
    return "\n".join(parts)


def _nearest_line(loc: tuple, lines: dict) -> int | None:
    for n in range(len(loc), 0, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def read_mapping(path: Path, error: type[Exception], shape: str) -> tuple[dict, dict[tuple, int]]:
    """A YAML file's mapping and the line of each key path; `error` naming the file (and `shape`, the
    mapping it must be) otherwise."""
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
        lines = _key_lines(text)
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}. Fix the syntax at the line shown.") from None
    if not isinstance(data, dict):
        raise error(f"{path}: {shape}.")
    return data, lines


def _key_lines(text: str) -> dict[tuple, int]:
    """Map each key path (('workloads', 'stages', 0, 'name')) to its 1-based YAML line."""
    root = yaml.compose(text)
    out: dict[tuple, int] = {}

    def walk(node, prefix: tuple) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                path = prefix + (key.value,)
                out[path] = key.start_mark.line + 1
                walk(value, path)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                out[prefix + (i,)] = item.start_mark.line + 1
                walk(item, prefix + (i,))

    if root is not None:
        walk(root, ())
    return out
