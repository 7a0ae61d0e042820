"""A read-only picture of one run's database, for the leaderboard, the live display and the commands.

It reads with plain SQL (`SELECT *`), not the ORM, so it works on databases a
little older or newer than this code: a column that is not there is simply not
shown (islands, `duplicate_of`, LLM models and costs).
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from evolve.db import lease, repo
from evolve.mutate.outcomes import REJECTIONS
from evolve.tui.derive import EVALUATED, best_of, derive_more, in_order, island_bests, raised  # noqa: F401
from evolve.problem import Objective
from evolve.search.scoring import objective_vector, pareto_ranks


HEAVY = ("code", "diff")  # columns read only for the program on screen
_STAGE_STATUS = re.compile(r"^stage '[^']*': (\w+):")


def _json(value: Any) -> Any:
    if isinstance(value, (str, bytes)):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


@dataclass
class Row:
    """One program as listed: everything but its code and diff."""

    id: int
    iteration: int
    status: str
    mutation: str
    score: float | None
    metrics: dict
    parent_id: int | None = None
    second_parent_id: int | None = None
    generation: int = 0
    island: int | None = None
    error: str | None = None
    created_at: datetime | None = None
    evaluated_at: datetime | None = None
    duplicate_of: int | None = None
    db_id: int | None = None  # the database's own key (ids above are the run's program numbers)
    model: str | None = None
    cost_usd: float | None = None
    tokens: int | None = None
    extra: dict = field(default_factory=dict)

    @property
    def failure_reason(self) -> str | None:
        """Why a failed program failed, in one word: the sandbox status, or `error`."""
        if self.status != "failed":
            return None
        match = _STAGE_STATUS.match(self.error or "")
        return match.group(1) if match else "error"

    @property
    def rejection_reason(self) -> str | None:
        """Why a rejected proposal wrote no child: patch_failed, llm_failed or budget_cut (evolve/mutate/llm.py);
        `rejected` for a reason recorded before these were named."""
        if self.status != "rejected":
            return None
        head = (self.error or "").split(":", 1)[0]
        return head if head in REJECTIONS else "rejected"


@dataclass
class Snapshot:
    """Everything light about a run at one moment; cheap to rebuild while a run writes."""

    run: dict
    objectives: list[Objective]
    rows: list[Row]  # in creation order
    columns: set[str]
    spend: dict[str, dict] = field(default_factory=dict)  # model -> calls, cost_usd, tokens
    dedup: dict = field(default_factory=dict)  # repo.dedup_stats
    cascade: dict = field(default_factory=dict)  # repo.cascade_stats
    calls_seen: int = 0  # the newest LLM call read (a refresh reads only later ones)
    numbers: dict[int, int] = field(default_factory=dict)  # database id -> program number in the run
    by_id: dict[int, Row] = field(default_factory=dict)
    children: dict[int, list[int]] = field(default_factory=dict)

    top: int = 0  # the highest database id read
    pending: set[int] = field(default_factory=set)  # database ids of the programs still pending
    derived: dict = field(default_factory=dict, repr=False)  # facts computed once (see evolve.tui.facts)

    def __post_init__(self) -> None:
        self.by_id = {r.id: r for r in self.rows}
        self.children = {}
        for r in self.rows:
            for parent in {r.parent_id, r.second_parent_id} - {None}:
                self.children.setdefault(parent, []).append(r.id)
        self.top = max((r.db_id or r.id for r in self.rows), default=0)
        self.pending = {r.db_id or r.id for r in self.rows if r.status == "pending"}

    # --- facts ------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.run["name"]

    @property
    def initial(self) -> Row | None:
        return next((r for r in self.rows if r.iteration == 0), None)

    @property
    def best(self) -> Row | None:
        if "best" not in self.derived:
            self.derived["best"] = best_of(r for r in self.rows)
        return self.derived["best"]

    def counts(self) -> Counter:
        if "counts" not in self.derived:
            self.derived["counts"] = Counter(r.status for r in self.rows)
        return Counter(self.derived["counts"])

    def failure_reasons(self) -> Counter:
        if "failures" not in self.derived:
            self.derived["failures"] = Counter(r.failure_reason for r in self.rows if r.status == "failed")
        return Counter(self.derived["failures"])

    def rejection_reasons(self) -> Counter:
        if "rejections" not in self.derived:
            self.derived["rejections"] = Counter(r.rejection_reason for r in self.rows if r.status == "rejected")
        return Counter(self.derived["rejections"])

    def call_outcomes(self) -> Counter:
        """LLM calls by outcome (ok, rate_limited, server_error, timeout, empty, error, replayed, ...)."""
        return sum((Counter(s.get("outcomes") or {}) for s in self.spend.values()), Counter())

    def has(self, column: str) -> bool:
        return column in self.columns

    def islands(self) -> dict[int, Row]:
        """The best program of each island (only when the run has more than one island)."""
        if "islands" not in self.derived:
            self.derived["islands"] = island_bests({}, self.rows)
            self.derived["island_ids"] = {r.island for r in self.rows}
        return dict(self.derived["islands"]) if len(self.derived["island_ids"]) > 1 else {}

    def evaluation_order(self) -> list[Row]:
        """Programs that spent an evaluation, in the order their results were written."""
        if "order" not in self.derived:
            self.derived["order"] = in_order(self.rows)
        return list(self.derived["order"])

    def best_curve(self) -> list[float | None]:
        """Best score after each evaluation (None until the first program scores)."""
        best, out = None, []
        for r in self.evaluation_order():
            if r.score is not None and (best is None or r.score > best):
                best = r.score
            out.append(best)
        return out

    def improvements(self, limit: int | None = None) -> list[Row]:
        """Programs that raised the best score, oldest first (the last `limit`)."""
        if "improvements" not in self.derived:
            self.derived["improvements"] = raised([], self.evaluation_order())
        out = self.derived["improvements"]
        return out[-limit:] if limit else list(out)

    def objective_points(self) -> dict[int, tuple[float, ...]]:
        """Max-is-better, scaled objective vectors of the evaluated programs (as the search ranks them)."""
        out = {}
        for r in self.rows:
            if r.status != "evaluated":
                continue
            try:
                out[r.id] = objective_vector(self.objectives, r.metrics)
            except ValueError:
                continue
        return out

    def pareto_ranks(self) -> dict[int, int]:
        """Pareto rank of each scored program: 0 is the non-dominated front."""
        points = self.objective_points()
        ids = list(points)
        ranks = pareto_ranks([points[i] for i in ids])
        return dict(zip(ids, ranks))

    def spent(self) -> float:
        return sum(s["cost_usd"] for s in self.spend.values())


# --- reading ------------------------------------------------------------------------
def columns(session: Session, table: str) -> set[str]:
    """The table's columns, asked of the session's own connection once per connection (no second
    connection, no lock: a reflection that waited on the writer once stalled the live view)."""
    conn = session.connection()
    known = conn.info.setdefault("evolve_columns", {})
    if table not in known:
        from sqlalchemy import inspect as sa_inspect
        try:
            known[table] = {c["name"] for c in sa_inspect(conn).get_columns(table)}
        except Exception:  # no such table in an old database
            known[table] = set()
    return known[table]


def objectives_of(config: Any) -> list[Objective]:
    out = []
    for o in (_json(config) or {}).get("objectives") or []:
        try:
            out.append(Objective(**{k: o[k] for k in ("name", "direction", "weight") if k in o}))
        except Exception:  # an objective shape from another version: show what we can
            continue
    return out


def run_row(session: Session, run_id: int) -> dict:
    row = session.execute(text("SELECT * FROM runs WHERE id = :id"), {"id": run_id}).mappings().first()
    if row is None:
        raise LookupError(f"no run with id {run_id}")
    data = dict(row)
    data["config"] = _json(data.get("config")) or {}
    data["status"] = lease.effective_status(session, run_id, data.get("status"))  # `stale`: its owner is gone
    return data


def load(factory: sessionmaker[Session], run_id: int, stats: bool = False) -> Snapshot:
    """Read the run, its programs (without code) and its LLM spend in one short read transaction;
    with `stats`, also what the duplicate filter and the evaluation cascade saved."""
    return _read(factory, run_id, stats, None)


def refresh(factory: sessionmaker[Session], old: Snapshot, stats: bool = False) -> Snapshot:
    """`old` brought up to date, reading only the programs that are new or were still pending in it
    (a written result is final during the search), so a refresh costs what changed, not the whole run."""
    return _read(factory, old.run["id"], stats, old)


def _read(factory: sessionmaker[Session], run_id: int, stats: bool, old: Snapshot | None) -> Snapshot:
    with factory() as session:
        run = run_row(session, run_id)
        cols = columns(session, "programs")
        wanted = ", ".join(c for c in sorted(cols) if c not in HEAVY)
        result = _changed(session, wanted, run_id, old)
        calls = _llm_calls(session, run_id, old)
        extra = _stats(session, run_id, run["config"]) if stats else {}
    fresh = [_row(dict(m)) for m in result]
    by_program = {c["program_id"]: c for c in calls if c.get("program_id") is not None}
    for r in fresh:
        call = by_program.get(r.id)
        if call:
            r.model, r.cost_usd = call["model"], call["cost_usd"]
            r.tokens = (call["prompt_tokens"] or 0) + (call["completion_tokens"] or 0)
    numbers = _renumber(fresh, {} if old is None else old.numbers)
    spend = _spend(calls, None if old is None else old.spend)
    objectives = objectives_of(run["config"])
    if old is None:
        snap = Snapshot(run, objectives, fresh, cols, spend, numbers=numbers, **extra)
    else:
        snap = _carry(old, fresh, Snapshot(run, objectives, [], cols, spend, numbers=numbers, **extra))
    snap.calls_seen = max([c["id"] for c in calls], default=getattr(old, "calls_seen", 0))
    return snap


def _changed(session: Session, wanted: str, run_id: int, old: Snapshot | None) -> list:
    """All of the run's programs, or (after `old`) those new or pending in it, plus the few finished ones a
    new result touches: duplicates credited with their original's score, originals re-scored by a hit."""
    query = f"SELECT {wanted} FROM programs WHERE run_id = :r"
    if old is None or not old.rows:
        return session.execute(text(query + " ORDER BY iteration"), {"r": run_id}).mappings().all()
    got = session.execute(text(query + " AND id > :top"), {"r": run_id, "top": old.top}).mappings().all()
    if old.pending:  # two queries: an OR of the two would scan the whole table
        got += session.execute(text(query + f" AND id IN ({', '.join(map(str, old.pending))})"),
                               {"r": run_id}).mappings().all()
    ids = {m["id"] for m in got}
    touched = {m["duplicate_of"] for m in got if m.get("duplicate_of") is not None} - ids
    related = f"SELECT {wanted} FROM programs WHERE +run_id = :r AND "  # `+`: use the id/duplicate_of index
    if ids and "duplicate_of" in wanted:
        got += [m for m in session.execute(text(related + f"duplicate_of IN ({', '.join(map(str, ids))})"),
                                           {"r": run_id}).mappings() if m["id"] not in ids]
    if touched:
        got += session.execute(text(related + f"id IN ({', '.join(map(str, touched))})"), {"r": run_id}).mappings().all()
    return sorted({m["id"]: m for m in got}.values(), key=lambda m: m["iteration"])


def _renumber(rows: list[Row], known: dict[int, int]) -> dict[int, int]:
    """Show programs by their number in the run (creation order, from 1), whatever key the database
    gave them: on a shared PostgreSQL database the keys run across all runs; `RUN:ID` means one thing."""
    numbers = {**known, **{r.id: r.iteration + 1 for r in rows}}
    for r in rows:
        r.db_id, r.id = r.id, numbers[r.id]
        r.parent_id, r.second_parent_id, r.duplicate_of = (
            None if ref is None else numbers.get(ref, ref) for ref in (r.parent_id, r.second_parent_id, r.duplicate_of))
    return numbers


def _carry(old: Snapshot, fresh: list[Row], snap: Snapshot) -> Snapshot:
    """`snap` (empty) filled with `old`'s rows and indexes, `fresh` put in place: work for what changed only."""
    rows, by_id, children = list(old.rows), dict(old.by_id), dict(old.children)
    replaced = {}
    for r in fresh:
        before = by_id.get(r.id)
        if before is not None:
            replaced[r.id] = before
            if r.model is None:  # the LLM call was read with the pending row
                r.model, r.cost_usd, r.tokens = before.model, before.cost_usd, before.tokens
            at = r.id - 1 if r.id - 1 < len(rows) and rows[r.id - 1].id == r.id else rows.index(before)
            rows[at] = r
        else:
            rows.append(r)
            for parent in {r.parent_id, r.second_parent_id} - {None}:
                children[parent] = [*children.get(parent, []), r.id]
        by_id[r.id] = r
    snap.rows, snap.by_id, snap.children = rows, by_id, children
    snap.top = max([old.top, *(r.db_id for r in fresh)])
    snap.pending = (old.pending - {r.db_id for r in fresh}) | {r.db_id for r in fresh if r.status == "pending"}
    if all(b.status in ("pending", "duplicate") for b in replaced.values()):  # no finished result changed
        snap.derived = derive_more(old.derived, fresh, replaced)
    return snap


def _spend(calls: list[dict], before: dict | None) -> dict[str, dict]:
    """LLM calls, calls and cost and tokens summed by model (added to `before`)."""
    spend: dict[str, dict] = {m: dict(s) for m, s in (before or {}).items()}
    for c in calls:
        s = spend.setdefault(c["model"], {"calls": 0, "cost_usd": 0.0, "tokens": 0, "outcomes": {}})
        s["calls"] += 1
        if c.get("outcome"):
            s["outcomes"] = {**s.get("outcomes", {}), c["outcome"]: s.get("outcomes", {}).get(c["outcome"], 0) + 1}
        s["cost_usd"] += c["cost_usd"] or 0.0
        s["tokens"] += (c["prompt_tokens"] or 0) + (c["completion_tokens"] or 0)
    return spend


def _stats(session: Session, run_id: int, config: Any) -> dict:
    config = _json(config) or {}
    stages = [s.get("name") for s in (config.get("workloads") or {}).get("stages", [])]
    tolerance = (config.get("dedup") or {}).get("tolerance", 1e-9)
    try:
        return {"dedup": repo.dedup_stats(session, run_id, tolerance), "cascade": repo.cascade_stats(session, run_id, stages)}
    except Exception:  # an older database without these columns: no figures rather than no status
        return {}


def _llm_calls(session: Session, run_id: int, old: Snapshot | None = None) -> list[dict]:
    """The run's LLM calls (those after the ones `old` has seen, when given)."""
    cols = columns(session, "llm_calls")
    need = {"id", "model", "program_id", "cost_usd", "prompt_tokens", "completion_tokens", "run_id", "outcome"}
    if not need <= cols:
        return []
    query = ("SELECT id, model, program_id, cost_usd, prompt_tokens, completion_tokens, outcome FROM llm_calls "
             "WHERE run_id = :r AND id > :seen ORDER BY id")
    seen = getattr(old, "calls_seen", 0) if old is not None else 0
    return [dict(m) for m in session.execute(text(query), {"r": run_id, "seen": seen}).mappings()]


def _row(m: dict) -> Row:
    known = {f for f in Row.__dataclass_fields__ if f not in ("extra", "model", "cost_usd", "tokens")}
    return Row(
        id=m["id"], iteration=m.get("iteration", 0), status=m.get("status", "?"), mutation=m.get("mutation", "?"),
        score=m.get("score"), metrics=_json(m.get("metrics")) or {}, parent_id=m.get("parent_id"),
        second_parent_id=m.get("second_parent_id"), generation=m.get("generation") or 0, island=m.get("island"),
        error=m.get("error"), created_at=_time(m.get("created_at")), evaluated_at=_time(m.get("evaluated_at")),
        duplicate_of=m.get("duplicate_of"),
        extra={k: v for k, v in m.items() if k not in known and k != "run_id"},
    )


def fingerprint(factory: sessionmaker[Session], run_id: int) -> tuple:
    """A cheap value that changes whenever the run's programs or status change (for live refresh)."""
    with factory() as session:
        row = session.execute(text(
            "SELECT count(*), max(id), max(evaluated_at), "
            "(SELECT status FROM runs WHERE id = :r), (SELECT count(*) FROM programs WHERE run_id = :r "
            "AND status = 'pending') FROM programs WHERE run_id = :r"), {"r": run_id}).first()
    return tuple(row)


@dataclass
class Detail:
    """The heavy parts of one program: code, diff, stage evaluations and LLM calls."""

    code: str
    diff: str | None
    evaluations: list[dict]
    calls: list[dict]


def detail(factory: sessionmaker[Session], run_id: int, number: int) -> Detail | None:
    """Program `number` of the run (as the rows show it), with its heavy parts."""
    with factory() as session:
        prog = session.execute(text("SELECT * FROM programs WHERE run_id = :r AND iteration = :i"),
                               {"r": run_id, "i": number - 1}).mappings().first()
        if prog is None:
            return None
        program_id = prog["id"]
        evals = []
        if columns(session, "evaluations"):
            evals = [dict(m) for m in session.execute(
                text("SELECT * FROM evaluations WHERE program_id = :p ORDER BY id"), {"p": program_id}).mappings()]
        calls = []
        if "program_id" in columns(session, "llm_calls"):
            calls = [dict(m) for m in session.execute(
                text("SELECT * FROM llm_calls WHERE program_id = :p ORDER BY id"), {"p": program_id}).mappings()]
    for e in evals:
        for key in ("metrics", "artifacts", "workload"):
            e[key] = _json(e.get(key))
    return Detail(prog["code"], prog.get("diff"), evals, calls)
