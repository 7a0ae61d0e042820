"""GPU model placement: workloads, KV-cache pressure, validation, baselines and a lower bound."""
from __future__ import annotations

import random
from dataclasses import dataclass

GPU_MEM_GB = 80
FULL_PRESSURE = 1e6  # a GPU with no free memory (the published harness's figure)


@dataclass(frozen=True)
class Model:
    """One model to place: size in GB, request rate (req/s) and SLO (latency units)."""

    model_name: str
    model_size: int
    req_rate: int
    slo: int


@dataclass(frozen=True)
class Case:
    """One test case: how many GPUs and the models to place on them."""

    gpu_num: int
    models: tuple[Model, ...]


def make_cases(seed: int = 42, count: int = 50, gpus: tuple[int, int] = (5, 9)) -> list[Case]:
    """`count` cases in the published shape: 5-9 GPUs, 2 models per GPU, size 10-29, rate 1-9, SLO 5-9."""
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        n = rng.randint(*gpus)
        models = tuple(Model(f"model_{j}", rng.randint(10, 29), rng.randint(1, 9), rng.randint(5, 9))
                       for j in range(2 * n))
        cases.append(Case(n, models))
    return cases


def gpu_pressure(models) -> float:
    """KV-cache pressure of one GPU: sum(rate/slo) / free GB; an empty GPU is 0, a full one FULL_PRESSURE."""
    free = GPU_MEM_GB - sum(m.model_size for m in models)
    load = sum(m.req_rate / m.slo for m in models)
    return load / free if free > 0 else FULL_PRESSURE


def max_pressure(placement: dict[int, list[Model]]) -> float:
    """The objective: the highest pressure over all GPUs."""
    return max((gpu_pressure(ms) for ms in placement.values()), default=0.0)


def check(case: Case, answer) -> tuple[dict[int, list[Model]] | None, str]:
    """The answer as {gpu: [Model]} and "", or None and the reason it is invalid."""
    if not isinstance(answer, dict):
        return None, f"expected a dict gpu id -> list of model names, got {type(answer).__name__}"
    by_name = {m.model_name: m for m in case.models}
    placement: dict[int, list[Model]] = {g: [] for g in range(case.gpu_num)}
    seen: dict[str, object] = {}
    for gpu, names in answer.items():
        if not isinstance(gpu, int) or isinstance(gpu, bool) or gpu not in placement:
            return None, f"unknown GPU {gpu!r}: ids are 0..{case.gpu_num - 1}"
        if not isinstance(names, (list, tuple)):
            return None, f"GPU {gpu}: expected a list of model names, got {type(names).__name__}"
        for item in names:
            name = getattr(item, "model_name", item)
            if not isinstance(name, str) or name not in by_name:
                return None, f"GPU {gpu}: unknown model {name!r}"
            if name in seen:
                return None, f"model {name} placed twice (GPUs {seen[name]} and {gpu})"
            seen[name] = gpu
            placement[gpu].append(by_name[name])
    missing = [m.model_name for m in case.models if m.model_name not in seen]
    if missing:
        return None, f"{len(missing)} model(s) not placed, e.g. {missing[0]}"
    for gpu, ms in placement.items():
        used = sum(m.model_size for m in ms)
        if used > GPU_MEM_GB:
            return None, f"GPU {gpu} overflows: {used} GB > {GPU_MEM_GB} GB"
    return placement, ""


def round_robin(case: Case) -> dict[int, list[Model]]:
    """The published 0-point reference: model i on GPU i mod n."""
    placement: dict[int, list[Model]] = {g: [] for g in range(case.gpu_num)}
    for i, m in enumerate(case.models):
        placement[i % case.gpu_num].append(m)
    return placement


def first_fit_by_size(case: Case) -> dict[int, list[Model]]:
    """First-fit decreasing by size: each model on the first GPU it fits on."""
    placement: dict[int, list[Model]] = {g: [] for g in range(case.gpu_num)}
    for m in sorted(case.models, key=lambda m: -m.model_size):
        gpu = next((g for g, ms in placement.items() if sum(x.model_size for x in ms) + m.model_size <= GPU_MEM_GB), 0)
        placement[gpu].append(m)
    return placement


def greedy_least_pressure(case: Case) -> dict[int, list[Model]]:
    """Heaviest load first, each on the GPU whose pressure after adding it is least (among those it fits)."""
    placement: dict[int, list[Model]] = {g: [] for g in range(case.gpu_num)}
    for m in sorted(case.models, key=lambda m: -m.req_rate / m.slo):
        fits = [g for g, ms in placement.items() if sum(x.model_size for x in ms) + m.model_size < GPU_MEM_GB]
        gpu = min(fits or placement, key=lambda g: (gpu_pressure(placement[g] + [m]), g))
        placement[gpu].append(m)
    return placement


BASELINES = {"round_robin": round_robin, "first_fit_by_size": first_fit_by_size,
             "greedy_least_pressure": greedy_least_pressure}


def published_optimal(case: Case) -> float:
    """The published 100-point reference: total load / total free memory (perfect balance)."""
    free = case.gpu_num * GPU_MEM_GB - sum(m.model_size for m in case.models)
    return sum(m.req_rate / m.slo for m in case.models) / free if free > 0 else 0.0


def lower_bound(case: Case) -> float:
    """No placement beats this: max(perfect balance, each model alone on a GPU).

    max_g L_g/F_g >= sum L_g / sum F_g (a max of ratios is at least the ratio of sums), and the GPU that
    holds model m has pressure >= (rate/slo) / (80 - size) of m alone.
    """
    alone = max(m.req_rate / m.slo / (GPU_MEM_GB - m.model_size) for m in case.models)
    return max(published_optimal(case), alone)


def published_case_score(solution: float, baseline: float, optimal: float) -> float:
    """The leaderboard's per-case score: 100 * sqrt of the share of the way from round-robin to optimal."""
    if baseline > optimal:
        ratio = max(0.0, min(1.0, (baseline - solution) / (baseline - optimal)))
        return 100.0 * ratio ** 0.5
    return 100.0 if solution <= optimal else 0.0
