"""Call the candidate's rebalance_experts on a window and time it with the evaluator's clock."""
from __future__ import annotations

import numpy as np

from evaluators.common import CandidateError, call_candidate, perf_counter

from .validate import check_placement, unpack
from .workloads import Workload

API = "rebalance_experts"


def _as_input(weight: np.ndarray, array: str):
    """A fresh copy of the loads for each call (a candidate may write into its input)."""
    if array == "torch":
        try:
            import torch
        except ImportError:
            raise CandidateError("the workload asks for torch tensors (array: torch) but torch "
                                 "is not installed where the evaluator runs") from None
        return torch.from_numpy(weight.copy())
    return weight.copy()


def place(fn, workload: Workload, window: int) -> tuple[tuple[np.ndarray, ...], float]:
    """Run the candidate on one window's loads; return the checked placement and its wall seconds."""
    s = workload.setup
    weight = workload.load[window]
    arg = _as_input(weight, workload.array)
    start = perf_counter()
    result = call_candidate(fn, arg, s.num_replicas, s.num_groups, s.num_nodes, s.num_gpus)
    elapsed = perf_counter() - start
    try:
        arrays = unpack(result)
        check_placement(*arrays, s, weight)
    except CandidateError as exc:
        raise CandidateError(f"window {window}: {exc}") from None
    return arrays, elapsed


def timed_call(fn, workload: Workload, window: int) -> float:
    """Wall seconds of one unchecked call on a window's loads (a cost-only evaluation: the placement
    is known to be its original's)."""
    s = workload.setup
    arg = _as_input(workload.load[window], workload.array)
    start = perf_counter()
    call_candidate(fn, arg, s.num_replicas, s.num_groups, s.num_nodes, s.num_gpus)
    return perf_counter() - start


def extra_timings(fn, workload: Workload, spent: list[float]) -> list[float]:
    """More timed calls on window 0 until `repeats` samples exist or the time budget is used."""
    times = list(spent)
    s = workload.setup
    while len(times) < workload.repeats and sum(times) < workload.time_budget_s:
        arg = _as_input(workload.load[0], workload.array)
        start = perf_counter()
        call_candidate(fn, arg, s.num_replicas, s.num_groups, s.num_nodes, s.num_gpus)
        times.append(perf_counter() - start)
    return times
