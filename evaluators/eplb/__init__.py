"""MoE expert-parallel load balancing (EPLB): score a candidate `rebalance_experts`.

evaluate(): for each rebalance window w, build a placement from window w's loads,
score GPU balancedness on window w (in-sample) and w + 1 (what serving sees),
and time the candidate (median of several calls, evaluator's own clock).
With `measure: cost` in the workload only the runtime is measured (the same timed calls,
unchecked and unscored) and `adrs_score` is computed from the `known` balancedness: how a
functional hit, whose placements are its original's, is scored.
With `scoring: adrs` the runtime is the mean of the timed calls and the leaderboard's own
metrics are added (adrs.py): `adrs_score` becomes the ADRS leaderboard's scalar.
probe(): the placements on the probe workload's windows, up to what no metric can see.
"""
from __future__ import annotations

import copy
import json
import statistics

import numpy as np

from evaluators.common import CandidateError, failure, fingerprint, load_candidate, require_callable, unchanged

from .adrs import harness_window, leaderboard_metrics, leaderboard_score
from .runner import API, extra_timings, place, timed_call
from .simulate import adrs_score, score_window
from .workloads import GENERATOR_VERSION, NAMED, Workload, WorkloadError, build_workload

__all__ = ["evaluate", "probe", "prepare", "GENERATOR_VERSION", "NAMED"]


_PREPARED: dict[str, Workload] = {}  # built by prepare(), before any candidate: handed out as copies


def prepare(workload: dict | None = None) -> None:
    """Build a search workload once per fork server or warm sandbox (sandbox.runner's --prepare), so that a
    candidate's evaluation and probe copy its arrays instead of generating them (a probe workload: one
    per seed). A candidate never gets the prepared arrays themselves, only a copy of its own."""
    workload = dict(workload or {})
    workload.pop("measure", None)  # a partial evaluation's keys: the same workload to build
    workload.pop("known", None)
    specs = _seeded(workload) if "seeds" in workload else [workload, *_seeded(workload)]
    for spec in specs:
        _PREPARED.setdefault(_key(spec), build_workload(spec))


def _seeded(workload: dict) -> list[dict]:
    """A probe workload as one workload per seed (`seeds`, else the one `seed`)."""
    workload = dict(workload)
    seeds = workload.pop("seeds", None) or [workload.pop("seed", 0)]
    return [{**workload, "seed": seed} for seed in seeds]


def _key(spec: dict) -> str:
    return json.dumps(spec, sort_keys=True, default=str)


def _workload(spec: dict) -> Workload:
    """build_workload(spec), copied from what prepare() built when it built this one."""
    made = _PREPARED.get(_key(spec))
    return copy.deepcopy(made) if made is not None else build_workload(spec)


def _mean(rows: list[dict], key: str) -> float:
    return float(np.mean([r[key] for r in rows]))


def evaluate(program_path: str, workload: dict | None = None) -> dict:
    """Score the candidate at `program_path` on the workload; never raises for a bad candidate."""
    workload = dict(workload or {})
    measure, known = workload.pop("measure", "all"), workload.pop("known", None) or {}
    try:
        wl = _workload(workload)
    except WorkloadError as exc:
        return failure(f"bad workload: {exc}")
    if measure == "cost":
        return _costs(program_path, wl, known)
    before = fingerprint(wl.load)  # the loads are built before the candidate is imported
    try:
        fn = require_callable(load_candidate(program_path), API)
        rows, times = measure_windows(fn, wl)
        unchanged(before, wl.load, "expert loads")
    except CandidateError as exc:
        return failure(str(exc))
    metrics = ours_metrics(rows, times)
    if wl.scoring == "adrs":
        metrics.update(leaderboard_metrics(rows, times))
    artifacts = {"workload": wl.describe(), "windows": rows,
                 "call_seconds": [round(t, 6) for t in times], "feedback": _feedback(metrics, wl, len(times))}
    return {"metrics": metrics, "artifacts": artifacts}


def measure_windows(fn, wl) -> tuple[list[dict], list[float]]:
    """Place and serve every rebalance window (one timed call each), then time more calls: (rows, seconds)."""
    rows, times = [], []
    for w in range(wl.eval_windows):
        (phy2log, _, logcnt), elapsed = place(fn, wl, w)
        times.append(elapsed)
        now = score_window(wl.load[w], phy2log, logcnt, wl.setup)
        nxt = score_window(wl.load[w + 1], phy2log, logcnt, wl.setup)
        if wl.scoring == "adrs":
            nxt.update(harness_window(wl.load[w + 1], phy2log, logcnt, wl.setup))
        rows.append({"window": w, **now, **{f"{k}_next": v for k, v in nxt.items()}})
    return rows, extra_timings(fn, wl, times)


def ours_metrics(rows: list[dict], times: list[float]) -> dict:
    """This evaluator's metrics: per-layer balancedness averaged, median runtime, adrs_score of both."""
    runtime = statistics.median(times)
    balance = _mean(rows, "balancedness")
    return {
        "valid": True,
        "balancedness": balance,
        "balancedness_next": _mean(rows, "balancedness_next"),
        "node_balancedness": _mean(rows, "node_balancedness"),
        "node_balancedness_next": _mean(rows, "node_balancedness_next"),
        "worst_layer_balancedness": min(r["worst_layer"] for r in rows),
        "unserved_next": _mean(rows, "unserved_next"),
        "runtime_s": runtime,
        "adrs_score": adrs_score(balance, runtime),
    }


def _feedback(m: dict, wl, calls: int) -> str:
    text = (f"GPU balancedness {m['balancedness']:.4f} in-sample, {m['balancedness_next']:.4f} on the next window; ")
    if wl.scoring == "adrs":
        text += (f"as the ADRS leaderboard scores: {m['adrs_balancedness_next']:.4f} on the next window (ratio of "
                 f"sums over layers), score {m['adrs_score']:.2f}"
                 + (f" (0: {m['adrs_unhandled_next']} next-window loads without a replica)"
                    if m["adrs_unhandled_next"] else "") + "; ")
    how = "mean" if wl.scoring == "adrs" else "median"
    return text + f"runtime {m['runtime_s'] * 1e3:.2f} ms for {wl.setup.num_layers} layers ({how} of {calls} calls)"


def _costs(program_path: str, wl, known: dict) -> dict:
    """The runtime alone, timed on the same calls as a full evaluation; adrs_score from `known` balancedness."""
    try:
        fn = require_callable(load_candidate(program_path), API)
        times = [timed_call(fn, wl, w) for w in range(wl.eval_windows)]
        times = extra_timings(fn, wl, times)
    except CandidateError as exc:
        return failure(str(exc))
    if wl.scoring == "adrs":
        return _adrs_costs(times, known)
    runtime = statistics.median(times)
    metrics = {"runtime_s": runtime}
    if isinstance(known.get("balancedness"), (int, float)):
        metrics["adrs_score"] = adrs_score(float(known["balancedness"]), runtime)
    feedback = f"runtime {runtime * 1e3:.2f} ms (median of {len(times)} calls)"
    return {"metrics": metrics, "artifacts": {"call_seconds": [round(t, 6) for t in times], "feedback": feedback}}


def _adrs_costs(times: list[float], known: dict) -> dict:
    """`measure: cost` under `scoring: adrs`: the mean runtime, and the leaderboard's scalar from the known
    next-window balancedness (and unhandled count)."""
    runtime = float(np.mean(times))
    metrics = {"runtime_s": runtime}
    if isinstance(known.get("adrs_balancedness_next"), (int, float)):
        unhandled = known.get("adrs_unhandled_next", 0)
        unhandled = int(unhandled) if isinstance(unhandled, (int, float)) and unhandled > 0 else 0
        metrics["adrs_score"] = leaderboard_score(float(known["adrs_balancedness_next"]), runtime, unhandled)
    feedback = f"runtime {runtime * 1e3:.2f} ms (mean of {len(times)} calls)"
    return {"metrics": metrics, "artifacts": {"call_seconds": [round(t, 6) for t in times], "feedback": feedback}}


def probe(program_path: str, workload: dict | None = None):
    """The candidate's placements on the probe workload's windows (one trace per seed of `seeds`, or the one
    `seed`), as the metrics see them: per layer, the experts on each GPU and the GPUs on each node as sorted
    lists (slot order, GPU order within a node and node order change no load: placements differing only
    there share a hash)."""
    try:
        loads = [_workload(spec) for spec in _seeded(workload or {"name": "tiny", "seed": 0})]
    except WorkloadError as exc:
        return {"error": f"bad workload: {exc}"}
    try:
        fn = require_callable(load_candidate(program_path), API)
        return [canonical(place(fn, wl, w)[0][0], wl.setup) for wl in loads for w in range(wl.eval_windows)]
    except CandidateError as exc:
        return {"error": str(exc)}


def canonical(phy2log: np.ndarray, setup) -> list:
    """phy2log [layers, slots] up to slot order on a GPU, GPU order on a node and node order."""
    gpus = np.sort(phy2log.reshape(setup.num_layers, setup.num_gpus, setup.slots_per_gpu), axis=2).tolist()
    per_node = setup.num_gpus // setup.num_nodes
    return [sorted(sorted(layer[n * per_node:(n + 1) * per_node]) for n in range(setup.num_nodes))
            for layer in gpus]
