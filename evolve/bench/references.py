"""Published reference figures of the built-in problems, for the bench table's "vs reference" columns.

Each figure is a value of one metric of the problem (the best program's metric is set beside it) and
names where it comes from. Only figures published outside this project are here; a suite adds its own
(baselines measured here, other papers) under its `references` key. The sources are quoted in the
problems' READMEs, which say how our harness settings relate to the published ones.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reference:
    problem: str
    label: str  # what scored it: a baseline, a published solution
    metric: str  # a metric the problem's evaluator reports
    value: float
    source: str  # where the number comes from
    approx: bool = False  # the source gives it rounded ("~0.93")


_LEADERBOARD = "UCB-ADRS/ADRS-Leaderboard"
_TXN = (f"{_LEADERBOARD} problems/txn_scheduling, baseline_cache.json (problems/txn_scheduling_adrs/README.md, "
        "'Baselines and bounds')")
_SPOT = (f"{_LEADERBOARD} problems/cant_be_late, as published with 'Barbarians at the Gate' (2025) "
         "(problems/spot_scheduling/README.md, 'Baselines'; the same cost under our rules and the leaderboard's)")
_EPLB = ("DeepSeek's open-source hierarchical EPLB as measured for ADRS, 'Barbarians at the Gate' (2025) "
         "(problems/eplb/README.md, 'Against the reference figures')")

PUBLISHED: tuple[Reference, ...] = (
    Reference("txn_scheduling_adrs", "given order", "makespan_total", 537, _TXN),
    Reference("txn_scheduling_adrs", "shortest first", "makespan_total", 555, _TXN),
    Reference("txn_scheduling_adrs", "given order (leaderboard 0-100)", "adrs_score", 0.0, _TXN),
    Reference("spot_scheduling", "on-demand only", "mean_cost", 147.39, _SPOT),
    Reference("spot_scheduling", "greedy", "mean_cost", 119.03, _SPOT),
    Reference("spot_scheduling", "Uniform Progress", "mean_cost", 99.23, _SPOT),
    Reference("eplb", "DeepSeek hierarchical, in-sample", "balancedness", 0.93, _EPLB, approx=True),
    Reference("eplb", "DeepSeek hierarchical, next window", "balancedness_next", 0.70, _EPLB, approx=True),
)


def for_problem(problem: str, extra: list[Reference] = ()) -> list[Reference]:
    """The published figures of `problem`, then the suite's own (one of the same label and metric replaces it)."""
    own = [r for r in extra if r.problem == problem]
    mine = {(r.label, r.metric) for r in own}
    return [r for r in PUBLISHED if r.problem == problem and (r.label, r.metric) not in mine] + own
