"""The evolution loop: select a parent -> mutate -> evaluate in the sandbox -> record.

Proposals are cheap and made in the loop; evaluations run concurrently, bounded
by the executor's slots. The database is the checkpoint: every program is
written as `pending` before it is evaluated and updated in one transaction
after, so a crash loses no finished work and `resume` re-evaluates what was in
flight exactly once.
"""
from __future__ import annotations

import asyncio
import difflib
import hashlib
import random
import time
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from evolve.db import repo
from evolve.db.models import Program, Run
from evolve.mutate.offline import OfflineMutator
from evolve.population import Member, Population
from evolve.problem import Problem
from evolve.scoring import assess

MAX_FRUITLESS_PROPOSALS = 200


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Limits:
    """When to stop proposing: children created in the run, and seconds of this session."""

    iterations: int | None
    wall_time_s: float | None


class Executor(Protocol):
    async def evaluate(self, code: str) -> list: ...


class Reporter(Protocol):
    def recorded(self, program: Program, best: float | None) -> None: ...


class Controller:
    def __init__(self, problem: Problem, factory: sessionmaker[Session], run: Run, executor: Executor,
                 limits: Limits, concurrency: int, reporter: Reporter, mutator: OfflineMutator | None = None):
        evo = problem.spec.evolution
        self.problem, self.factory, self.run_row, self.executor = problem, factory, run, executor
        self.limits, self.concurrency, self.reporter = limits, concurrency, reporter
        self.population = Population(evo.selection, evo.power_law_alpha)
        self.seen: set[str] = set()
        self.children = 0  # programs made by mutation so far (iteration >= 1)
        self.next_iteration = 0
        self.rng = random.Random(evo.seed)
        self.mutator = mutator or OfflineMutator(self.rng, evo.crossover_rate)
        self.stop_requested = asyncio.Event()
        self.initial_error: str | None = None

    # --- state -------------------------------------------------------------------
    def _load(self) -> list[Program]:
        """Rebuild in-memory state from the database; return programs still to evaluate."""
        with self.factory() as session:
            rows = repo.programs(session, self.run_row.id)
        pending = []
        for row in rows:
            self.seen.add(row.code_hash)
            self.next_iteration = max(self.next_iteration, row.iteration + 1)
            self.children += row.iteration > 0
            if row.status == "evaluated":
                self.population.add(Member(row.id, row.score, row.code, row.generation))
            elif row.status == "pending":
                pending.append(row)
        # a resumed run draws fresh random numbers, reproducibly
        self.rng.seed(f"{self.problem.spec.evolution.seed}:{len(rows)}")
        return pending

    def _insert(self, **fields) -> Program:
        with self.factory.begin() as session:
            program = repo.add_program(session, run_id=self.run_row.id, iteration=self.next_iteration,
                                       code_hash=code_hash(fields["code"]), **fields)
        self.next_iteration += 1
        self.seen.add(program.code_hash)
        return program

    # --- the loop ------------------------------------------------------------------
    async def run(self) -> str:
        """Evolve until a budget is spent or a stop is requested; return why it stopped."""
        queue = self._load()
        if not queue and self.next_iteration == 0:
            queue.append(self._insert(code=self.problem.initial_code, mutation="initial", generation=0))
        started = time.monotonic()
        in_flight: dict[asyncio.Task, Program] = {}
        stopper = asyncio.ensure_future(self.stop_requested.wait())
        fruitless = 0
        reason = ""
        try:
            while True:
                while len(in_flight) < self.concurrency and not self.stop_requested.is_set():
                    if queue:
                        program = queue.pop(0)
                    else:
                        reason = self._budget_spent(started)
                        if reason or not self.population:
                            break
                        program = self._propose()
                        if program is None:
                            fruitless += 1
                            if fruitless >= MAX_FRUITLESS_PROPOSALS:
                                reason = f"the mutator found nothing new in {fruitless} tries in a row"
                                break
                            continue
                        fruitless = 0
                    in_flight[asyncio.ensure_future(self.executor.evaluate(program.code))] = program
                if self.stop_requested.is_set():
                    return "interrupted"
                if not in_flight:
                    return reason or self._no_parent_reason()
                done, _ = await asyncio.wait([*in_flight, stopper], return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task is not stopper:
                        self._record(in_flight.pop(task), task.result())
        finally:
            stopper.cancel()
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)

    def _budget_spent(self, started: float) -> str:
        if self.limits.iterations is not None and self.children >= self.limits.iterations:
            return f"iteration budget of {self.limits.iterations} reached"
        if self.limits.wall_time_s is not None and time.monotonic() - started >= self.limits.wall_time_s:
            return f"wall-time budget of {self.limits.wall_time_s:g} s reached"
        return ""

    def _no_parent_reason(self) -> str:
        detail = f": {self.initial_error}" if self.initial_error else ""
        return f"no program scored, so there is no parent to mutate (the starting program failed{detail})"

    def _propose(self) -> Program | None:
        parent = self.population.select(self.rng)
        other = self.population.select(self.rng) if len(self.population) > 1 else None
        if other is not None and other.id == parent.id:
            other = None
        child = self.mutator.propose(parent.code, lambda code: code_hash(code) in self.seen, other and other.code)
        if child is None:
            return None
        self.children += 1
        crossed = child.mutation.endswith("crossover") and other is not None
        return self._insert(
            code=child.code, mutation=child.mutation, parent_id=parent.id,
            second_parent_id=other.id if crossed else None,
            generation=1 + max(parent.generation, other.generation if crossed else 0),
            diff=unified_diff(parent.code, child.code, parent.id),
        )

    def _record(self, program: Program, outcomes: list) -> None:
        spec = self.problem.spec
        status, score, metrics, error = assess(spec.objectives, spec.constraints, outcomes)
        with self.factory.begin() as session:
            repo.record_outcome(session, program.id, status, score, metrics, error, outcomes)
        program.status, program.score, program.metrics, program.error = status, score, metrics, error
        if status == "evaluated":
            self.population.add(Member(program.id, score, program.code, program.generation))
        elif program.iteration == 0:
            self.initial_error = error
        best = self.population.best()
        self.reporter.recorded(program, best.score if best else None)


def unified_diff(before: str, after: str, parent_id: int) -> str:
    lines = difflib.unified_diff(before.splitlines(True), after.splitlines(True),
                                 f"program {parent_id}", "child", n=2)
    return "".join(lines)
