"""Evaluator for the Triton MoE gating kernel: softmax -> top-k -> renormalized weights.

Candidate API: `moe_gating(logits [tokens, experts] float32, k) -> (weights [tokens, k]
float32, indices [tokens, k] int32/int64)`. Reference: the same in torch. Ties: equal
logits go to the lower expert index first. Workload keys: `stage` (correctness |
speed), `shapes` (list of [tokens, experts, k]; default: a set per device), `seed`,
`atol`, `rtol`, `warmup`, `repeats`. Without a CUDA device the correctness stage runs
under Triton's interpreter on a small shape set and the speed stage is skipped with the
reason in its artifacts (metric speed_measured = false); no number is made up.
"""
from __future__ import annotations

import ast
import math
from pathlib import Path

from evaluators.common import CandidateError, call_candidate, failure, load_candidate, perf_counter, \
    require_callable

from .gpu import MissingDependency, cuda_median_ms, detect

API = "moe_gating"
GPU_SHAPES = [[1, 8, 1], [7, 64, 2], [128, 64, 6], [333, 160, 4], [1000, 128, 8], [2048, 256, 1],
              [4096, 256, 8], [16384, 8, 2], [16384, 64, 6], [16384, 256, 8]]
INTERPRETER_SHAPES = [[1, 8, 1], [5, 64, 2], [9, 160, 4], [12, 256, 8]]
SPEED_SHAPES = [[1024, 128, 8], [4096, 256, 8], [16384, 64, 6], [16384, 256, 8]]
DEFAULTS = {"stage": "correctness", "shapes": None, "seed": 0, "atol": 1e-5, "rtol": 1e-4,
            "warmup": 10, "repeats": 50, "name": None}
# torch routines that would do the kernel's work outside Triton
NOT_TRITON = frozenset({"topk", "sort", "argsort", "softmax", "log_softmax", "kthvalue", "msort"})


def _check_source(source: str) -> None:
    tree = ast.parse(source)
    if not any(isinstance(d, (ast.Attribute, ast.Name)) and "jit" in ast.unparse(d)
               for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) for d in n.decorator_list):
        raise CandidateError("the candidate must define a @triton.jit kernel")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in NOT_TRITON:
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if not (isinstance(root, ast.Name) and root.id in ("tl", "triton")):
                raise CandidateError(f"line {node.lineno}: `.{node.attr}` outside Triton: the gating "
                                     "must be computed by the Triton kernel")


def make_logits(tokens: int, experts: int, seed: int, device: str):
    """Logits on a 1/16 grid in [-8, 8) (many exact ties), plus an all-equal row and a wide row."""
    import torch
    gen = torch.Generator().manual_seed(seed * 1_000_003 + tokens * 1009 + experts)
    x = torch.randint(-128, 128, (tokens, experts), generator=gen).float() / 16
    if tokens > 1:
        x[1] = 0.5  # every expert tied
    if tokens > 2:
        x[2] = torch.randint(-320, 320, (experts,), generator=gen).float() / 16  # range +-20
    return x.to(device)


def reference(logits, k: int):
    """softmax -> the k largest (stable: ties to the lower index) -> renormalized weights."""
    import torch
    probs = torch.softmax(logits.float(), dim=-1)
    order = torch.sort(logits, dim=-1, descending=True, stable=True).indices[:, :k]
    w = probs.gather(1, order)
    return w / w.sum(dim=-1, keepdim=True), order


def torch_gating(logits, k: int):
    """The usual torch implementation (what speed is compared with): softmax, topk, renormalize."""
    import torch
    w, idx = torch.topk(torch.softmax(logits, dim=-1), k, dim=-1)
    return w / w.sum(dim=-1, keepdim=True), idx


def check_output(out, logits, k: int, atol: float, rtol: float) -> float:
    """Raise CandidateError for a wrong result; return the max absolute weight error."""
    import torch
    tokens = logits.shape[0]
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise CandidateError(f"moe_gating must return (weights, indices), got {type(out).__name__}")
    w, idx = out
    for name, t in (("weights", w), ("indices", idx)):
        if not isinstance(t, torch.Tensor):
            raise CandidateError(f"{name} must be a torch tensor, got {type(t).__name__}")
        if tuple(t.shape) != (tokens, k):
            raise CandidateError(f"{name} has shape {tuple(t.shape)}, expected {(tokens, k)}")
    if w.dtype != torch.float32:
        raise CandidateError(f"weights must be float32, got {w.dtype}")
    if idx.dtype not in (torch.int32, torch.int64):
        raise CandidateError(f"indices must be int32 or int64, got {idx.dtype}")
    bad = ~torch.isfinite(w)
    if bad.any():
        t, s = (int(v) for v in bad.nonzero()[0])
        raise CandidateError(f"weights[{t}, {s}] = {w[t, s].item()} where a finite weight is due")
    want_w, want_idx = reference(logits, k)
    wrong = idx.long() != want_idx
    if wrong.any():
        t, s = (int(v) for v in wrong.nonzero()[0])
        raise CandidateError(f"indices[{t}, {s}] = {int(idx[t, s])}, expected {int(want_idx[t, s])} "
                             f"(logits of that token, top {k}: {want_idx[t].tolist()}; ties go to the lower index)")
    err = (w - want_w).abs()
    limit = atol + rtol * want_w.abs()
    if (err > limit).any():
        t, s = divmod(int((err - limit).argmax()), k)
        raise CandidateError(f"weights[{t}, {s}] = {w[t, s].item():.8g}, expected {want_w[t, s].item():.8g} "
                             f"(tolerance {atol:g} + {rtol:g} * |expected|)")
    return float(err.max()) if err.numel() else 0.0


def _settings(workload: dict | None) -> dict:
    unknown = set(workload or {}) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown workload keys {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    cfg = {**DEFAULTS, **(workload or {})}
    if cfg["stage"] not in ("correctness", "speed"):
        raise ValueError(f"stage must be correctness or speed, got {cfg['stage']!r}")
    return cfg


def _correctness(fn, cfg: dict, device) -> dict:
    shapes = cfg["shapes"] or (GPU_SHAPES if device.cuda else INTERPRETER_SHAPES)
    rows, worst = [], 0.0
    for tokens, experts, k in shapes:
        logits = make_logits(tokens, experts, int(cfg["seed"]), device.torch_device)
        start = perf_counter()
        out = call_candidate(fn, logits.clone(), k)
        if device.cuda:
            call_candidate(__import__("torch").cuda.synchronize)
        try:
            err = check_output(out, logits, k, float(cfg["atol"]), float(cfg["rtol"]))
        except CandidateError as exc:
            raise CandidateError(f"shape tokens={tokens} experts={experts} k={k}: {exc}") from None
        worst = max(worst, err)
        rows.append({"tokens": tokens, "experts": experts, "k": k, "max_abs_err": err,
                     "seconds": perf_counter() - start})
    return {"metrics": {"valid": True, "correct": True, "max_abs_err": worst, "shapes_checked": len(rows)},
            "artifacts": {"shapes": rows}}


def _speed(fn, cfg: dict) -> dict:
    shapes = cfg["shapes"] or SPEED_SHAPES
    rows = []
    for tokens, experts, k in shapes:
        logits = make_logits(tokens, experts, int(cfg["seed"]), "cuda")
        check_output(call_candidate(fn, logits, k), logits, k, float(cfg["atol"]), float(cfg["rtol"]))
        ms = cuda_median_ms({"kernel": lambda: call_candidate(fn, logits, k),
                             "torch": lambda: torch_gating(logits, k)},
                            int(cfg["warmup"]), int(cfg["repeats"]))
        rows.append({"tokens": tokens, "experts": experts, "k": k, "kernel_ms": ms["kernel"],
                     "torch_ms": ms["torch"], "speedup": ms["torch"] / ms["kernel"]})
    speedup = math.exp(sum(math.log(r["speedup"]) for r in rows) / len(rows))
    return {"metrics": {"valid": True, "speed_measured": True, "speedup": speedup},
            "artifacts": {"shapes": rows, "feedback": f"geometric-mean speedup over torch {speedup:.3f}x"}}


def evaluate(program_path: str, workload: dict | None = None) -> dict:
    """Correctness (any device) or speed (CUDA only) of the candidate kernel; never raises for a bad kernel.
    With `measure: cost` (a functional hit) only the speed stage runs: correctness follows from the probe."""
    workload = dict(workload or {})
    measure = workload.pop("measure", "all")
    workload.pop("known", None)
    if measure == "cost" and workload.get("stage", "correctness") == "correctness":
        return {"metrics": {}, "artifacts": {"skipped": "a cost-only evaluation: correctness is the original's"}}
    try:
        cfg = _settings(workload)
        device = detect()
    except (ValueError, MissingDependency) as exc:
        return failure(str(exc))
    if cfg["stage"] == "speed" and not device.cuda:
        reason = f"speed stage skipped: no CUDA device ({device.reason}); no time was measured"
        return {"metrics": {"valid": True, "speed_measured": False},
                "artifacts": {"skipped": reason, "error": reason, "device": device.reason}}
    try:
        _check_source(Path(program_path).read_text(encoding="utf-8"))
        fn = require_callable(load_candidate(program_path), API)
        result = _correctness(fn, cfg, device) if cfg["stage"] == "correctness" else _speed(fn, cfg)
    except CandidateError as exc:
        out = failure(str(exc), correct=False)
        out["artifacts"]["device"] = device.reason
        return out
    except Exception as exc:  # a CUDA launch error surfacing in the evaluator's own torch calls
        out = failure(f"{type(exc).__name__}: {exc}", correct=False)
        out["artifacts"]["device"] = device.reason
        return out
    result["metrics"]["interpreted"] = not device.cuda
    result["artifacts"]["device"] = device.reason
    return result


def probe(program_path: str, workload: dict | None = None):
    """The chosen experts and their weights (rounded to 5 decimals) on the small shapes the
    interpreter checks, for functional hashing: a kernel wrong on one of them is not a correct one's twin."""
    device = detect()
    try:
        _check_source(Path(program_path).read_text(encoding="utf-8"))
        fn = require_callable(load_candidate(program_path), API)
        out = []
        for tokens, experts, k in INTERPRETER_SHAPES:
            logits = make_logits(tokens, experts, 0, device.torch_device)
            w, idx = call_candidate(fn, logits, k)
            out.append({"indices": idx.long().cpu().tolist(),
                        "weights": [round(v, 5) for v in w.flatten().cpu().tolist()]})
        return out
    except (CandidateError, ValueError, TypeError, AttributeError) as exc:
        return {"error": str(exc)}
