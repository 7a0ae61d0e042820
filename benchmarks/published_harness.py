"""Our baselines under our models and under the ADRS leaderboard's harness semantics, side by side with
the leaderboard's published figures, on the same inputs.

txn_scheduling: every baseline under `model: strict_2pl` and `model: adrs`, with the harness's own
figures (given order 537, the longest-transaction anchor 46; shortest-first 555 computed from its
definition) and the leaderboard's 0-100 score. spot_scheduling: every baseline on the published grid
(1,080 simulations) with `safety_net`/`deadline` at ours and at the leaderboard's, next to the published
costs. eplb: every baseline under `scoring: ours` and `scoring: adrs`.
Usage: python benchmarks/published_harness.py [--problems txn spot eplb]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evaluators.scheduling import txn  # noqa: E402
from evaluators.scheduling.txn_baselines import BASELINES as TXN_BASELINES  # noqa: E402
from evaluators.scheduling.txn_sim import LOWER_BOUNDS, load_workloads, makespan  # noqa: E402

# the harness's figures (UCB-ADRS/ADRS-Leaderboard problems/txn_scheduling: baseline_cache.json for the
# given order and the anchor; shortest-first from its simulator's definition, per workload)
TXN_PUBLISHED = {"given_order": 537, "shortest_first": 555, "longest_txn": 46}


def _pct(ours: float, ref: float | None) -> str:
    return "-" if ref in (None, 0) else f"{(ours - ref) / ref:+.2%}"


def txn_table() -> None:
    data = load_workloads()
    rows = {}
    for model in ("strict_2pl", "adrs"):
        for name, fn in TXN_BASELINES.items():
            rows.setdefault(name, {})[model] = [makespan(w, fn(w, model), model) for w in data.values()]
        rows.setdefault("lower_bound", {})[model] = [LOWER_BOUNDS[model](w) for w in data.values()]
    rows["longest_txn"] = {m: [max(t.length for t in w.values()) for w in data.values()] for m in ("strict_2pl", "adrs")}
    given, longest = sum(rows["given_order"]["adrs"]), sum(rows["longest_txn"]["adrs"])
    print("\n== txn_scheduling: makespan per workload (W1/W2/W3 = total)")
    print(f"{'baseline':<16}{'strict_2pl':>22}{'adrs':>18}{'published':>11}{'diff':>9}{'adrs_score':>12}")
    for name, by in rows.items():
        ref = TXN_PUBLISHED.get(name)
        adrs_total = sum(by["adrs"])
        score = f"{txn.adrs_score(adrs_total, given, longest):.1f}" if name not in ("lower_bound", "longest_txn") else "-"
        print(f"{name:<16}{_spans(by['strict_2pl']):>22}{_spans(by['adrs']):>18}{ref if ref else '-':>11}"
              f"{_pct(adrs_total, ref):>9}{score:>12}")


def _spans(values: list[int]) -> str:
    return "/".join(map(str, values)) + f" = {sum(values)}"


def spot_table() -> None:
    from evaluators.scheduling import spot_compare
    print("\n== spot_scheduling: mean cost ($) over the published grid, ours vs the leaderboard's settings")
    print(f"{'baseline':<18}{'sims':>6}{'ours':>10}{'adrs':>10}{'published':>11}{'diff':>9}"
          f"{'misses strict':>15}{'misses adrs':>13}{'net changed':>13}")
    for r in spot_compare.published_rows():
        ref = r.get("published")
        print(f"{r['baseline']:<18}{r['simulations']:>6}{r['cost_ours']:>10.3f}{r['cost_adrs_net']:>10.3f}"
              f"{ref if ref else '-':>11}{_pct(r['cost_adrs_net'], ref):>9}{r['misses_strict']:>15}"
              f"{r['misses_adrs']:>13}{r['net_forced']:>13}")


def eplb_table() -> None:
    try:
        from evaluators.eplb import compare
    except ImportError as exc:
        print(f"\n== eplb: skipped ({exc})")
        return
    print("\n== eplb: our baselines under `scoring: ours` and `scoring: adrs`")
    print(compare.format_rows(compare.published_rows()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", nargs="+", default=["txn", "spot", "eplb"], choices=["txn", "spot", "eplb"])
    args = parser.parse_args()
    for name in args.problems:
        start = time.perf_counter()
        {"txn": txn_table, "spot": spot_table, "eplb": eplb_table}[name]()
        print(f"({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
