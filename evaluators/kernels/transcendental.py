"""Evaluator for float32 transcendental kernels (exp_f32, log_f32): ULP error and cost.

Workload keys (all optional): `function` (exp | log), `check` (sample: edge cases and
random points; lattice: points evenly spaced over the float32 bit patterns of the
domain), `points`, `seed`, `domain` ([lo, hi], narrows the function's domain),
`count_ops` (float operations per element on counting arrays), `timing` (time
relative to NumPy's own float32 routine, interleaved, median), `timing_points`,
`repeats`, `chunk` (points per chunk: memory stays bounded).
`measure: cost` (a functional hit's evaluation) measures only the time ratio, where the
stage times. `verify(program_path, workload)` checks every float32 of the domain, or part
`part` of `parts` of it; `evolve verify` runs the parts in the sandbox.
probe(): the output bits (a digest) on the sample stage's points, and the op count on them.
"""
from __future__ import annotations

import functools
import statistics
from pathlib import Path

import numpy as np

from evaluators.common import CandidateError, call_candidate, failure, load_candidate, perf_counter, \
    require_callable

from .floatbits import NAN_ULPS, ErrorTally, chunks, count_in, ordered_of
from .honesty import Dishonest, check_source, trapped
from .opcount import OpRefused, count_ops
from .targets import Target, get_target

DEFAULTS = {"function": "exp", "check": "sample", "points": 100_000, "seed": 1, "domain": None,
            "count_ops": None, "timing": None, "timing_points": 1 << 20, "repeats": 7,
            "chunk": 1 << 20, "part": 0, "parts": 1, "name": None, "measure": "all", "known": None}


class WorkloadError(ValueError):
    pass


def settings(workload: dict | None) -> dict:
    workload = dict(workload or {})
    unknown = set(workload) - set(DEFAULTS)
    if unknown:
        raise WorkloadError(f"unknown workload keys {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    cfg = {**DEFAULTS, **workload}
    if cfg["check"] not in ("sample", "lattice"):
        raise WorkloadError(f"check must be sample or lattice, got {cfg['check']!r}")
    sample = cfg["check"] == "sample"
    cfg["count_ops"] = sample if cfg["count_ops"] is None else bool(cfg["count_ops"])
    cfg["timing"] = (not sample) if cfg["timing"] is None else bool(cfg["timing"])
    if not 0 <= int(cfg["part"]) < int(cfg["parts"]):
        raise WorkloadError(f"part must be in [0, parts), got part={cfg['part']} parts={cfg['parts']}")
    return cfg


def bounds(target: Target, domain) -> tuple[int, int]:
    """Ordered-integer bounds of the checked range: the target's domain, narrowed by `domain`."""
    lo, hi = target.lo, target.hi
    if domain is not None:
        lo, hi = max(lo, float(domain[0])), min(hi, float(domain[1]))
        if lo > hi:
            raise WorkloadError(f"domain {domain} lies outside {target.name}'s [{target.lo}, {target.hi}]")
    return ordered_of(lo), ordered_of(hi)


def run_kernel(fn, x: np.ndarray) -> np.ndarray:
    """Call the candidate on a copy of x and check it returned float32 of x's shape."""
    with np.errstate(all="ignore"):
        out = call_candidate(fn, x.copy())
    if not isinstance(out, np.ndarray):
        raise CandidateError(f"the kernel must return a numpy array, got {type(out).__name__}")
    if out.dtype != np.float32:
        raise CandidateError(f"the kernel must return float32, got {out.dtype}")
    if out.shape != x.shape:
        raise CandidateError(f"the kernel returned shape {out.shape} for input shape {x.shape}")
    return out


def sample_points(target: Target, lo: int, hi: int, n: int, seed: int) -> np.ndarray:
    """Edge cases, then half uniform in x and half uniform over the bit patterns (read-only: made once per
    process, so the probe riding with the sample stage and the stage itself pay for them once)."""
    return _points(target.name, lo, hi, n, seed)


@functools.lru_cache(maxsize=4)
def _points(name: str, lo: int, hi: int, n: int, seed: int) -> np.ndarray:
    from .floatbits import from_ordered
    target = get_target(name)
    rng = np.random.default_rng(seed)
    edges = target.edges(target)
    edges = edges[(edges >= from_ordered(np.array([lo]))[0]) & (edges <= from_ordered(np.array([hi]))[0])]
    rest = max(n - edges.size, 0)
    xlo, xhi = float(from_ordered(np.array([lo]))[0]), float(from_ordered(np.array([hi]))[0])
    uniform = rng.uniform(xlo, xhi, rest // 2).astype(np.float32).clip(xlo, xhi)
    bits = from_ordered(rng.integers(lo, hi + 1, rest - rest // 2, dtype=np.int64))
    points = np.concatenate([edges, uniform, bits]).astype(np.float32)
    points.flags.writeable = False
    return points


def _load(program_path: str, target: Target):
    check_source(Path(program_path).read_text(encoding="utf-8"))
    return require_callable(load_candidate(program_path), target.api)


def _time_ratio(fn, target: Target, lo: int, hi: int, cfg: dict) -> dict:
    x = sample_points(target, lo, hi, int(cfg["timing_points"]), 12345)
    cand, ref = [], []
    run_kernel(fn, x)  # warm up
    for _ in range(int(cfg["repeats"])):
        start = perf_counter()
        run_kernel(fn, x)
        cand.append(perf_counter() - start)
        start = perf_counter()
        target.ref32(x)
        ref.append(perf_counter() - start)
    return {"time_ratio": statistics.median(cand) / statistics.median(ref),
            "kernel_s": cand, "numpy_s": ref}


def _measure(fn, target: Target, cfg: dict, lo: int, hi: int) -> tuple[dict, dict]:
    tally, info = ErrorTally(), {}
    if cfg["check"] == "sample":
        x = sample_points(target, lo, hi, int(cfg["points"]), int(cfg["seed"]))
        got = run_kernel(fn, x)
        tally.add(x, got, target.reference(x))
        if cfg["count_ops"]:
            with np.errstate(all="ignore"):
                counted, ledger = count_ops(fn, x)
            if not np.array_equal(counted.view(np.int32), got.view(np.int32)):
                raise OpRefused("the kernel returns different results on counting arrays than on plain ones")
            info["ops_per_element"] = ledger.elements / x.size
            info["ops"] = ledger.by_op
    else:
        n = int(cfg["points"])
        stride = max(1, (hi - lo + 1) // n)
        for x in chunks(lo, hi, int(cfg["chunk"]), stride, phase=int(cfg["seed"]) * 7919):
            tally.add(x, run_kernel(fn, x), target.reference(x))
    if cfg["timing"]:
        info.update(_time_ratio(fn, target, lo, hi, cfg))
    return tally.as_dict(), info


def _refuse_if_called(calls: list[str]) -> None:
    if calls:
        raise Dishonest(f"the kernel called forbidden routines: {sorted(set(calls))}")


def evaluate(program_path: str, workload: dict | None = None) -> dict:
    """ULP error (max, mean) on the stage's points, op count and/or time ratio; never raises for a bad kernel."""
    try:
        cfg = settings(workload)
        target = get_target(cfg["function"])
        lo, hi = bounds(target, cfg["domain"])
    except (WorkloadError, ValueError) as exc:
        return failure(f"bad workload: {exc}")
    if cfg["measure"] == "cost":
        return _costs(program_path, target, cfg, lo, hi)
    start, calls = perf_counter(), []
    try:
        with trapped() as calls:
            fn = _load(program_path, target)
            tally, info = _measure(fn, target, cfg, lo, hi)
        _refuse_if_called(calls)
    except (CandidateError, Dishonest, OpRefused) as exc:
        if calls and not isinstance(exc, Dishonest):  # the trap's exception, caught and re-raised as the kernel's
            exc = Dishonest(f"the kernel called forbidden routines: {sorted(set(calls))}")
        honest = not isinstance(exc, (Dishonest, OpRefused))
        return failure(str(exc), honest=honest, max_ulp=float(NAN_ULPS))
    metrics = {"valid": True, "honest": True, "max_ulp": tally["max_ulp"], "mean_ulp": tally["mean_ulp"],
               "points_over_1ulp": tally["points_over_1ulp"]}
    for key in ("ops_per_element", "time_ratio"):
        if key in info:
            metrics[key] = info[key]
    feedback = (f"{target.api}: max error {tally['max_ulp']} ULP (at x = {tally['worst_x']!r}), mean "
                f"{tally['mean_ulp']:.4f} ULP over {tally['points']} points ({cfg['check']})")
    if "ops_per_element" in info:
        feedback += f"; {info['ops_per_element']:g} float ops per element"
    if "time_ratio" in info:
        feedback += f"; {info['time_ratio']:.2f}x the time of np.{target.name}"
    artifacts = {"function": target.name, "check": cfg["check"], "error": None, **tally,
                 "seconds": perf_counter() - start, "feedback": feedback,
                 **{k: v for k, v in info.items() if k not in metrics}}
    artifacts.pop("error")
    return {"metrics": metrics, "artifacts": artifacts}


def _costs(program_path: str, target: Target, cfg: dict, lo: int, hi: int) -> dict:
    """Only what is measured again for a functional hit: the time ratio, where this stage times
    (the op count is in the probe's hash, the ULP error follows from the outputs)."""
    calls: list[str] = []
    try:
        with trapped() as calls:
            fn = _load(program_path, target)
            info = _time_ratio(fn, target, lo, hi, cfg) if cfg["timing"] else {}
        _refuse_if_called(calls)
    except (CandidateError, Dishonest) as exc:
        return failure(str(exc), honest=not isinstance(exc, Dishonest))
    metrics = {"time_ratio": info["time_ratio"]} if info else {}
    return {"metrics": metrics, "artifacts": {k: v for k, v in info.items() if k not in metrics}}


def probe(program_path: str, workload: dict | None = None):
    """What the kernel computes and what it costs, for functional hashing: a digest of its output bits on
    the sample stage's points (edge cases first), and its float operations on them (`costs`: the count
    enters the hash, so a copy with one more op is not its parent's duplicate)."""
    import hashlib
    cfg = settings(workload)
    target = get_target(cfg["function"])
    lo, hi = bounds(target, cfg["domain"])
    x = sample_points(target, lo, hi, int(cfg["points"]), int(cfg["seed"]))
    calls: list[str] = []
    try:
        with trapped() as calls:
            fn = _load(program_path, target)
            out = run_kernel(fn, x)
            with np.errstate(all="ignore"):
                counted, ledger = count_ops(fn, x)
        _refuse_if_called(calls)
    except (CandidateError, Dishonest, OpRefused) as exc:
        return {"error": str(exc).splitlines()[0]}
    bits = out.view(np.int32)
    return {"bits": hashlib.sha256(bits.tobytes()).hexdigest(), "points": int(x.size),
            "counting_differs": not np.array_equal(counted.view(np.int32), bits),
            "op_elements": ledger.elements, "costs": {"ops_per_element": ledger.elements / x.size}}


def verify(program_path: str, workload: dict | None = None) -> dict:
    """Every float32 of part `part` of `parts` of the domain, chunked; the error tally of that part."""
    cfg = settings(workload)
    target = get_target(cfg["function"])
    lo, hi = bounds(target, cfg["domain"])
    parts, part = int(cfg["parts"]), int(cfg["part"])
    size = (hi - lo + 1 + parts - 1) // parts
    a, b = lo + part * size, min(hi, lo + (part + 1) * size - 1)
    start = perf_counter()
    tally, calls = ErrorTally(), []
    try:
        with trapped() as calls:
            fn = _load(program_path, target)
            for x in chunks(a, b, int(cfg["chunk"])):
                tally.add(x, run_kernel(fn, x), target.reference(x))
        _refuse_if_called(calls)
    except (CandidateError, Dishonest) as exc:
        return {"error": f"the kernel called forbidden routines: {sorted(set(calls))}" if calls else str(exc)}
    return {"function": target.name, "part": part, "parts": parts, "lo": a, "hi": b,
            "expected_points": count_in(a, b), "seconds": perf_counter() - start, **tally.as_dict()}
