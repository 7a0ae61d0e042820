"""The duplicate filter in front of evaluation: syntactic hash first, then the functional probe.

A hit is recorded as a `duplicate` of the program it matches and is credited
with its score, at no evaluation cost. By policy a hit may be evaluated anyway:
an `audit_rate` share of hits measures how often equal hashes give different
scores (the collision rate), and `reevaluate_hits` folds up to N hits into the
original's score, for problems whose metrics are noisy. Where an objective or
constraint is a `cost` the probe does not report (a runtime), a hit is evaluated
partially instead: its costs measured, the rest its original's (evolve/search/partial.py).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from evolve.search import fhash, partial
from evolve.problem import Problem


@dataclass
class Verdict:
    """What the filter decided for one candidate."""

    ast_hash: str | None
    func_hash: str | None = None
    original_id: int | None = None  # the program it duplicates, if any
    level: str | None = None  # syntactic | functional | unhashable
    evaluate_anyway: str | None = None  # audit | reevaluate | cost (a partial evaluation)
    probe_wall_s: float = 0.0
    note: str = ""
    probed: frozenset[str] | None = None  # the costs its probe reported (in its hash)


class Deduplicator:
    def __init__(self, problem: Problem, executor, rng: random.Random):
        self.cfg = problem.spec.dedup
        self.executor, self.rng = executor, rng
        self.ast_index: dict[str, int] = {}
        self.func_index: dict[str, int] = {}
        self.samples: dict[int, int] = {}  # original id -> hits folded into its score
        self.costs = partial.cost_names(problem.spec)  # kind: cost objectives and constraints
        self.probed: frozenset[str] = frozenset()  # the costs the probe reports, once a probe has run
        self.partial: set[int] = set()  # programs scored by a partial evaluation
        probe = problem.spec.workloads.probe
        self.functional = self.cfg.functional and probe is not None
        self.key = fhash.problem_key(problem)
        self.notes: list[str] = []
        if self.cfg.functional and probe is None:
            self.notes.append("functional hashing is off: the problem declares no `workloads.probe`")

    def restore(self, rows, partial_ids: set[int] = frozenset()) -> None:
        """Index the programs already in the run (the first of each hash is the original)."""
        self.partial |= set(partial_ids)
        for row in rows:
            if row.duplicate_of is not None:
                folded = row.status != "duplicate" and row.id not in self.partial
                self.samples[row.duplicate_of] = self.samples.get(row.duplicate_of, 0) + folded
                continue
            if self.cfg.syntactic and row.ast_hash:
                self.ast_index.setdefault(row.ast_hash, row.id)
            if row.func_hash:
                self.func_index.setdefault(row.func_hash, row.id)

    def register(self, program_id: int, verdict: Verdict) -> None:
        """Make a program that is not a duplicate findable by its hashes."""
        if self.cfg.syntactic and verdict.ast_hash:
            self.ast_index.setdefault(verdict.ast_hash, program_id)
        if verdict.func_hash:
            self.func_index.setdefault(verdict.func_hash, program_id)

    def syntactic(self, code: str) -> Verdict:
        h = fhash.syntactic_hash(code)
        original = self.ast_index.get(h) if self.cfg.syntactic and h else None
        verdict = Verdict(h, original_id=original, level="syntactic" if original else None)
        return self._policy(verdict)

    def recheck(self, program) -> Verdict:
        """The syntactic verdict for a program already written (the starting program, or one a stopped
        run left pending): restore() may have indexed it as its own original, which is no hit."""
        h = program.ast_hash or fhash.syntactic_hash(program.code)
        original = self.ast_index.get(h) if self.cfg.syntactic and h else None
        if original is None or original == program.id:
            return Verdict(h)
        return self._policy(Verdict(h, original_id=original, level="syntactic"))

    def rides_along(self, n_stages: int) -> bool:
        """Whether the probe runs inside the first stage's sandbox (a cascade: the later stages are
        what a hit saves) rather than in a sandbox of its own before any stage (one-stage problems)."""
        return self.functional and n_stages > 1

    async def functional_check(self, code: str, verdict: Verdict) -> Verdict:
        """Run the probe in a sandbox of its own (twice in one process) and look its hash up."""
        if not self.functional:
            return verdict
        result = await self.executor.probe(code, repeat=2)
        verdict.probe_wall_s = result.wall_s
        if not result.ok:
            return self._unhashable(verdict, f"probe {result.status}: {(result.error or '')[-300:]}")
        return self.judge(list(result.result), verdict)

    def judge(self, outputs, verdict: Verdict, probe_s: float = 0.0) -> Verdict:
        """Hash the probe outputs and look them up; unhashable candidates pass to evaluation."""
        verdict.probe_wall_s = verdict.probe_wall_s or probe_s
        if outputs is None:
            return self._unhashable(verdict, "the probe did not finish (the run ended before it reported)")
        if isinstance(outputs, dict) and "__probe_error__" in outputs:
            return self._unhashable(verdict, f"probe raised: {outputs['__probe_error__'][-300:]}")
        try:
            verdict.func_hash = fhash.functional_hash(self.key, list(outputs), self.cfg.float_bits)
        except (fhash.Unhashable, TypeError) as exc:
            return self._unhashable(verdict, str(exc))
        verdict.probed = partial.probed_costs(outputs)
        self.probed |= verdict.probed
        original = self.func_index.get(verdict.func_hash)
        if original is not None:
            verdict.original_id, verdict.level = original, "functional"
            return self._policy(verdict)
        return verdict

    def _unhashable(self, verdict: Verdict, note: str) -> Verdict:
        if "has no attribute 'probe'" in note and self.functional:
            self.functional = False
            self.notes.append("functional hashing is off: the evaluator has no `probe()` function")
        verdict.level, verdict.note = "unhashable", note
        return verdict

    def _policy(self, verdict: Verdict) -> Verdict:
        if verdict.original_id is None:
            return verdict
        if self.samples.get(verdict.original_id, 0) < self.cfg.reevaluate_hits:
            self.samples[verdict.original_id] = self.samples.get(verdict.original_id, 0) + 1
            verdict.evaluate_anyway = "reevaluate"
        elif self.cfg.audit_rate > 0 and self.rng.random() < self.cfg.audit_rate:
            verdict.evaluate_anyway = "audit"
        elif self.costs - self.probed:
            verdict.evaluate_anyway = "cost"
        return verdict

    def remeasure(self, verdict: Verdict) -> tuple[frozenset[str], frozenset[str]]:
        """A partial hit's costs to measure again (those its hash does not hold), and of them the ones its
        cost-only run must report: all for a functional hit; none for a syntactic one (the same code:
        whatever the run does not measure is the original's)."""
        names = self.costs - (verdict.probed if verdict.probed is not None else self.probed)
        return names, names if verdict.level == "functional" else frozenset()

    def take_notes(self) -> list[str]:
        notes, self.notes = self.notes, []
        return notes
