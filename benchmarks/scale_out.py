"""Scale-out figures: executors, the database at 100,000 programs, and what one controller can drive.

1. Evaluations per minute for a fixed 0.5 s evaluation (the evaluator sleeps; each evaluation is a
   real sandboxed process) with 1, 2 and 4 local workers and with Ray on this machine: how close
   to linear (ideal: workers x 120 per minute).
1b. A real evaluator (cache_eviction's two stages, its starting program): the local executor and Ray
   (one warm actor per slot) at the same concurrency, measured in turns in one event loop, repeated;
   evaluations/min each, Ray's ratio to local, and Ray's start-up and shut-down seconds apart.
2. The database on SQLite and PostgreSQL: inserting 100,000 programs (batches of 1,000 per
   transaction, and the controller's one transaction per program), then the leaderboard's
   queries at 100,000 programs: top 50 by score of one status, with an island filter, and the
   full read the leaderboard browser does.
3. One controller against an executor whose evaluations take 0.5 s of someone else's time
   (a cluster's): evaluations recorded per second as the concurrency rises, and the CPU share
   of the controller process, to find where the controller itself becomes the bottleneck.

Usage: python benchmarks/scale_out.py [--evals 16] [--cache-evals 24] [--rounds 3] [--programs 100000]
       [--pg URL | --no-pg] [--skip executors cache database controller]
PostgreSQL: --pg URL, else a throwaway server is started (tests/db/pgserver.py) when the binaries exist.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # a local Ray cluster on 127.0.0.1
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from sqlalchemy import select  # noqa: E402

from evolve.search.controller import Controller, Limits, code_hash  # noqa: E402
from evolve.db import repo  # noqa: E402
from evolve.db.engine import open_database, sqlite_url  # noqa: E402
from evolve.db.models import Program, Run  # noqa: E402
from evolve.executor import LocalExecutor, StageOutcome  # noqa: E402
from evolve.problem import load_problem  # noqa: E402
from evolve.tui import snapshot  # noqa: E402
from tests.conftest import SLOW_EVALUATOR, TINY_HEAD, write_problem  # noqa: E402

YAML = TINY_HEAD + """\
    - {name: only, workload: {target: 10, sleep: 0.5}}
sandbox: {wall_s: 30, cpu_s: 30, memory_mb: 1024}
"""


# --- 1. executors ---------------------------------------------------------------------------------
async def _warm_then_drive(executor, code: str, n: int, workers: int) -> float:
    """One round of `workers` evaluations to start worker processes, then the measured n (one event loop)."""
    await _drive(executor, code, workers, workers)
    return await _drive(executor, code, n, workers)


async def _drive(executor, code: str, n: int, workers: int) -> float:
    gate = asyncio.Semaphore(workers)

    async def one():
        async with gate:
            outcomes = await executor.evaluate(code)
            assert outcomes[0].status == "ok", outcomes[0].error

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return n / (time.perf_counter() - start) * 60


def executors(tmp: Path, n: int) -> None:
    problem = load_problem(write_problem(tmp / "sleepy", YAML, evaluator=SLOW_EVALUATOR))
    print(f"\n1. evaluations/min, 0.5 s evaluation (sandbox {problem.spec.sandbox.backend}), {n} per row, "
          f"{os.cpu_count()} CPUs")
    print(f"{'executor':>16} {'workers':>8} {'evals/min':>10} {'ideal':>7} {'of ideal':>9}")
    for workers in (1, 2, 4):
        rate = asyncio.run(_warm_then_drive(LocalExecutor(problem, workers), problem.initial_code, n, workers))
        print(f"{'local':>16} {workers:>8} {rate:>10.1f} {workers * 120:>7} {rate / (workers * 120):>9.0%}")
    try:
        import ray
    except ImportError:
        print(f"{'ray':>16}  skipped: pip install -e '.[ray]'")
        return
    from evolve import ray_executor
    from evolve.problem import RayConfig
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        for workers in (2, 4):
            executor = ray_executor.RayExecutor(problem, workers, RayConfig(num_cpus=1))
            rate = asyncio.run(_warm_then_drive(executor, problem.initial_code, n, workers))
            print(f"{'ray (local, 4 slots)':>16} {workers:>8} {rate:>10.1f} {workers * 120:>7} "
                  f"{rate / (workers * 120):>9.0%}")
    finally:
        ray_executor.shutdown()


def cache_eviction(n: int, rounds: int, concurrencies=(1, 2)) -> None:
    """Local vs Ray on cache_eviction, the same concurrency, turn about in one event loop."""
    problem = load_problem(Path(__file__).resolve().parent.parent / "problems" / "cache_eviction")
    print(f"\n1b. cache_eviction (2 stages, its starting program, sandbox {problem.spec.sandbox.backend}), "
          f"{n} evaluations per turn, {rounds} turns each, {os.cpu_count()} CPUs")
    try:
        import ray
    except ImportError:
        print("    Ray skipped: pip install -e '.[ray]'")
        return
    from evolve import ray_executor
    from evolve.problem import RayConfig
    t = time.perf_counter()
    ray.init(num_cpus=max(concurrencies), include_dashboard=False, log_to_driver=False, configure_logging=False)
    init_s = time.perf_counter() - t
    code = problem.initial_code
    print(f"{'concurrency':>12} {'local/min':>10} {'ray/min':>8} {'ray/local':>10} {'turns ray/local':>28} "
          f"{'warm-up local s':>16} {'warm-up ray s':>14}")
    try:
        for workers in concurrencies:
            local = LocalExecutor(problem, workers)
            t = time.perf_counter()
            remote = ray_executor.RayExecutor(problem, workers, RayConfig(num_cpus=1))
            make_s = time.perf_counter() - t

            async def turns():
                warm = []
                for executor in (local, remote):  # start worker processes, fork servers, actors
                    t = time.perf_counter()
                    await _drive(executor, code, workers, workers)
                    warm.append(time.perf_counter() - t)
                rates = {"local": [], "ray": []}
                for i in range(rounds):
                    order = (("local", local), ("ray", remote)) if i % 2 == 0 else (("ray", remote), ("local", local))
                    for name, executor in order:
                        rates[name].append(await _drive(executor, code, n, workers))
                return warm, rates

            warm, rates = asyncio.run(turns())
            lo, ra = statistics.median(rates["local"]), statistics.median(rates["ray"])
            each = " ".join(f"{r / l:.0%}" for l, r in zip(rates["local"], rates["ray"]))
            print(f"{workers:>12} {lo:>10.1f} {ra:>8.1f} {ra / lo:>10.0%} {each:>28} {warm[0]:>16.2f} "
                  f"{make_s + warm[1]:>14.2f}")
            local.backend.close() if hasattr(local.backend, "close") else None
    finally:
        t = time.perf_counter()
        ray_executor.shutdown()
        print(f"Ray start-up (ray.init, a local cluster): {init_s:.2f} s; shut-down (actors and cluster): "
              f"{time.perf_counter() - t:.2f} s; warm-up ray = actors started + first {max(concurrencies)} "
              "evaluations (not in the rates)")


# --- 2. database ----------------------------------------------------------------------------------
def _rows(run_id: int, start: int, n: int, rng: random.Random) -> list[Program]:
    return [Program(run_id=run_id, iteration=i, mutation="offline:constant", island=i % 4, parent_id=None,
                    code=f"def f():\n    return {i}\n" * 8, code_hash=code_hash(str(i)),
                    status=rng.choice(("evaluated", "evaluated", "evaluated", "failed", "duplicate")),
                    score=rng.random(), metrics={"valid": True, "hit_rate": rng.random()}, diff="@@ -1 +1 @@\n")
            for i in range(start, start + n)]


def _median_ms(fn, times: int = 15) -> float:
    fn()
    samples = []
    for _ in range(times):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1000


def database(label: str, url: str, total: int) -> None:
    factory = open_database(url)
    rng = random.Random(0)
    with factory.begin() as s:
        run = Run(name=f"bench-{time.time_ns()}", problem="p", problem_path="", config={"objectives": [
            {"name": "hit_rate", "direction": "max"}], "workloads": {"stages": [{"name": "only"}]}})
        s.add(run)
        s.flush()
    single = 2000
    t = time.perf_counter()
    for i in range(single):  # the controller's pattern: one short transaction per program
        with factory.begin() as s:
            s.add_all(_rows(run.id, i, 1, rng))
    single_rate = single / (time.perf_counter() - t)
    t = time.perf_counter()
    for start in range(single, total, 1000):
        with factory.begin() as s:
            s.add_all(_rows(run.id, start, min(1000, total - start), rng))
    batch_s = time.perf_counter() - t
    batch_rate = (total - single) / batch_s

    factory.kw["bind"].dispose()
    factory = open_database(url, create=False, readonly=True)  # as `evolve leaderboard` reads

    def top50():
        with factory() as s:
            assert len(repo.ranked(s, run.id, limit=50, status="evaluated")) == 50

    def top50_island():
        with factory() as s:
            q = select(Program.id, Program.score).where(Program.run_id == run.id, Program.status == "evaluated",
                                                        Program.island == 2).order_by(Program.score.desc()).limit(50)
            assert len(s.execute(q).all()) == 50

    top_ms, island_ms = _median_ms(top50), _median_ms(top50_island)
    full_ms = _median_ms(lambda: snapshot.load(factory, run.id), times=3)
    print(f"{label:>11} {single_rate:>14.0f} {batch_rate:>14.0f} {total / 1000:>6.0f}k {top_ms:>11.1f} "
          f"{island_ms:>13.1f} {full_ms:>13.0f}")
    factory.kw["bind"].dispose()


def databases(tmp: Path, total: int, pg: str | None) -> None:
    print(f"\n2. database: inserts (programs/s) and leaderboard queries (median ms) at {total:,} programs")
    print(f"{'database':>11} {'1/transaction':>14} {'1000/transaction':>14} {'rows':>7} {'top 50 ms':>11} "
          f"{'+ island ms':>13} {'full read ms':>13}")
    database("SQLite", sqlite_url(tmp / "bench.db"), total)
    if pg:
        database("PostgreSQL", pg, total)


# --- 3. what one controller can drive --------------------------------------------------------------
class RemoteLike:
    """Evaluations that take `seconds` elsewhere (no CPU here), like tasks on a cluster."""

    def __init__(self, problem, seconds: float):
        self.stage, self.seconds, self.rng = problem.spec.workloads.stages[-1], seconds, random.Random(0)

    async def evaluate(self, code: str, stages=None) -> list[StageOutcome]:
        await asyncio.sleep(self.seconds)
        return [StageOutcome(self.stage, "ok", True, {"valid": True, "closeness": -self.rng.random()},
                             wall_s=self.seconds)]

    async def probe(self, code: str, repeat: int = 1):
        return None


class Quiet:
    def recorded(self, program, best) -> None:
        pass


def controller(tmp: Path, url_of, seconds: float = 0.5, label: str = "SQLite") -> None:
    problem = load_problem(write_problem(tmp / "ctl", YAML, evaluator=SLOW_EVALUATOR))
    print(f"\n3. one controller ({label}), evaluations of {seconds} s elsewhere: recorded/s and controller CPU")
    print(f"{'concurrency':>12} {'evals/s':>9} {'ideal':>7} {'of ideal':>9} {'controller CPU':>15}")
    for concurrency in (8, 32, 128, 512):
        n = max(200, concurrency * 6)
        factory = open_database(url_of(concurrency))
        with factory.begin() as s:
            run = Run(name=f"ctl-{concurrency}-{time.time_ns()}", problem="tiny", problem_path="", config={})
            s.add(run)
            s.flush()
        ctl = Controller(problem, factory, run, RemoteLike(problem, seconds), Limits(iterations=n, wall_time_s=None),
                         concurrency, Quiet())
        cpu, wall = time.process_time(), time.perf_counter()
        asyncio.run(ctl.run())
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        rate = n / wall
        ideal = concurrency / seconds
        print(f"{concurrency:>12} {rate:>9.1f} {ideal:>7.0f} {rate / ideal:>9.0%} {cpu / wall:>15.0%}")
        factory.kw["bind"].dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evals", type=int, default=16, help="evaluations per executor row")
    parser.add_argument("--cache-evals", type=int, default=24, help="cache_eviction evaluations per turn")
    parser.add_argument("--rounds", type=int, default=3, help="cache_eviction turns per executor")
    parser.add_argument("--programs", type=int, default=100_000)
    parser.add_argument("--pg", help="a PostgreSQL URL (default: start a throwaway server if possible)")
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--skip", nargs="*", default=[], choices=["executors", "cache", "database", "controller"])
    args = parser.parse_args()
    pg = None
    if not args.no_pg:
        pg = args.pg
        if pg is None:
            from tests.db import pgserver
            try:
                pg = pgserver.fresh_database("bench")
            except pgserver.NoPostgres as exc:
                print(f"PostgreSQL skipped: {exc}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if "executors" not in args.skip:
            executors(tmp, args.evals)
        if "cache" not in args.skip:
            cache_eviction(args.cache_evals, args.rounds)
        if "database" not in args.skip:
            databases(tmp, args.programs, pg)
        if "controller" not in args.skip:
            controller(tmp, lambda c: sqlite_url(tmp / f"ctl{c}.db"))
            if pg:
                from tests.db import pgserver
                controller(tmp, lambda c: pgserver.fresh_database("ctl") if not args.pg else pg, label="PostgreSQL")


if __name__ == "__main__":
    main()
