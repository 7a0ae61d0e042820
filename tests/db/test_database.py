"""The program database on SQLite and PostgreSQL (the `factory` and `db_url` fixtures run each test on both);
SQLite's own promises: WAL, BEGIN IMMEDIATE writers, readable by plain sqlite3."""
import sqlite3

import pytest
from sqlalchemy import text

from evolve.db import repo
from evolve.db.engine import DatabaseError, open_database, sqlite_url
from evolve.db.models import Meta, Program, Run


@pytest.fixture
def sqlite_factory(tmp_path):
    return open_database(sqlite_url(tmp_path / "evolve.db"))


def _run(factory) -> Run:
    with factory.begin() as s:
        run = Run(name="r", problem="p", problem_path="/p.yaml", config={})
        s.add(run)
        s.flush()
        return run


def test_wal_mode_and_immediate_transactions(sqlite_factory, tmp_path):
    factory = sqlite_factory
    with factory() as s:
        assert s.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    run = _run(factory)
    # while one writer holds its transaction, a second BEGIN IMMEDIATE waits (here: times out at once)
    with factory.begin() as s:
        repo.add_program(s, run_id=run.id, iteration=0, mutation="initial", code="x", code_hash="h")
        other = sqlite3.connect(tmp_path / "evolve.db", timeout=0.1, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()


def test_any_sqlite_tool_can_read_it(sqlite_factory, tmp_path):
    factory = sqlite_factory
    run = _run(factory)
    with factory.begin() as s:
        repo.add_program(s, run_id=run.id, iteration=0, mutation="initial", code="print(1)", code_hash="h",
                         status="evaluated", score=1.5, metrics={"x": 2})
    con = sqlite3.connect(tmp_path / "evolve.db")
    row = con.execute("SELECT r.name, p.score, json_extract(p.metrics, '$.x') FROM programs p "
                      "JOIN runs r ON r.id = p.run_id").fetchone()
    assert row == ("r", 1.5, 2)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "programs", "evaluations", "llm_calls", "meta"} <= tables


def test_newer_schema_is_refused(factory, db_url):
    with factory.begin() as s:
        s.get(Meta, "schema_version").value = "999"
    with pytest.raises(DatabaseError, match="newer than this evolve"):
        open_database(db_url)


def test_ranked_puts_scored_first(factory):
    run = _run(factory)
    with factory.begin() as s:
        for i, (status, score) in enumerate([("failed", None), ("evaluated", 1.0), ("evaluated", 3.0),
                                             ("infeasible", None), ("evaluated", 2.0)]):
            repo.add_program(s, run_id=run.id, iteration=i, mutation="m", code=str(i), code_hash=str(i),
                             status=status, score=score)
    with factory() as s:
        assert [p.score for p in repo.ranked(s, run.id)] == [3.0, 2.0, 1.0, None, None]
        assert [p.iteration for p in repo.ranked(s, run.id, status="failed")] == [0]
        assert repo.status_counts(s, run.id) == {"evaluated": 3, "failed": 1, "infeasible": 1}
        assert repo.best_score(s, run.id) == 3.0


def test_iteration_is_unique_per_run(factory):
    run = _run(factory)
    with factory.begin() as s:
        repo.add_program(s, run_id=run.id, iteration=0, mutation="m", code="a", code_hash="a")
    with pytest.raises(Exception):
        with factory.begin() as s:
            repo.add_program(s, run_id=run.id, iteration=0, mutation="m", code="b", code_hash="b")
    with factory() as s:
        assert s.query(Program).count() == 1
