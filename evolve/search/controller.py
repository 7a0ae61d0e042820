"""The evolution loop: select a parent -> mutate -> evaluate in the sandbox -> record.

Each candidate is one task: propose, write the row as `pending`, evaluate
(holding an evaluation slot only while the sandbox runs), record in one
transaction with the population changes it causes. The database is the
checkpoint: a crash loses no finished work and `resume` re-evaluates what was
in flight exactly once.
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
from evolve.search import partial
from evolve.search.dedup import Deduplicator, Verdict
from evolve.mutate.offline import OfflineMutator
from evolve.search.propose import Draft, make_proposer
from evolve.search.replay import DIVERGED
from evolve.search.sequence import TICKET, Sequence
from evolve.search.population import Member, Population
from evolve.problem import Problem
from evolve.search.scoring import assess, assess_metrics, objective_vector, violation

MAX_FRUITLESS_PROPOSALS = 200


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Limits:
    """When to stop proposing: children in the run, seconds of this session, target, patience."""

    iterations: int | None
    wall_time_s: float | None
    target_score: float | None = None
    patience: int | None = None


class Executor(Protocol):
    async def evaluate(self, code: str) -> list: ...


class Reporter(Protocol):
    def recorded(self, program: Program, best: float | None) -> None: ...


class Controller:
    def __init__(self, problem: Problem, factory: sessionmaker[Session], run: Run, executor: Executor,
                 limits: Limits, concurrency: int, reporter: Reporter, mutator: OfflineMutator | None = None,
                 llm=None, max_in_flight: int | None = None):
        evo = problem.spec.evolution
        self.problem, self.factory, self.run_row, self.executor = problem, factory, run, executor
        self.limits, self.concurrency, self.reporter = limits, concurrency, reporter
        self.population = Population(evo, evo.ranking)
        self.seen: set[str] = set()
        self.children = 0  # programs made by mutation so far (iteration >= 1), in flight included
        self.next_iteration = 0
        self.since_improvement = 0  # recorded programs since the best score last rose
        self.rng = random.Random(evo.seed)
        if llm is not None:
            llm.rng = self.rng  # one random stream: a replayed run makes the same choices
        self.proposer = make_proposer(problem, factory, self.rng, lambda code: code_hash(code) in self.seen,
                                      llm=llm, mutator=mutator)
        # candidates in flight: evaluation slots, plus proposals waiting on a model
        self.max_in_flight = max_in_flight or concurrency + self.proposer.extra_in_flight
        self.llm_preflight = list(getattr(llm, "preflight_calls", []))
        self.stop_requested = asyncio.Event()
        self.initial_error: str | None = None
        self.fruitless = 0
        self.dedup = Deduplicator(problem, executor, self.rng)
        self.replay = getattr(llm, "recording", None)  # --replay: the recorded proposals to walk again
        # evolution.deterministic: every choice from the seed and ticket order, none from timing
        self.sequence = Sequence(self.max_in_flight, 0, evo.seed) if evo.deterministic and not self.replay else None
        self.sequence_stop = ""  # deterministic: the target or patience, as the candidate that met it saw it

    # --- state -------------------------------------------------------------------
    def _load(self) -> list[Program]:
        """Rebuild in-memory state from the database; return programs still to evaluate."""
        with self.factory() as session:
            rows = repo.programs(session, self.run_row.id)
            members, cells = repo.population_rows(session, self.run_row.id)
            self.dedup.restore(rows, repo.partial_hits(session, self.run_row.id))
        with self.factory.begin() as session:
            self.proposer.restore(session, self.run_row.id)
            repo.add_llm_calls(session, self.run_row.id, None, self.llm_preflight)
        self.llm_preflight = []
        by_id = {row.id: row for row in rows}
        cell_of = {c.program_id: c.cell for c in cells}
        pending = []
        for row in rows:
            self.seen.add(row.code_hash)
            self.next_iteration = max(self.next_iteration, row.iteration + 1)
            self.children += row.iteration > 0
            if row.status == "pending":
                pending.append(row)
        for m in sorted(members, key=lambda m: m.joined_at):
            self.population.restore(self._member(by_id[m.program_id]), m.island, cell_of.pop(m.program_id, None))
        for program_id, cell in cell_of.items():  # cell holders no longer in any island
            self.population.cells[cell] = self._member(by_id[program_id])
        scored = sorted((r for r in rows if r.status == "evaluated"), key=lambda r: (r.evaluated_at or r.created_at, r.id))
        self.population.recorded = self.population.migrated_at = len(scored)
        best = None
        for r in scored:
            self.since_improvement = 0 if best is None or r.score > best else self.since_improvement + 1
            best = r.score if best is None else max(best, r.score)
        # a resumed run draws fresh random numbers, reproducibly
        self.rng.seed(f"{self.problem.spec.evolution.seed}:{len(rows)}")
        return pending

    def _recorded_member(self, row: Program | None) -> Member | None:
        """A program as a parent of a replayed proposal: its population member, or (not scored yet: a replay
        runs ahead of its evaluations) one made from its row."""
        if row is None:
            return None
        member = self.population.member(row.id)
        return member or Member(row.id, row.score, row.code, row.generation, row.island, (), row.metrics or {})

    def _member(self, row: Program) -> Member:
        return Member(row.id, row.score, row.code, row.generation, row.island,
                      objective_vector(self.problem.spec.objectives, row.metrics or {}), row.metrics or {})

    def _insert(self, calls: list | None = None, **fields) -> Program:
        ticket = TICKET.get() if self.sequence is not None else None  # deterministic: the reserved iteration
        iteration = self.next_iteration if ticket is None else ticket
        with self.factory.begin() as session:
            program = repo.add_program(session, run_id=self.run_row.id, iteration=iteration,
                                       code_hash=code_hash(fields["code"]), **fields)
            repo.add_llm_calls(session, self.run_row.id, program.id, calls or [])
        self.next_iteration = max(self.next_iteration, iteration + 1)
        self.seen.add(program.code_hash)
        return program

    # --- the loop ------------------------------------------------------------------
    async def run(self) -> str:
        """Evolve until a budget is spent or a stop is requested; return why it stopped."""
        queue = self._load()
        if not queue and self.next_iteration == 0:
            verdict = self.dedup.syntactic(self.problem.initial_code)
            queue.append(self._insert(code=self.problem.initial_code, mutation="initial", generation=0,
                                      ast_hash=verdict.ast_hash))
        self._notes()
        if self.sequence is not None:
            self.sequence.begin(self.next_iteration)
        started = time.monotonic()
        in_flight: set[asyncio.Task] = set()
        stopper = asyncio.ensure_future(self.stop_requested.wait())
        reason = ""
        try:
            while True:
                while len(in_flight) < self.max_in_flight and not self.stop_requested.is_set():
                    if queue:  # the starting program, or programs a stopped run left pending
                        program = queue.pop(0)
                        task = self._screen(program, self.dedup.recheck(program))
                        in_flight.add(asyncio.ensure_future(self._ticketed(program.iteration, task)))
                        continue
                    reason = reason or self._budget_spent(started)
                    if reason or not self.population:
                        if reason and self.sequence is not None:
                            self.sequence.close()
                        break
                    self.children += 1  # counted now, so concurrent proposals respect the budget
                    ticket = None
                    if self.sequence is not None:  # the candidate's iteration, reserved now
                        ticket, self.next_iteration = self.next_iteration, self.next_iteration + 1
                    in_flight.add(asyncio.ensure_future(self._ticketed(ticket, self._candidate())))
                if self.stop_requested.is_set():
                    return "interrupted"
                if not in_flight:
                    return reason or self._no_parent_reason()
                done, _ = await asyncio.wait([*in_flight, stopper], return_when=asyncio.FIRST_COMPLETED)
                for task in done - {stopper}:
                    in_flight.discard(task)
                    task.result()  # a bug in the loop surfaces here rather than being lost
                if self.fruitless >= MAX_FRUITLESS_PROPOSALS:
                    reason = reason or f"the mutator found nothing new in {self.fruitless} tries in a row"
        finally:
            stopper.cancel()
            if self.sequence is not None:
                self.sequence.close()
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)

    def _budget_spent(self, started: float) -> str:
        lim = self.limits
        if lim.iterations is not None and self.children >= lim.iterations:
            return f"iteration budget of {lim.iterations} reached"
        if lim.wall_time_s is not None and time.monotonic() - started >= lim.wall_time_s:
            return f"wall-time budget of {lim.wall_time_s:g} s reached"
        if self.sequence is not None:  # target and patience: judged by each candidate on its own population
            return self.sequence_stop or self.proposer.stop_reason()
        return self._reached() or (self.replay.stop_reason() if self.replay is not None else self.proposer.stop_reason())

    def _reached(self) -> str:
        """The target score or the patience, on the population as it stands."""
        lim = self.limits
        best = self.population.best()
        if lim.target_score is not None and best is not None and best.score >= lim.target_score:
            return f"target score {lim.target_score:g} reached (best {best.score:.6g})"
        if lim.patience is not None and self.since_improvement >= lim.patience:
            return f"no improvement in {self.since_improvement} evaluations (patience {lim.patience})"
        return ""

    async def _ticketed(self, ticket: int | None, work) -> None:
        """Run one candidate's (or queued program's) task under its ticket (deterministic mode)."""
        if self.sequence is None or ticket is None:
            return await work
        TICKET.set(ticket)
        self.sequence.start(ticket)
        try:
            await work
        finally:
            self.sequence.finish(ticket)

    async def _settle(self, record, *args) -> None:
        """`record(*args)` (a program's result into the database and the population), in ticket order."""
        ticket = TICKET.get()
        if self.sequence is not None and ticket is not None:
            await self.sequence.turn(ticket)
        record(*args)
        if self.sequence is not None and ticket is not None:
            self.sequence.settled(ticket)

    async def _before_judging(self, level: str) -> None:
        ticket = TICKET.get()
        if self.sequence is not None and ticket is not None:
            await self.sequence.before_judging(ticket, level)

    def _judged(self, *levels: str) -> None:
        ticket = TICKET.get()
        if self.sequence is not None and ticket is not None:
            for level in levels:
                self.sequence.judged(ticket, level)

    def _no_parent_reason(self) -> str:
        detail = f": {self.initial_error}" if self.initial_error else ""
        return f"no program scored, so there is no parent to mutate (the starting program failed{detail})"

    async def _candidate(self) -> None:
        if self.replay is not None:
            return await self._replayed()
        rng = self.rng
        if self.sequence is not None:
            ticket = TICKET.get()
            await self.sequence.before_select(ticket)
            self.sequence_stop = self.sequence_stop or self._reached()
            if self.sequence_stop:
                self.children -= 1
                return
            rng = self.sequence.rng(ticket)
            self.sequence.has_selected(ticket)  # the waiters run once this task yields: after the draw below
        island = self.population.next_island()
        parent = self.population.select(rng, island)
        inspirations = self.population.inspirations(rng, parent)
        partner = inspirations[0] if inspirations else None
        draft = await self.proposer.propose(parent, partner, inspirations, rng)
        if draft is None or draft.skipped:
            self.children -= 1
            self.fruitless += draft is None
            return
        await self._child(parent, partner if draft.partner_used else None, island, draft)

    async def _child(self, parent: Member, partner: Member | None, island: int, draft: Draft) -> None:
        """A proposal written as a program: rejected with its reason, or screened and evaluated."""
        self.fruitless = 0
        parent.children += 1
        fields = dict(mutation=draft.mutation, parent_id=parent.id, island=island,
                      second_parent_id=partner.id if partner is not None else None,
                      generation=1 + max(parent.generation, partner.generation if partner is not None else 0))
        if draft.code is None:
            self._judged("syntactic", "functional")
            await self._settle(self._record_rejected, parent, draft, fields)
            return
        if self.sequence is not None:  # what the next proposals must not make again, in ticket order
            self.seen.add(code_hash(draft.code))
            await self._before_judging("syntactic")
        verdict = self.dedup.syntactic(draft.code)
        program = self._insert(draft.calls, code=draft.code, diff=unified_diff(parent.code, draft.code, parent.id),
                               ast_hash=verdict.ast_hash, **fields)
        await self._screen(program, verdict)
        scored = program.status == "evaluated" and (program.duplicate_of is None or program.id in self.dedup.partial)
        known = scored and parent.score is not None  # a replayed parent may not be scored yet
        self.proposer.observe(draft, program.score - parent.score if known else None)

    async def _replayed(self) -> None:
        """The next recorded proposal of the run being replayed (evolve/search/replay.py)."""
        step = self.replay.next()
        if step is None:
            self.children -= 1
            return
        with self.factory() as session:
            rows = repo.programs_at(session, self.run_row.id, [step.parent, step.partner])
        parent, partner = (self._recorded_member(rows.get(i)) for i in (step.parent, step.partner))
        if parent is None:
            self.replay.diverged = f"{DIVERGED} at #{step.iteration + 1}: its parent #{(step.parent or 0) + 1} is not here"
        rebuilt = self.replay.rebuild(step, parent.code, self.next_iteration) if parent else None
        if rebuilt is None or rebuilt.diverged:
            self.children -= 1
            with self.factory.begin() as session:
                repo.add_llm_calls(session, self.run_row.id, None, [self.replay.divergence_call(step)])
            return
        model = step.turns[-1].model if step.turns else None
        await self._child(parent, partner, step.island, Draft(rebuilt.code, step.mutation, partner is not None, model,
                                                               rebuilt.calls, rebuilt.rejection))

    async def _screen(self, program: Program, verdict: Verdict) -> None:
        """A written candidate through the duplicate filter, then evaluation unless it is a duplicate (a hit
        whose costs the hash does not hold is evaluated for those only). New children, the starting program
        and programs left pending by a stopped run all pass here."""
        if verdict.original_id is None:
            self.dedup.register(program.id, verdict)
            self._judged("syntactic")
            if not self.dedup.rides_along(len(self.problem.spec.workloads.stages)):
                await self._before_judging("functional")
                verdict = await self.dedup.functional_check(program.code, verdict)
                if verdict.original_id is None:
                    self.dedup.register(program.id, verdict)
                self._judged("functional")
                self._notes()
        if verdict.original_id is not None and not verdict.evaluate_anyway:
            self._judged("syntactic", "functional")
            await self._settle(self._record_duplicate, program, verdict)
            return
        await self._evaluate(program, verdict)

    def _record_rejected(self, parent: Member, draft: Draft, fields: dict) -> None:
        """A proposal with nothing to evaluate (a patch that did not apply, an empty answer): kept with its reason."""
        program = self._insert(draft.calls, code=parent.code, status="rejected", error=draft.rejection, **fields)
        self.since_improvement += 1
        self.proposer.observe(draft, None)
        self.proposer.failed(f"{draft.mutation} by {draft.model}: {draft.rejection}")
        best = self.population.best()
        self.reporter.recorded(program, best.score if best else None)

    async def _evaluate(self, program: Program, verdict: Verdict | None = None) -> None:
        stages = self.problem.spec.workloads.stages
        ran: list = []  # stages run in full so far
        if verdict is not None and verdict.level is None and self.dedup.rides_along(len(stages)):
            # the probe rides with the first stage; a hit skips the later (costlier) stages
            ran = await self.executor.evaluate(program.code, stages[:1], probe_repeat=2)
            await self._before_judging("functional")
            verdict = self.dedup.judge(ran[0].probe, verdict, ran[0].probe_s)
            if verdict.original_id is None:
                self.dedup.register(program.id, verdict)
            self._notes()
            if verdict.original_id is not None and not verdict.evaluate_anyway:
                self._judged("functional")
                await self._settle(self._record_duplicate, program, verdict, ran)
                return
        self._judged("syntactic", "functional")
        if verdict is not None and verdict.evaluate_anyway == "cost":  # a hit whose costs the hash does not hold
            if (not ran or ran[-1].passed) and await self._evaluate_costs(program, verdict, ran):
                return
            verdict.original_id = verdict.evaluate_anyway = None  # evaluated in full: a program of its own
        if ran:
            outcomes = ran + (await self.executor.evaluate(program.code, stages[1:]) if ran[-1].passed else [])
        else:
            outcomes = await self.executor.evaluate(program.code)
        await self._settle(self._record, program, outcomes, verdict)

    async def _evaluate_costs(self, program: Program, verdict: Verdict, ran: list) -> bool:
        """A partial evaluation: the hit's costs measured again, the rest its original's, scored as a program
        of its own. False when it must be evaluated in full (its original is still in flight, or a run failed)."""
        stages = self.problem.spec.workloads.stages
        if self.sequence is not None:  # whether the original is still in flight must not depend on timing
            with self.factory() as session:
                before = session.get(Program, verdict.original_id).iteration
            await self.sequence.until_settled(before)
        with self.factory() as session:
            original = session.get(Program, verdict.original_id)
            source = partial.sources(repo.stage_metrics(session, original.id), [s.name for s in stages])
        if original.status == "failed":  # no costs to measure against a failure: a plain duplicate
            await self._settle(self._record_duplicate, program, verdict, ran)
            return True
        if original.status not in ("evaluated", "infeasible"):
            return False
        names, required = self.dedup.remeasure(verdict)
        known = {k: v for k, v in (original.metrics or {}).items() if k not in self.dedup.costs}
        todo = partial.cost_stages(stages, names, source, known, done=[o.stage.name for o in ran])
        costs = await self.executor.evaluate(program.code, todo) if todo else []
        metrics, why = partial.merge(original.metrics or {}, [*ran, *costs], names, source, required)
        if metrics is None:
            self.dedup.notes.append(f"#{repo.number(program)}: {why}; evaluated in full")
            self._notes()
            return False
        await self._settle(self._record_partial, program, verdict, original, ran, costs, metrics)
        return True

    def _record_partial(self, program: Program, verdict: Verdict, original: Program, ran: list, costs: list,
                        metrics: dict) -> None:
        spec = self.problem.spec
        program.status, program.score, program.error = assess_metrics(spec.objectives, spec.constraints, metrics)
        program.metrics, program.duplicate_of = metrics, original.id
        program.original_number = repo.number(original)
        miss = violation(spec.constraints, metrics) if program.status == "infeasible" else None
        self.dedup.partial.add(program.id)
        ops = self._admit(program)
        with self.factory.begin() as session:
            if verdict.probe_wall_s:
                repo.add_probe_evaluation(session, program.id, verdict.probe_wall_s)
            repo.record_partial(session, program.id, original, ran, costs, status=program.status, score=program.score,
                                metrics=metrics, error=program.error, violation=miss, func_hash=verdict.func_hash,
                                dedup_level=verdict.level, duplicate_of=original.id)
            repo.apply_population_ops(session, self.run_row.id, ops)
        self._reported(program, ops)

    def _record_duplicate(self, program: Program, verdict: Verdict, outcomes: list = ()) -> None:
        """A hit: no (further) evaluation; linked to its original and credited with its score."""
        with self.factory.begin() as session:
            original = session.get(Program, verdict.original_id)
            row = repo.record_duplicate(session, program.id, original, verdict.level, verdict.func_hash,
                                        verdict.probe_wall_s, outcomes)
        program.status, program.score, program.duplicate_of = row.status, row.score, row.duplicate_of
        program.original_number = repo.number(original)  # what users see it as (not a column)
        self.since_improvement += 1
        best = self.population.best()
        self.reporter.recorded(program, best.score if best else None)

    def _notes(self) -> None:
        for text in self.dedup.take_notes():
            if hasattr(self.reporter, "note"):
                self.reporter.note(text)

    def _record(self, program: Program, outcomes: list, verdict: Verdict | None = None) -> None:
        spec = self.problem.spec
        status, score, metrics, error = assess(spec.objectives, spec.constraints, outcomes)
        stage_rules = [c for o in outcomes for c in o.stage.require]
        miss = violation([*stage_rules, *spec.constraints], metrics) if status == "infeasible" else None
        program.status, program.score, program.metrics, program.error = status, score, metrics, error
        self.proposer.recorded(program.id, error, outcomes)
        ops = []
        link = verdict is not None and verdict.original_id is not None  # a hit evaluated anyway
        if link:
            self.since_improvement += 1
        else:
            ops = self._admit(program)
        fields = dict(status=status, score=score, metrics=metrics or None, error=error, violation=miss)
        if verdict is not None:
            fields.update(func_hash=verdict.func_hash, dedup_level=verdict.level,
                          duplicate_of=verdict.original_id if link else None)
        with self.factory.begin() as session:
            if verdict is not None and verdict.probe_wall_s:
                repo.add_probe_evaluation(session, program.id, verdict.probe_wall_s, verdict.note)
            repo.record_outcome(session, program.id, outcomes, **fields)
            repo.apply_population_ops(session, self.run_row.id, ops)
            if link and verdict.evaluate_anyway == "reevaluate" and score is not None:
                new_score = repo.fold_sample(session, verdict.original_id, score)
                self.population.rescore(verdict.original_id, new_score)
            if not link:
                repo.credit_duplicates(session, program.id, score, metrics or None)
        self._reported(program, ops)

    def _admit(self, program: Program) -> list:
        """A scored program into the population (the changes to persist); patience and failure bookkeeping."""
        if program.status != "evaluated":
            self.since_improvement += 1
            if program.iteration == 0:
                self.initial_error = program.error
            elif program.error:
                self.proposer.failed(f"#{program.id} ({program.mutation}) {program.status}: {program.error[-400:]}")
            return []
        best_before = self.population.best()
        member = self._member(program)
        ops = self.population.seed(member) if program.iteration == 0 else self.population.add(member)
        ops += self.population.maybe_migrate() + self.population.maybe_reseed()
        improved = best_before is None or program.score > best_before.score
        self.since_improvement = 0 if improved else self.since_improvement + 1
        return ops

    def _reported(self, program: Program, ops: list) -> None:
        best = self.population.best()
        self.reporter.recorded(program, best.score if best else None)
        if any(op.via == "migration" for op in ops) and hasattr(self.reporter, "note"):
            self.reporter.note(f"migration: {sum(op.via == 'migration' for op in ops)} program(s) moved")


def unified_diff(before: str, after: str, parent_id: int) -> str:
    lines = difflib.unified_diff(before.splitlines(True), after.splitlines(True),
                                 f"program {parent_id}", "child", n=2)
    return "".join(lines)
