"""Controller overhead: candidates recorded per second with an evaluator that does nothing.

Measures selection + offline mutation + the two database writes per candidate,
with 1 to 10,000 programs already in the run, all in one process and one run.
Usage: python benchmarks/loop_overhead.py [--candidates 300]
"""
from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evolve.search.controller import Controller, Limits, code_hash  # noqa: E402
from evolve.db.engine import open_database, sqlite_url  # noqa: E402
from evolve.db.models import IslandMember, Program, Run  # noqa: E402
from evolve.executor import StageOutcome  # noqa: E402
from evolve.mutate.offline import OfflineMutator  # noqa: E402
from evolve.problem import load_problem  # noqa: E402


class NullExecutor:
    """Scores every candidate instantly with a random hit rate: no sandbox, no evaluator."""

    def __init__(self, problem):
        self.stages = problem.spec.workloads.stages
        self.rng = random.Random(0)

    async def evaluate(self, code: str, stages=None, probe_repeat: int = 0) -> list[StageOutcome]:
        """Every stage passes at once; a riding probe reports the code's own hash (never a duplicate)."""
        out = [StageOutcome(s, "ok", True, {"valid": True, "hit_rate": self.rng.random()})
               for s in (self.stages if stages is None else stages)]
        if probe_repeat and out:
            out[0].probe = [code_hash(code)] * probe_repeat
        return out


class Quiet:
    def recorded(self, program, best) -> None:
        pass


def prefill(factory, run_id: int, problem, n: int) -> None:
    """n evaluated programs (distinct mutants of the initial program) already in the run; the best
    `population_size` of them form the island's archive, as a run would have left it."""
    rng = random.Random(1)
    mutator = OfflineMutator(rng)
    codes, seen = [problem.initial_code], {problem.initial_code}
    while len(codes) < n:
        child = mutator.propose(rng.choice(codes[:50]), seen.__contains__)  # all near the start: same size
        if child:
            codes.append(child.code)
            seen.add(child.code)
    with factory.begin() as session:
        rows = [Program(run_id=run_id, iteration=i, mutation="prefill", code=c, code_hash=code_hash(c),
                        status="evaluated", score=rng.random(), metrics={"hit_rate": 0.0}) for i, c in enumerate(codes)]
        session.add_all(rows)
        session.flush()
        archive = sorted(rows, key=lambda p: -p.score)[: problem.spec.evolution.population_size]
        session.add_all(IslandMember(run_id=run_id, island=0, program_id=p.id, via="child") for p in archive)


def measure(problem, existing: int, candidates: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        factory = open_database(sqlite_url(Path(tmp) / "evolve.db"))
        with factory.begin() as session:
            run = Run(name="bench", problem=problem.name, problem_path="", config={})
            session.add(run)
        prefill(factory, run.id, problem, existing)
        already = max(0, existing - 1)  # children already in the run
        limits = Limits(iterations=already + candidates, wall_time_s=None)
        start = time.perf_counter()  # rebuilding the state from the database, as `resume` does
        Controller(problem, factory, run, NullExecutor(problem), limits, 2, Quiet())._load()
        load = time.perf_counter() - start
        controller = Controller(problem, factory, run, NullExecutor(problem), limits, 2, Quiet())
        start = time.perf_counter()
        asyncio.run(controller.run())
        elapsed = time.perf_counter() - start - load
        factory.kw["bind"].dispose()
    return candidates / elapsed, load


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--candidates", type=int, default=300)
    args = parser.parse_args()
    problem = load_problem("cache_eviction")
    rows = [(n, *measure(problem, n, args.candidates)) for n in (1, 100, 1000, 10000)]
    base = rows[0][1]
    print(f"{'programs in DB':>15} {'candidates/s':>13} {'ms/candidate':>13} {'vs 1':>6} {'resume load s':>14}")
    for n, rate, load in rows:
        print(f"{n:>15} {rate:>13.1f} {1000 / rate:>13.2f} {rate / base:>6.2f} {load:>14.3f}")


if __name__ == "__main__":
    main()
