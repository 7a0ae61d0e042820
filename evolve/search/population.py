"""Islands of scored programs, their elite archives, MAP-Elites cells, and migration.

The population is in memory; every change it makes is returned as a list of
`Op`s that the controller writes to the database in the same transaction as
the program that caused it, so `resume` rebuilds exactly this state.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Sequence

from evolve.problem import Evolution, Feature
from evolve.search.scoring import order_keys
from evolve.search.selection import select_index


@dataclass(eq=False)
class Member:
    id: int
    score: float
    code: str
    generation: int = 0
    island: int = 0
    vector: tuple[float, ...] = ()
    metrics: dict = field(default_factory=dict)
    children: int = 0


@dataclass(frozen=True)
class Op:
    """A membership change to persist: kind is add | remove (island member) or cell."""

    kind: str
    program_id: int
    island: int = 0
    via: str = ""
    cell: str = ""


class Island:
    """One island's elite archive (bounded), ranked lazily by the run's ranking method."""

    def __init__(self, index: int, method: str):
        self.index, self.method = index, method
        self.members: dict[int, Member] = {}
        self._ranked: list[Member] | None = None
        self.best_score: float | None = None
        self.since_improvement = 0  # programs recorded on this island since its best improved

    def ranked(self) -> list[Member]:
        if self._ranked is None:
            members = sorted(self.members.values(), key=lambda m: m.id)
            keys = order_keys(self.method, [m.vector for m in members], [m.score for m in members])
            self._ranked = [m for _, m in sorted(zip(keys, members), key=lambda km: (km[0], km[1].id))]
        return self._ranked

    def put(self, member: Member) -> None:
        self.members[member.id] = member
        self._ranked = None
        if self.best_score is None or member.score > self.best_score:
            self.best_score = member.score
            self.since_improvement = 0

    def drop(self, program_id: int) -> None:
        self.members.pop(program_id, None)
        self._ranked = None


class Population:
    def __init__(self, cfg: Evolution, ranking: str = "weighted"):
        self.cfg = cfg
        self.islands = [Island(i, ranking) for i in range(cfg.islands)]
        self.cells: dict[str, Member] = {}
        self.recorded = 0  # scored programs recorded, for the migration interval
        self.migrated_at = 0  # value of `recorded` at the last migration
        self._next_island = 0

    def __len__(self) -> int:
        return len({m.id for isl in self.islands for m in isl.members.values()})

    # --- adding -----------------------------------------------------------------
    def add(self, member: Member, via: str = "child") -> list[Op]:
        """Place a newly scored program on its island (and its MAP-Elites cell)."""
        island = self.islands[member.island % len(self.islands)]
        island.since_improvement += 1
        ops = self._place(island, member, via)
        cell = cell_key(self.cfg.features, member)
        if cell is not None:
            holder = self.cells.get(cell)
            if holder is None or member.score > holder.score:
                self.cells[cell] = member
                ops.append(Op("cell", member.id, cell=cell))
        self.recorded += 1
        return ops

    def seed(self, member: Member) -> list[Op]:
        """The starting program opens every island."""
        ops = self.add(member, via="seed")
        for island in self.islands[1:]:
            ops += self._place(island, member, "seed")
        return ops

    def _place(self, island: Island, member: Member, via: str) -> list[Op]:
        island.put(member)
        ops = [Op("add", member.id, island.index, via)]
        if len(island.members) > self.cfg.population_size:
            worst = island.ranked()[-1]  # possibly the newcomer itself: then it is not kept
            island.drop(worst.id)
            ops.append(Op("remove", worst.id, island.index))
        return ops

    def member(self, program_id: int) -> Member | None:
        """The program's member, on whichever island holds it (None: not in the population)."""
        return next((isl.members[program_id] for isl in self.islands if program_id in isl.members), None)

    def rescore(self, program_id: int, score: float) -> None:
        """A member's score changed (re-evaluations averaged): re-rank wherever it lives."""
        for isl in self.islands:
            member = isl.members.get(program_id)
            if member is not None:
                member.score = score
                isl.put(member)

    def restore(self, member: Member, island: int, cell: str | None = None) -> None:
        """Put back a member read from the database (no ops: it is already persisted)."""
        self.islands[island].put(member)
        if cell:
            self.cells[cell] = member

    # --- choosing ---------------------------------------------------------------
    def next_island(self) -> int:
        """Islands take turns at proposals; an empty island borrows from the others."""
        for _ in range(len(self.islands)):
            index = self._next_island
            self._next_island = (self._next_island + 1) % len(self.islands)
            if self.islands[index].members:
                return index
        raise LookupError("the population is empty: no program has been scored yet")

    def select(self, rng: random.Random, island: int | None = None) -> Member:
        isl = self.islands[self.next_island() if island is None else island]
        ranked = isl.ranked()
        index = select_index(self.cfg.selection, ranked, rng, self.cfg.power_law_alpha, self.cfg.tournament_size)
        return ranked[index]

    def inspirations(self, rng: random.Random, parent: Member) -> list[Member]:
        """The island's top programs besides the parent, and diverse ones from other cells or islands."""
        own = [m for m in self.islands[parent.island].ranked() if m.id != parent.id][: self.cfg.inspirations_top]
        pool = [m for m in self.cells.values() if m.id != parent.id and m not in own]
        if not pool:
            pool = [m for isl in self.islands if isl.index != parent.island for m in isl.members.values()]
        pool = sorted({m.id: m for m in pool}.values(), key=lambda m: m.id)
        diverse = rng.sample(pool, min(self.cfg.inspirations_diverse, len(pool)))
        return own + diverse

    def best(self) -> Member | None:
        tops = [isl.ranked()[0] for isl in self.islands if isl.members]
        return max(tops, key=lambda m: (m.score, -m.id)) if tops else None

    def top(self, n: int) -> list[Member]:
        unique = {m.id: m for isl in self.islands for m in isl.members.values()}
        return sorted(unique.values(), key=lambda m: (-m.score, m.id))[:n]

    # --- migration and reseeding --------------------------------------------------
    def maybe_migrate(self) -> list[Op]:
        """Every `migration.interval` recorded programs, each island's best go to its neighbours."""
        mig = self.cfg.migration
        due = self.recorded > self.migrated_at and self.recorded % max(mig.interval, 1) == 0
        if len(self.islands) < 2 or mig.interval <= 0 or not due:
            return []
        self.migrated_at = self.recorded
        moves = []
        for isl in self.islands:
            for target in neighbours(isl.index, len(self.islands), mig.topology):
                for member in isl.ranked()[: mig.count]:
                    if member.id not in self.islands[target].members:
                        moves.append((target, member))
        ops = []
        for target, member in moves:
            ops += self._place(self.islands[target], member, "migration")
        return ops

    def maybe_reseed(self) -> list[Op]:
        """An island stagnant for `reseed_after` programs restarts from the best of the others."""
        after = self.cfg.reseed_after
        if after <= 0 or len(self.islands) < 2:
            return []
        ops = []
        for isl in self.islands:
            if isl.members and isl.since_improvement >= after:
                others = [o.ranked()[0] for o in self.islands if o is not isl and o.members]
                if not others:
                    continue
                for program_id in list(isl.members):
                    isl.drop(program_id)
                    ops.append(Op("remove", program_id, isl.index))
                isl.best_score = None
                for member in sorted({m.id: m for m in others}.values(), key=lambda m: m.id):
                    ops += self._place(isl, member, "reseed")
                isl.since_improvement = 0
        return ops


def neighbours(index: int, n: int, topology: str) -> list[int]:
    """Islands that receive migrants from island `index`: the next on a ring, or all others."""
    if topology == "all":
        return [j for j in range(n) if j != index]
    return [(index + 1) % n]


def cell_key(features: Sequence[Feature], member: Member) -> str | None:
    """The MAP-Elites cell of a member, e.g. '3,1'; None when no features are declared or one is missing."""
    if not features:
        return None
    coords = []
    for f in features:
        value = feature_value(f.name, member)
        if value is None:
            return None
        span = (f.max - f.min) or 1.0
        coords.append(str(min(f.bins - 1, max(0, int((value - f.min) / span * f.bins)))))
    return ",".join(coords)


def feature_value(name: str, member: Member) -> float | None:
    """A metric the evaluator reported, or a built-in: code_length (characters), code_lines."""
    if name == "code_length":
        return float(len(member.code))
    if name == "code_lines":
        return float(len(member.code.splitlines()))
    value = member.metrics.get(name)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
