"""What each run of a bench reached, read from the database: best score and when (in evaluations and
dollars) it was reached, what the duplicate filter saved, the held-out score of the best, and the
best-so-far curves the plots draw."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from sqlalchemy import text

from evolve.bench.manifest import Bench
from evolve.bench.suite import Planned
from evolve.db.engine import EmptyDatabase, open_database
from evolve.tui import snapshot


@dataclass
class RunResult:
    run: str
    problem: str
    arm: str
    seed: int
    status: str  # the run's status (`stale`: killed), or `not started`
    stop_reason: str | None = None
    programs: int = 0
    evaluations: int = 0  # programs that spent an evaluation (evaluated, infeasible, failed)
    best_score: float | None = None
    best_program: int | None = None  # its number in the run (`evolve --db URL show RUN:ID`)
    best_metrics: dict = field(default_factory=dict)
    evaluations_to_best: int | None = None  # the evaluation (1 = the starting program) that first reached it
    cost_usd: float = 0.0
    cost_to_best: float | None = None  # LLM dollars spent when the best was recorded
    duplicates_saved: int = 0  # evaluations not spent: duplicates caught (syntactic + functional)
    partial_hits: int = 0  # hits scored by measuring their costs only
    holdout_score: float | None = None  # of the best program, when the problem has held-out workloads
    directions: dict = field(default_factory=dict)  # objective -> max | min, as the run was configured
    curve: list = field(default_factory=list)  # best score after each evaluation
    spend: list = field(default_factory=list)  # LLM dollars spent by each evaluation's end

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    def as_dict(self, curves: bool = True) -> dict:
        out = asdict(self)
        if not curves:
            out.pop("curve"), out.pop("spend")
        return out


def collect(bench: Bench) -> list[RunResult]:
    """One result per planned run, in the bench's order (a run not in the database yet: `not started`)."""
    try:
        factory = open_database(bench.db_url, create=False, readonly=True)
    except EmptyDatabase:
        return [_absent(p) for p in bench.runs]
    try:
        with factory() as session:
            ids = dict(session.execute(text("SELECT name, id FROM runs")).all())
        return [read(factory, ids[p.run], p) if p.run in ids else _absent(p) for p in bench.runs]
    finally:
        factory.kw["bind"].dispose()


def _absent(p: Planned) -> RunResult:
    return RunResult(p.run, p.problem, p.arm, p.seed, "not started")


def read(factory, run_id: int, p: Planned) -> RunResult:
    snap = snapshot.load(factory, run_id, stats=True)
    order, curve = snap.evaluation_order(), snap.best_curve()
    spend = _spend_at(factory, run_id, order)
    out = RunResult(p.run, p.problem, p.arm, p.seed, snap.run.get("status") or "?", snap.run.get("stop_reason"),
                    len(snap.rows), len(order), curve=curve, spend=spend, cost_usd=snap.spent(),
                    duplicates_saved=int(snap.dedup.get("evaluations_saved", 0)),
                    partial_hits=int(snap.dedup.get("partial", 0)),
                    directions={o.name: o.direction for o in snap.objectives})
    best = snap.best
    if best is not None:
        out.best_score, out.best_program, out.best_metrics = best.score, best.id, dict(best.metrics)
        out.holdout_score = best.extra.get("holdout_score")
        at = next((i for i, v in enumerate(curve) if v is not None and v >= best.score), None)
        if at is not None:
            out.evaluations_to_best, out.cost_to_best = at + 1, spend[at]
    return out


def _spend_at(factory, run_id: int, order) -> list[float]:
    """Cumulative LLM cost of the calls made up to each evaluation's result (in evaluation order)."""
    with factory() as session:
        calls = session.execute(text("SELECT cost_usd, created_at FROM llm_calls WHERE run_id = :r "
                                     "ORDER BY created_at, id"), {"r": run_id}).all()
    calls = [(snapshot._time(at), cost or 0.0) for cost, at in calls]
    out, total, i = [], 0.0, 0
    for row in order:
        while i < len(calls) and row.evaluated_at is not None and calls[i][0] is not None \
                and calls[i][0] <= row.evaluated_at:
            total += calls[i][1]
            i += 1
        out.append(total)
    return out
