"""Evaluator for `problems/gpu_model_placement`: max KV-cache pressure of the candidate's placements.

The candidate defines `place(gpu_num, models) -> {gpu id: [model names]}` (see the problem README).
Workload mapping: `seed` (cases are drawn from it), `cases` (how many), `gpus` ([min, max] per case).
The probe's workload is `{stages: [workload, ...]}`: the stages' own workloads, in order (see probe()).
"""
from __future__ import annotations

import functools

from ..common import (
    CandidateError, call_candidate, failure, load_candidate, perf_counter, probe_decisions, require_callable,
)
from .prism_sim import BASELINES, Case, check, lower_bound, make_cases, max_pressure, published_case_score
from .prism_sim import published_optimal, round_robin


def cases_for(workload: dict) -> list[Case]:
    """The cases a workload mapping names (defaults: the published 50 cases' shape, seed 42)."""
    lo, hi = workload.get("gpus", (5, 9))
    return make_cases(int(workload.get("seed", 42)), int(workload.get("cases", 50)), (int(lo), int(hi)))


def run_policy(place, cases: list[Case]) -> tuple[list[dict] | None, list[float], str]:
    """Call `place` on every case: (answers as names, max pressures, "") or (None, [], reason)."""
    answers, pressures = [], []
    for i, case in enumerate(cases):
        answer = call_candidate(place, case.gpu_num, list(case.models))
        placement, reason = check(case, answer)
        if placement is None:
            return None, [], f"case {i} ({case.gpu_num} GPUs, {len(case.models)} models): {reason}"
        answers.append({str(g): [m.model_name for m in ms] for g, ms in sorted(placement.items())})
        pressures.append(max_pressure(placement))
    return answers, pressures, ""


def score_pressures(cases: list[Case], pressures: list[float]) -> dict:
    """Metrics from per-case max pressures: the mean, the published 0-100 score, the gap to the bound."""
    return score_against(references(cases), pressures)


def references(cases) -> tuple[list[float], list[float], list[float]]:
    """Per case, what the metrics compare a pressure with: round-robin's, the published optimum, the bound."""
    return ([max_pressure(round_robin(c)) for c in cases], [published_optimal(c) for c in cases],
            [lower_bound(c) for c in cases])


def score_against(refs: tuple[list[float], list[float], list[float]], pressures: list[float]) -> dict:
    """score_pressures() with the references made ahead."""
    rr, opt, lb = refs
    n = len(rr)
    return {"valid": True, "max_pressure": sum(pressures) / n,
            "adrs_score": sum(published_case_score(s, b, o) for s, b, o in zip(pressures, rr, opt)) / n,
            "gap_to_bound": sum(p / b for p, b in zip(pressures, lb)) / n - 1.0}


def evaluate(program_path: str, workload: dict) -> dict:
    """Run the candidate on the workload's cases; invalid placements fail with the reason."""
    cases = cases_for(workload)
    start = perf_counter()
    try:
        place = require_callable(load_candidate(program_path), "place")
        answers, pressures, reason = run_policy(place, cases)
    except CandidateError as exc:
        return failure(str(exc))
    if answers is None:
        return failure(reason)
    metrics = score_pressures(cases, pressures)
    return {"metrics": metrics, "artifacts": {
        "per_case_max_pressure": [round(p, 6) for p in pressures],
        "lower_bound_mean": sum(lower_bound(c) for c in cases) / len(cases),
        "candidate_seconds": round(perf_counter() - start, 4)}}


def probe(program_path: str, workload: dict):
    """The last stage's metrics, bit for bit (as `repr` strings: the hash rounds floats), or the reason the
    candidate is invalid: equal outputs mean equal metrics, and only they do.

    `stages` lists the stages' own workloads, in order; each is run in turn. Nothing less than every case
    decides the score: the metrics are means over all the cases, and two programs can place alike on 49
    cases in 50 (the evaluation is the candidate's calls, so this probe costs about as much). A passing
    stage's metrics replace the earlier ones; an invalid answer (or a raise) ends the probe with its
    reason and the earlier stages' metrics, which the failed run keeps."""
    stages = [(_cached_cases(w), _cached_references(w)) for w in workload.get("stages") or [workload]]

    def decide(place):
        done = []
        for i, (cases, refs) in enumerate(stages):
            try:
                answers, pressures, reason = run_policy(place, list(cases))
            except CandidateError as exc:  # it raised: as invalid as a bad answer
                answers, reason = None, str(exc)
            if answers is None:
                return {"error": f"stage {i}: {reason}", "before": done}, ""
            done.append({k: repr(v) for k, v in score_against(refs, pressures).items()})
        return done[-1], ""
    return probe_decisions(program_path, "place", decide)


def prepare(workload: dict) -> None:
    """Make the probe's cases and references ahead (sandbox.runner calls this before any candidate): a probe
    then costs the candidate's calls alone. evaluate() makes its own cases: what a candidate does to these
    reaches its own probe only."""
    for w in workload.get("stages") or [workload]:
        _cached_references(w)


def _key(workload: dict) -> tuple[int, int, int, int]:
    lo, hi = workload.get("gpus", (5, 9))
    return int(workload.get("seed", 42)), int(workload.get("cases", 50)), int(lo), int(hi)


def _cached_cases(workload: dict) -> tuple[Case, ...]:
    return _cases(*_key(workload))


def _cached_references(workload: dict):
    return _references(*_key(workload))


@functools.lru_cache(maxsize=16)
def _cases(seed: int, count: int, lo: int, hi: int) -> tuple[Case, ...]:
    """The probe's cases, made once per process (it runs twice in one; the cases are frozen)."""
    return tuple(make_cases(seed, count, (lo, hi)))


@functools.lru_cache(maxsize=16)
def _references(seed: int, count: int, lo: int, hi: int):
    """references() of the probe's cases, made before the candidate can touch them."""
    return references(_cases(seed, count, lo, hi))


def baseline_metrics(workload: dict) -> dict[str, dict]:
    """Metrics of each baseline on the workload's cases (for tests and the benchmark)."""
    cases = cases_for(workload)
    out = {}
    for name, fn in BASELINES.items():
        placements = [fn(c) for c in cases]
        bad = [i for i, (c, p) in enumerate(zip(cases, placements)) if check(c, {g: list(ms) for g, ms in p.items()})[0] is None]
        out[name] = {**score_pressures(cases, [max_pressure(p) for p in placements]), "valid": not bad}
    out["lower_bound"] = {"max_pressure": sum(lower_bound(c) for c in cases) / len(cases)}
    return out
