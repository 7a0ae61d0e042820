"""Evidence for the duplicate filter: what each hash level merges, what the probe costs, what it saves.

1. A labelled corpus built from the built-in problems' starting programs: variants
   that are equivalent (renames, comments, reordered independent statements, dead
   code, algebraic rewrites, other loop forms) and near-misses that behave
   differently (off-by-one, changed tie-break, a constant moved a little). For each
   level: pairs merged that are truly equivalent, pairs merged wrongly (target 0).
2. The probe's cost (two probe runs) as a fraction of a full evaluation.
3. A scripted stream of proposals on cache_eviction where a known share are
   duplicates: evaluation seconds with the filter on and off, in one run.
Usage: python benchmarks/fhash.py [--stream 40]
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evolve.search import fhash  # noqa: E402
from evolve.search.controller import Controller, Limits  # noqa: E402
from evolve.db import repo  # noqa: E402
from evolve.db.engine import open_database, sqlite_url  # noqa: E402
from evolve.db.models import Run  # noqa: E402
from evolve.executor import LocalExecutor  # noqa: E402
from evolve.mutate.offline import Child  # noqa: E402
from evolve.problem import load_problem  # noqa: E402

# (problem, label, equivalent?, old text, new text): each variant is one replacement in the starting program
VARIANTS = [
    ("cache_eviction", "rename locals", True, "recency", "w_recent"),
    ("cache_eviction", "comment and docstring", True, "    recency = 1.0\n", "    # weights\n    recency = 1.0  # LRU\n"),
    ("cache_eviction", "reorder independent assignments", True,
     "    recency = 1.0\n    frequency = 0.0\n", "    frequency = 0.0\n    recency = 1.0\n"),
    ("cache_eviction", "dead code", True, "    return score\n", "    unused = score * 2\n    return score\n"),
    ("cache_eviction", "commuted sum", True, "score = recency * now + frequency * total_hits + aging * floor",
     "score = aging * floor + frequency * total_hits + now * recency"),
    ("cache_eviction", "constant moved a little", False, "recency = 1.0", "recency = 1.001"),
    ("cache_eviction", "tie-break changed", False, "    return score\n", "    return score + 1e-06 * hits\n"),
    ("cache_eviction", "off-by-one in time", False, "recency * now", "recency * (now + 1)"),
    ("txn_scheduling", "rename locals", True, "partial", "sched"),
    ("txn_scheduling", "for loop instead of while", True,
     "    while left:\n", "    for _ in range(len(left)):\n"),
    ("txn_scheduling", "dead code", True, "    return partial.order\n", "    _ = len(left)\n    return partial.order\n"),
    ("txn_scheduling", "tie-break changed", False, "partial.commit_if_next(tid)))", "-tid))"),
    ("txn_scheduling", "off-by-one: last transaction first", False,
     "    left = list(workload.txns)\n", "    left = list(workload.txns)\n    partial.append(left.pop())\n"),
    ("spot_scheduling", "rename locals", True, "ticks_left", "remaining"),
    ("spot_scheduling", "swapped comparison", True, "if ticks_needed >= ticks_left:", "if ticks_left <= ticks_needed:"),
    ("spot_scheduling", "conditional expression as if/else", True,
     "        return SPOT if state.spot_available else NONE\n",
     "        if state.spot_available:\n            return SPOT\n        return NONE\n"),
    ("spot_scheduling", "safety margin off by one tick", False,
     "if ticks_needed >= ticks_left:", "if ticks_needed + 1 >= ticks_left:"),
    ("spot_scheduling", "restart overhead counted twice", False, "(state.work_left_s + state.overhead_s)",
     "(state.work_left_s + 2 * state.overhead_s)"),
]


async def probe_hash(problem, executor, code: str) -> tuple[str | None, float]:
    result = await executor.probe(code, repeat=2)
    if not result.ok:
        return None, result.wall_s
    key = fhash.cache_key(problem.name, problem.evaluator_ref, problem.spec.workloads.probe, 20)
    try:
        return fhash.functional_hash(key, list(result.result), 20), result.wall_s
    except fhash.Unhashable:
        return None, result.wall_s


async def corpus() -> None:
    rows, cost = [], {}
    for name in sorted({v[0] for v in VARIANTS}):
        problem = load_problem(name)
        executor = LocalExecutor(problem, 1)
        base = problem.initial_code
        base_f, _ = await probe_hash(problem, executor, base)
        cost[name] = await steady_costs(problem, executor, base)
        for _, label, equivalent, old, new in (v for v in VARIANTS if v[0] == name):
            assert old in base, (name, label)
            variant = base.replace(old, new) if label.startswith("rename") else base.replace(old, new, 1)
            syn = fhash.syntactic_hash(variant) == fhash.syntactic_hash(base)
            fun_h, _ = await probe_hash(problem, executor, variant)
            rows.append((name, label, equivalent, syn, fun_h is not None and fun_h == base_f))
    print(f"{'problem':<16} {'variant':<38} {'truth':<10} {'syntactic':<10} functional")
    for name, label, eq, syn, fun in rows:
        print(f"{name:<16} {label:<38} {'equal' if eq else 'different':<10} {str(syn):<10} {fun}")
    for level, i in (("syntactic", 3), ("functional", 4)):
        merged_right = sum(1 for r in rows if r[2] and r[i])
        merged_wrong = sum(1 for r in rows if not r[2] and r[i])
        print(f"{level}: merged {merged_right}/{sum(r[2] for r in rows)} equivalent pairs, "
              f"{merged_wrong}/{sum(not r[2] for r in rows)} near-misses wrongly")
    both = sum(1 for r in rows if r[2] and (r[3] or r[4]))
    print(f"both levels: merged {both}/{sum(r[2] for r in rows)} equivalent pairs")
    for name, (own_s, riding_s, full_s) in cost.items():
        print(f"probe cost {name}: riding with the first stage (how cascades run it) {riding_s * 1000:.0f} ms vs "
              f"{full_s * 1000:.0f} ms full evaluation = {riding_s / full_s:.0%}; in a sandbox of its own "
              f"(one-stage problems) {own_s * 1000:.0f} ms = {own_s / full_s:.0%}")


async def steady_costs(problem, executor, code: str, n: int = 5) -> tuple[float, float, float]:
    """Medians of: the probe run in a warmed-up sandbox of its own; the probe's time inside the first
    stage when it rides along; the full evaluation (all stages, probe included)."""
    import statistics

    own, riding, full = [], [], []
    for _ in range(n):
        await asyncio.sleep(0.6)  # as in a run, the next sandbox warms up while other work goes on
        result = await executor.probe(code, repeat=2)
        own.append(result.wall_s)
        await asyncio.sleep(0.6)
        outcomes = await executor.evaluate(code, probe_repeat=2)
        riding.append(outcomes[0].probe_s)
        full.append(sum(o.wall_s for o in outcomes))
    return statistics.median(own), statistics.median(riding), statistics.median(full)


class ScriptedMutator:
    """Serves a fixed list of programs: fresh constants, and duplicates (renamed copies) of earlier ones."""

    def __init__(self, codes: list[tuple[str, str]]):
        self.codes = list(codes)

    def propose(self, parent, seen, other=None):
        while self.codes:
            code, label = self.codes.pop(0)
            if not seen(code):
                return Child(code, label)
        return None


def stream(base: str, n: int, dup_share: float) -> list[tuple[str, str]]:
    fresh, out = [], []
    n_dup = int(n * dup_share)
    for i in range(n - n_dup):
        fresh.append(base.replace("frequency = 0.0", f"frequency = {1 + i * 7.5}"))
    for i, code in enumerate(fresh):
        out.append((code, "fresh"))
        if i < n_dup:  # a copy of a program already proposed: renamed (syntactic) or reordered (functional)
            copy = code.replace("recency", f"rec{i}") if i % 2 else code.replace(
                "    recency = 1.0\n    frequency", "    frequency").replace("    aging", "    recency = 1.0\n    aging")
            out.append((copy, "duplicate"))
    return out


async def run_stream(problem, codes, dedup_on: bool) -> tuple[float, float, dict]:
    spec = problem.spec.model_copy(update={"dedup": problem.spec.dedup.model_copy(
        update={"syntactic": dedup_on, "functional": dedup_on})})
    problem.spec = spec
    with tempfile.TemporaryDirectory() as tmp:
        factory = open_database(sqlite_url(Path(tmp) / "evolve.db"))
        with factory.begin() as session:
            run = Run(name="bench", problem=problem.name, problem_path="", config={})
            session.add(run)
        executor = LocalExecutor(problem, 2)

        class Quiet:
            def recorded(self, program, best):
                pass

        controller = Controller(problem, factory, run, executor, Limits(len(codes), None), 2, Quiet(),
                                mutator=ScriptedMutator(codes))
        start = time.perf_counter()
        await controller.run()
        wall = time.perf_counter() - start
        with factory() as session:
            stats = repo.dedup_stats(session, run.id)
            spent = sum(p.eval_seconds or 0.0 for p in repo.programs(session, run.id))
        factory.kw["bind"].dispose()
    return wall, spent + stats["probe_seconds"], stats


async def scripted(n: int) -> None:
    problem = load_problem("cache_eviction")
    codes = stream(problem.initial_code, n, 0.3)
    dups = sum(1 for _, label in codes if label == "duplicate")
    off_wall, off_eval, _ = await run_stream(problem, codes, False)
    on_wall, on_eval, stats = await run_stream(problem, codes, True)
    print(f"\nscripted stream: {len(codes)} proposals, {dups} of them duplicates ({dups / len(codes):.0%})")
    print(f"  filter off: {off_eval:.1f} s of evaluation, {off_wall:.1f} s wall")
    print(f"  filter on : {on_eval:.1f} s of evaluation incl. probes, {on_wall:.1f} s wall; caught "
          f"{stats['syntactic']} syntactic + {stats['functional']} functional")
    print(f"  evaluation time saved: {1 - on_eval / off_eval:.0%} (wall {1 - on_wall / off_wall:.0%})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stream", type=int, default=40)
    args = parser.parse_args()
    asyncio.run(corpus())
    asyncio.run(scripted(args.stream))


if __name__ == "__main__":
    main()
