"""Time one full evaluation of each placement/network problem's starting program and baselines."""
from __future__ import annotations

import time

from evaluators.network import cloudcast
from evaluators.network.cloudcast_baselines import BASELINES as CLOUDCAST_BASELINES
from evaluators.network.cloudcast import run_policy, setting
from evaluators.placement import prism
from evaluators.placement.prism_sim import BASELINES as PRISM_BASELINES, max_pressure

PRISM_FULL = {"seed": 42, "cases": 50}
CLOUDCAST_FULL = {"configs": "all", "partitions": 10, "data_gb": 300}


def timed(fn):
    """(result, seconds) of one call."""
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def prism_report() -> None:
    """gpu_model_placement: initial program and baselines on the full stage."""
    out, s = timed(lambda: prism.evaluate("problems/gpu_model_placement/initial.py", PRISM_FULL))
    print(f"gpu_model_placement initial: {s * 1000:.1f} ms, metrics {out['metrics']}")
    cases = prism.cases_for(PRISM_FULL)
    for name, fn in PRISM_BASELINES.items():
        pressures, s = timed(lambda: [max_pressure(fn(c)) for c in cases])
        print(f"  baseline {name}: {s * 1000:.1f} ms, mean max_pressure {sum(pressures) / len(cases):.6g}")
    for name, m in prism.baseline_metrics(PRISM_FULL).items():
        print(f"  {name}: {m}")


def cloudcast_report() -> None:
    """cloudcast: initial program and baselines on the full stage."""
    out, s = timed(lambda: cloudcast.evaluate("problems/cloudcast/initial.py", CLOUDCAST_FULL))
    print(f"cloudcast initial: {s * 1000:.1f} ms, metrics {out['metrics']}")
    st = setting(CLOUDCAST_FULL)
    for name, fn in CLOUDCAST_BASELINES.items():
        (_, results, _), s = timed(lambda: run_policy(fn, st))
        cost = sum(r["cost"] for r in results.values())
        print(f"  baseline {name}: {s * 1000:.1f} ms, total_cost {cost:.2f}")
    for name, m in cloudcast.baseline_metrics(CLOUDCAST_FULL).items():
        print(f"  {name}: {m}")


if __name__ == "__main__":
    prism_report()
    cloudcast_report()
