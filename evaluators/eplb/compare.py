"""Our baselines scored both ways, `scoring: ours` and `scoring: adrs`, on the same placements and calls.

    python -m evaluators.eplb.compare          # the markdown table of problems/eplb/README.md

Each baseline is placed and timed once per rebalance window, then timed on window 0 until
`repeats` calls (25 by default, so that mean and median settle); the same rows and call times
give both sets of metrics, so the differences are the scoring's alone, not noise between runs.
"""
from __future__ import annotations

from . import measure_windows, ours_metrics
from .adrs import leaderboard_metrics
from .baselines import BASELINES
from .workloads import build_workload

FULL_STAGE = {"name": "drift-lognormal", "seed": 2}  # problems/eplb/problem.yaml's `full` stage
NAMES = ("no_rebalancing", "hierarchical", "global_greedy")


def _pct(new: float, old: float) -> float:
    return 100.0 * (new - old) / old if old else float("nan")


def published_rows(workload: dict | None = None, baselines=NAMES, repeats: int = 25) -> list[dict]:
    """Per baseline: next-window balancedness, runtime and score as we score and as the leaderboard does.

    ours_score is today's `adrs_score` (the leaderboard's formula on our in-sample balancedness and
    median runtime); adrs_score is the leaderboard's scalar (next-window ratio-of-sums balancedness,
    mean runtime)."""
    wl = build_workload({"repeats": repeats, **(workload or FULL_STAGE), "scoring": "adrs"})
    out = []
    for name in baselines:
        rows, times = measure_windows(BASELINES[name], wl)
        ours, adrs = ours_metrics(rows, times), leaderboard_metrics(rows, times)
        row = {"baseline": name, "ours_balancedness": ours["balancedness"],
               "ours_balancedness_next": ours["balancedness_next"],
               "adrs_balancedness_next": adrs["adrs_balancedness_next"],
               "ours_runtime": ours["runtime_s"], "adrs_runtime": adrs["runtime_s"],
               "ours_score": ours["adrs_score"], "adrs_score": adrs["adrs_score"]}
        row.update(balancedness_next_diff_pct=_pct(row["adrs_balancedness_next"], row["ours_balancedness_next"]),
                   runtime_diff_pct=_pct(row["adrs_runtime"], row["ours_runtime"]),
                   score_diff_pct=_pct(row["adrs_score"], row["ours_score"]))
        out.append(row)
    return out


def format_rows(rows: list[dict]) -> str:
    """The rows as a markdown table."""
    lines = [("| baseline | bal_next ours | bal_next adrs | diff | runtime ms ours (median) | adrs (mean) | diff "
              "| score ours | score adrs | diff |"), "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['baseline']} | {r['ours_balancedness_next']:.4f} | {r['adrs_balancedness_next']:.4f} "
                     f"| {r['balancedness_next_diff_pct']:+.2f}% | {r['ours_runtime'] * 1e3:.2f} "
                     f"| {r['adrs_runtime'] * 1e3:.2f} | {r['runtime_diff_pct']:+.1f}% | {r['ours_score']:.2f} "
                     f"| {r['adrs_score']:.2f} | {r['score_diff_pct']:+.1f}% |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_rows(published_rows()))
