"""Alembic migrations, on SQLite and PostgreSQL: created, upgraded, adopted, refused when newer, run once."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from evolve.db import engine as dbengine
from evolve.db.engine import DatabaseError, open_database
from evolve.db.models import SCHEMA_VERSION, Base
from tests.conftest import ROOT, require_extra


def _plain_engine(url: str):
    return create_engine(url)


def _schema(url: str) -> tuple:
    """(diff against models.py, Alembic's revision, meta.schema_version) of the database at `url`."""
    eng = _plain_engine(url)
    with eng.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        revision = MigrationContext.configure(conn).get_current_revision()
        meta = conn.execute(text("SELECT value FROM meta WHERE key = 'schema_version'")).scalar()
    eng.dispose()
    return diff, revision, int(meta)


def test_migrated_schema_matches_the_models(db_url):
    """A column added to models.py without a revision in evolve/db/migrations/versions/ fails here."""
    dbengine.migrate(dbengine.make_engine(db_url))  # every migration, from an empty database
    diff, revision, meta = _schema(db_url)
    assert diff == [], f"models.py and the migrations differ; add a revision for: {diff}"
    assert revision == dbengine.head_revision() and meta == SCHEMA_VERSION


def test_a_new_database_is_made_at_the_head_revision_without_alembic(db_url):
    """open_database on an empty database creates it from the models (no migration replayed, Alembic not
    imported), at the revision the migrations end at: HEAD_REVISION is Alembic's head."""
    assert dbengine.HEAD_REVISION == dbengine.head_revision(), "update HEAD_REVISION in evolve/db/engine.py"
    code = textwrap.dedent(f"""
        import sys
        from evolve.db.engine import open_database
        open_database({db_url!r}).kw["bind"].dispose()
        open_database({db_url!r}).kw["bind"].dispose()  # and opened again at the head
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("alembic", "mako")))
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    diff, revision, meta = _schema(db_url)
    assert diff == [] and revision == dbengine.head_revision() and meta == SCHEMA_VERSION


def test_older_revision_is_upgraded(db_url):
    eng = _plain_engine(db_url)
    with eng.begin() as conn:  # a database left at the baseline by an older evolve
        config = dbengine._alembic_config()
        config.attributes["connection"] = conn
        from alembic import command
        command.upgrade(config, "0001")
        conn.execute(text("INSERT INTO meta (key, value) VALUES ('schema_version', '1')"))
    assert "ix_programs_run_status_score" not in {i["name"] for i in inspect(eng).get_indexes("programs")}
    open_database(db_url).kw["bind"].dispose()
    eng.dispose()
    assert "ix_programs_run_status_score" in {i["name"] for i in inspect(eng).get_indexes("programs")}
    with eng.connect() as conn:
        assert conn.execute(text("SELECT value FROM meta")).scalar() == str(SCHEMA_VERSION)
    eng.dispose()


def test_database_made_before_migrations_is_adopted(db_url):
    """Tables created directly by an early evolve (no alembic_version, a column missing) keep their rows."""
    eng = _plain_engine(db_url)
    Base.metadata.create_all(eng)
    with eng.begin() as conn:
        conn.execute(text("ALTER TABLE llm_calls DROP COLUMN attempt"))
        conn.execute(text("INSERT INTO meta (key, value) VALUES ('schema_version', '1')"))
        conn.execute(text("INSERT INTO runs (name, problem, problem_path, config, status, seed, created_at, "
                          "updated_at) VALUES ('old', 'p', '/p', '{}', 'finished', 0, '2025-01-01', '2025-01-01')"))
        conn.execute(text("INSERT INTO llm_calls (run_id, model, prompt_tokens, completion_tokens, cost_usd, "
                          "latency_s, outcome, created_at) VALUES (1, 'm', 1, 2, 0.5, 1.0, 'ok', '2025-01-01')"))
    eng.dispose()
    factory = open_database(db_url)
    with factory() as s:
        assert s.execute(text("SELECT attempt, cost_usd FROM llm_calls")).one() == (1, 0.5)
        assert s.execute(text("SELECT name FROM runs")).scalar() == "old"
    factory.kw["bind"].dispose()


def test_unknown_revision_is_refused_untouched(factory, db_url):
    with factory.begin() as s:
        s.execute(text("UPDATE alembic_version SET version_num = 'ffff_from_the_future'"))
    with pytest.raises(DatabaseError, match="newer than this evolve understands.*Upgrade evolve"):
        open_database(db_url)
    with factory() as s:  # a refused database is left as it was
        assert s.execute(text("SELECT version_num FROM alembic_version")).scalar() == "ffff_from_the_future"


def test_processes_starting_at_once_migrate_once(db_url):
    script = textwrap.dedent(f"""
        from evolve.db.engine import open_database
        open_database({db_url!r}).kw["bind"].dispose()
        print("ok")
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    with _plain_engine(db_url).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM meta")).scalar() == 1


@pytest.mark.parametrize("url, fix", [
    ("not a url", "not a database URL"),
    ("mysql://u@127.0.0.1/x", "SQLite or PostgreSQL only"),
    ("postgresql+psycopg://nobody@127.0.0.1:1/none", "cannot open the database postgresql"),
])
def test_bad_urls_say_what_to_do(url, fix):
    if url.startswith("postgresql"):
        require_extra("psycopg", "postgres")  # without the driver the error names the extra instead
    with pytest.raises(DatabaseError, match=fix) as info:
        open_database(url)
    assert "--db" in str(info.value)


def test_password_is_not_printed():
    with pytest.raises(DatabaseError) as info:
        open_database("postgresql+psycopg://user:s3cret@127.0.0.1:1/db")
    assert "s3cret" not in str(info.value) and "***" in str(info.value)


def test_a_file_that_is_not_a_database(tmp_path):
    (tmp_path / "evolve.db").write_text("hello, not sqlite" * 100)
    with pytest.raises(DatabaseError, match="Is it an evolve database"):
        open_database(dbengine.sqlite_url(tmp_path / "evolve.db"))


def test_a_database_at_0003_gains_run_leases_and_keeps_its_runs(db_url):
    """The last schema before leases: its runs survive, a run left `running` by a killed evolve reads as stale."""
    from evolve.db import lease
    eng = _plain_engine(db_url)
    with eng.begin() as conn:
        config = dbengine._alembic_config()
        config.attributes["connection"] = conn
        from alembic import command
        command.upgrade(config, "0003")
        conn.execute(text("INSERT INTO meta (key, value) VALUES ('schema_version', '3')"))
        conn.execute(text("INSERT INTO runs (name, problem, problem_path, config, status, seed, created_at, "
                          "updated_at) VALUES ('old', 'p', '/p', '{}', 'running', 0, '2025-01-01', '2025-01-01')"))
    assert "run_leases" not in inspect(eng).get_table_names()
    reader = open_database(db_url, readonly=True)  # a reader leaves it as it is and cannot judge the run
    with reader() as s:
        assert lease.effective_status(s, 1, "running") == "running" and lease.holder(s, 1) is None
    reader.kw["bind"].dispose()
    factory = open_database(db_url)
    with factory() as s:
        assert s.execute(text("SELECT name, status FROM runs")).one() == ("old", "running")
        assert lease.effective_status(s, 1, "running") == "stale"
    with factory.begin() as s:
        assert lease.acquire(s, 1).run_id == 1
    factory.kw["bind"].dispose()
    assert "run_leases" in inspect(eng).get_table_names()
    eng.dispose()
