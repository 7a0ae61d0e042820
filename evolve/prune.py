"""Delete runs (`evolve runs rm`, `evolve runs prune`): on disk the folder runs/<name>/, in a shared
database (--db URL) the run's rows in every table, in one transaction, and runs/<name>/ if there.

A run is deleted only by a process that holds its lease (evolve/db/lease.py): one that another
process evolves now is refused, and a `resume` racing a deletion finds the lease taken.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from evolve.db import lease, repo
from evolve.db.engine import EmptyDatabase, open_database, redact, sqlite_url
from evolve.db.models import Base, Program, Run, utcnow
from evolve.runs import DB_FILE, RunError, each_shared_run, run_dir

PRUNABLE = ("failed", "stale", "interrupted", "finished")  # `running` is a live process's: never pruned
EMPTY = "empty"  # runs/<name>/evolve.db holds no run: its process was killed while creating it
DELETED = "Nothing was deleted"


@dataclass
class RunFacts:
    """What deciding to delete a run needs to know."""

    name: str
    status: str  # as `evolve runs` shows it: `stale` when its process is gone; `empty`: never created
    last_active: datetime | None  # naive UTC: the newest of its row's update, its programs, its heartbeat
    programs: int = 0
    holder: lease.Holder | None = None


def survey(runs_dir: Path, db_url: str | None = None) -> list[RunFacts]:
    """Every run in `runs_dir` (or the shared database `db_url`), by name; unreadable databases left out."""
    db_url = db_url or getattr(runs_dir, "db_url", None)
    if db_url:
        return each_shared_run(db_url, _facts)
    found = []
    for db in sorted(Path(runs_dir).glob(f"*/{DB_FILE}")):
        try:
            found.append(_local_facts(db, db.parent.name))
        except RunError:
            continue
    return [f for f in found if f.status != EMPTY]


def find(runs_dir: Path, names: list[str], db_url: str | None = None) -> list[RunFacts]:
    """The runs called `names` (each once, in order); RunError naming every one that does not exist."""
    db_url = db_url or getattr(runs_dir, "db_url", None)
    names = list(dict.fromkeys(names))
    bad = [n for n in names if not n or n != Path(n).name or n in (".", "..")]
    if bad:
        raise RunError(f"{', '.join(repr(n) for n in bad)}: not a run name; give names as `evolve runs` lists "
                       "them (no folders, no paths).")
    if db_url:
        known = {f.name: f for f in survey(runs_dir, db_url)}
    else:
        known = {}
        for name in names:
            if (run_dir(runs_dir, name) / DB_FILE).is_file():
                known[name] = _local_facts(run_dir(runs_dir, name) / DB_FILE, name)
    missing = [n for n in names if n not in known]
    if missing:
        where = redact(db_url) if db_url else f"{runs_dir}/"
        listed = ", ".join(f.name for f in survey(runs_dir, db_url)) or "none"
        raise RunError(f"no run named {', '.join(repr(n) for n in missing)} in {where} (runs there: {listed}); "
                       "nothing was deleted. `evolve runs` lists them" +
                       ("." if db_url else "; a run kept in a shared database needs --db URL (or EVOLVE_DB)."))
    return [known[n] for n in names]


def prunable(facts: list[RunFacts], statuses: set[str], older_than_s: float | None = None,
             now: datetime | None = None) -> list[RunFacts]:
    """The runs with one of `statuses`, idle for at least `older_than_s` seconds, that no live process holds."""
    now = now or utcnow()
    return [f for f in facts if f.status in statuses and not (f.holder and f.holder.live)
            and (older_than_s is None or f.last_active is None
                 or (now - f.last_active).total_seconds() >= older_than_s)]


@dataclass
class Removed:
    name: str
    rows: int  # rows deleted from the shared database (0 on disk: the database file went whole)
    folder: Path | None  # the runs/<name>/ folder deleted, if there was one


def remove(runs_dir: Path, name: str, db_url: str | None = None) -> Removed:
    """Delete run `name`; LeaseHeld (nothing deleted) when a live process holds it."""
    db_url = db_url or getattr(runs_dir, "db_url", None)
    folder = run_dir(runs_dir, name)
    rows = 0
    if db_url:
        factory = open_database(db_url)
        try:
            with factory.begin() as session:
                run = repo.get_run(session, name)
                if run is None:
                    raise RunError(f"no run named '{name}' in {redact(db_url)}; nothing was deleted.")
                _take(session, run)
                rows = delete_run_rows(session, run.id)
        finally:
            factory.kw["bind"].dispose()
    else:
        if not (folder / DB_FILE).is_file():
            raise RunError(f"no run named '{name}' in {runs_dir}/; nothing was deleted.")
        _take_local(folder / DB_FILE, name)
    if not folder.is_dir():
        return Removed(name, rows, None)
    shutil.rmtree(folder)
    return Removed(name, rows, folder)


def delete_run_rows(session: Session, run_id: int) -> int:
    """Delete the run and every row that belongs to it, in the caller's transaction; the rows deleted.

    Every table with a foreign key to runs.id or programs.id (or a run_id column) is covered, so a
    table added to models.py is covered too. Dependent tables go first.
    """
    runs, programs = Run.__table__, Program.__table__
    of_run = select(programs.c.id).where(programs.c.run_id == run_id)
    total = 0
    for table in reversed(Base.metadata.sorted_tables):
        if table is runs:
            continue
        clauses = [table.c.run_id == run_id] if "run_id" in table.c else []
        for fk in table.foreign_keys:
            if fk.column is runs.c.id:
                clauses.append(fk.parent == run_id)
            elif fk.column is programs.c.id and table is not programs:
                clauses.append(fk.parent.in_(of_run))
        if clauses:
            total += session.execute(delete(table).where(or_(*clauses))).rowcount
    return total + session.execute(delete(runs).where(runs.c.id == run_id)).rowcount


def _take(session: Session, run: Run) -> None:
    """Hold the run's lease for the deletion: refused (LeaseHeld, reworded) while a live process holds it."""
    try:
        lease.acquire(session, run.id)
    except lease.LeaseHeld as exc:
        raise lease.LeaseHeld(lease.held_message(run.name, exc.holder, DELETED), exc.holder) from None


def _take_local(db: Path, name: str) -> None:
    """Take the lease of the run in runs/<name>/evolve.db, so no `resume` starts while its folder goes."""
    try:
        factory = open_database(sqlite_url(db))  # a writer: an older database gains the lease table
    except EmptyDatabase:
        return
    try:
        with factory.begin() as session:
            run = repo.get_run(session, name)
            if run is not None:
                _take(session, run)
    finally:
        factory.kw["bind"].dispose()


def _local_facts(db: Path, name: str) -> RunFacts:
    try:
        factory = open_database(sqlite_url(db), create=False, readonly=True)
    except EmptyDatabase:
        return RunFacts(name, EMPTY, None)
    try:
        with factory() as session:
            run = repo.get_run(session, name)
            return _facts(session, run) if run is not None else RunFacts(name, EMPTY, None)
    except Exception as exc:  # not an evolve database, or one from another version
        raise RunError(f"{db}: cannot read the run ({str(exc).splitlines()[0]}); nothing was deleted.") from None
    finally:
        factory.kw["bind"].dispose()


def _facts(session: Session, run: Run) -> RunFacts:
    held = lease.holder(session, run.id)
    count, created, evaluated = session.execute(
        select(func.count(), func.max(Program.created_at), func.max(Program.evaluated_at))
        .where(Program.run_id == run.id)).one()
    times = [run.created_at, run.updated_at, created, evaluated, held.heartbeat_at if held else None]
    return RunFacts(run.name, lease.effective_status(session, run.id, run.status),
                    max(t for t in times if t is not None), count, held)
