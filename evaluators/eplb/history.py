"""A vLLM-style expert-load history as an EPLB trace: per-step counts summed into rebalance windows.

vLLM's EPLB records, for every forward step, the tokens each logical expert of each MoE layer
received: integers shaped [steps, layers, experts]. The ADRS leaderboard's harness
(UCB-ADRS/ADRS-Leaderboard, problems/eplb/evaluator.py, `load_workloads`) sums consecutive runs
of 100 steps (REBALANCE_INTERVAL) into one window each, the last window holding what is left
over (possibly fewer steps), and rebalances at every window but the last.

Accepted files: `.npy` (numpy.save), `.pt` / `.pth` (a tensor saved with torch.save; needs
torch), and `.json` in the harness's layout, `{"load_history": [{"logical_expert_load":
[[...], ...]}, ...]}` with one record per step.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

WINDOW_STEPS = 100  # the harness's REBALANCE_INTERVAL


class HistoryError(ValueError):
    """The load-history file or its window size is unusable; the message names the file and the fix."""


def read_history(path: Path) -> np.ndarray:
    """The raw per-step counts of a history file, as an ndarray (not yet checked)."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            return np.load(path, allow_pickle=False)
        except Exception as exc:  # a pickled object array, a truncated or foreign file
            raise HistoryError(f"{path}: cannot read as .npy ({exc}); write it with numpy.save(path, array)") from None
    if suffix in (".pt", ".pth"):
        return _read_torch(path)
    if suffix == ".json":
        return _read_json(path)
    raise HistoryError(f"{path}: load_history must be a .npy, .pt/.pth or .json file, got '{suffix or 'no suffix'}'")


def _read_torch(path: Path) -> np.ndarray:
    try:
        import torch
    except ImportError:
        raise HistoryError(f"{path}: reading a .pt file needs torch, which is not installed where the evaluator "
                           f"runs; save the counts with numpy.save(path, tensor.cpu().numpy()) as .npy") from None
    try:
        value = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise HistoryError(f"{path}: torch.load failed ({exc}); save a plain tensor with "
                           f"torch.save(tensor, path)") from None
    if isinstance(value, dict) and "load_history" in value:
        value = value["load_history"]
    if not isinstance(value, torch.Tensor):
        raise HistoryError(f"{path}: holds a {type(value).__name__}, not a tensor shaped [steps, layers, experts]")
    return value.detach().cpu().numpy()


def read_json(path: Path, error: type[Exception]):
    """The JSON document at `path`, or `error` naming the file."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path}: not a readable JSON file ({exc})") from None


def _read_json(path: Path) -> np.ndarray:
    doc = read_json(path, HistoryError)
    records = doc.get("load_history") if isinstance(doc, dict) else None
    if not isinstance(records, list) or not records:
        raise HistoryError(f"{path}: expected {{'load_history': [{{'logical_expert_load': [[...]]}}, ...]}}, "
                           f"one record per step")
    steps = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict) or "logical_expert_load" not in rec:
            raise HistoryError(f"{path}: step {i} has no 'logical_expert_load'")
        steps.append(rec["logical_expert_load"])
    try:
        return np.array(steps)
    except ValueError:
        raise HistoryError(f"{path}: steps differ in shape; each 'logical_expert_load' must be "
                           f"[layers, experts]") from None


def check_counts(arr: np.ndarray, origin: str) -> np.ndarray:
    """`arr` as int64 [steps, layers, experts] of non-negative counts, or HistoryError saying what is wrong."""
    if arr.ndim != 3 or 0 in arr.shape:
        raise HistoryError(f"{origin}: expected integer counts shaped [steps, layers, experts], got shape "
                           f"{arr.shape}" + ("; for a single layer use arr[:, None, :]" if arr.ndim == 2 else ""))
    if arr.dtype.kind not in "iu":
        raise HistoryError(f"{origin}: expected integer token counts (vLLM records int64), got dtype {arr.dtype}; "
                           f"if they are whole numbers stored as floats, save arr.astype(numpy.int64)")
    if (arr < 0).any():
        s, l, e = (int(i) for i in np.argwhere(arr < 0)[0])
        raise HistoryError(f"{origin}: negative count {arr[s, l, e]} at step {s}, layer {l}, expert {e}")
    if int(arr.max()) >= 2 ** 53:
        raise HistoryError(f"{origin}: a count of {int(arr.max())} tokens is beyond what float64 holds exactly")
    return arr.astype(np.int64, copy=False)


def windows(counts: np.ndarray, window_steps: int, origin: str) -> np.ndarray:
    """Sum counts [steps, layers, experts] over consecutive `window_steps` steps (the last window takes the
    rest): float64 [windows, layers, experts], at least 2 windows."""
    if isinstance(window_steps, bool) or not isinstance(window_steps, (int, np.integer)) or window_steps < 1:
        raise HistoryError(f"workload key 'window_steps' must be a positive integer (steps per rebalance "
                           f"window; the harness uses {WINDOW_STEPS}), got {window_steps!r}")
    steps = counts.shape[0]
    count = math.ceil(steps / window_steps)
    if count < 2:
        raise HistoryError(f"{origin}: {steps} steps make {count} window of {window_steps} steps; need at least 2 "
                           f"(build on one, score on the next): lower 'window_steps' below {steps}")
    summed = np.add.reduceat(counts, np.arange(0, steps, window_steps), axis=0)
    if summed.max() >= 2 ** 53:
        raise HistoryError(f"{origin}: a window sums to {summed.max()} tokens, beyond what float64 holds exactly")
    return summed.astype(np.float64)


def load_history(path: str | Path, window_steps: int = WINDOW_STEPS, data_dir: Path | None = None) -> np.ndarray:
    """The history file at `path` (relative: from the working directory, then `data_dir`) as windows."""
    if not isinstance(path, (str, Path)):
        raise HistoryError(f"workload key 'load_history' must be a file path (.npy, .pt or .json), got {path!r}")
    p = Path(path)
    if not p.is_absolute() and not p.exists() and data_dir is not None and (data_dir / p).exists():
        p = data_dir / p
    if not p.is_file():
        raise HistoryError(f"load_history file not found: {path}")
    return windows(check_counts(np.asarray(read_history(p)), str(p)), window_steps, str(p))
