"""Open the program database: SQLite (WAL, BEGIN IMMEDIATE writers) or PostgreSQL, migrated by Alembic.

Every writer that opens a database brings it to the newest migration first (a new, empty one is
created from the models at the newest revision instead of replaying the migrations; under a lock:
BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL, so several `evolve` processes
starting at once migrate it exactly once). A database from a newer evolve is refused.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, Table, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from evolve.db.models import SCHEMA_VERSION, Meta

BUSY_TIMEOUT_MS = 30_000
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# the newest file of migrations/versions (tests/db/test_migrations.py checks it is Alembic's head):
# a database at it opens without loading Alembic
HEAD_REVISION = "0004"
PG_MIGRATION_LOCK = 0x65766F6C  # pg_advisory_xact_lock key held while migrating ('evol')
URL_HELP = ("give --db (or EVOLVE_DB, or database.url in the problem YAML) as sqlite:///PATH or "
            "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE")


class DatabaseError(Exception):
    """The database cannot be used as asked; the message says why and what to do."""


class EmptyDatabase(DatabaseError):
    """A reader opened a database that holds no evolve tables yet."""


@dataclass(frozen=True)
class SchemaState:
    revision: str | None  # Alembic revision; None for a new database or one made before migrations
    meta_version: int | None  # meta.schema_version
    empty: bool = False  # no tables at all: a new database


def sqlite_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def redact(url: str) -> str:
    """The URL as it may be printed: the password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def make_engine(url: str, readonly: bool = False) -> Engine:
    """An engine; for SQLite, WAL journal, busy timeout and BEGIN IMMEDIATE transactions."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(f"'{url}' is not a database URL: {URL_HELP}.") from None
    if parsed.get_backend_name() == "postgresql":
        return _postgres_engine(url, readonly)
    if parsed.get_backend_name() != "sqlite":
        raise DatabaseError(f"{redact(url)}: evolve keeps its database in SQLite or PostgreSQL only; {URL_HELP}.")
    if readonly:
        path = url.removeprefix("sqlite:///")
        url = f"sqlite:///file:{path}?mode=ro&uri=true"
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        if not readonly:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine


def _postgres_engine(url: str, readonly: bool) -> Engine:
    options = {"postgresql_readonly": True} if readonly else {}
    try:
        return create_engine(url, pool_pre_ping=True, execution_options=options,
                             connect_args={"connect_timeout": 10})
    except (ModuleNotFoundError, ImportError, NoSuchModuleError) as exc:
        raise DatabaseError(
            f"{redact(url)}: the PostgreSQL driver is not installed ({exc}). Install it with "
            "`pip install -e '.[postgres]'` (psycopg 3) and write the URL as postgresql+psycopg://...") from None


def reader_of(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """A read-only session factory on the same database as `factory`, for views beside a writer.

    Its transactions never take the write lock (a deferred BEGIN on SQLite: WAL gives each read
    transaction a consistent snapshot while the writer goes on), so a view never waits on the writer.
    """
    parsed = factory.kw["bind"].url
    url = parsed.render_as_string(hide_password=False)
    if parsed.get_backend_name() == "sqlite" and parsed.query.get("mode") == "ro":  # already a reader's
        url = sqlite_url(parsed.database.removeprefix("file:"))
    return sessionmaker(make_engine(url, readonly=True), expire_on_commit=False)


def open_database(url: str, create: bool = True, readonly: bool = False) -> sessionmaker[Session]:
    """A session factory on a database at the newest schema (created or upgraded if asked).

    Readers (readonly=True) never change the database: an older one is read as it is.
    """
    engine = make_engine(url, readonly=readonly)
    state = _schema_state(engine, url)
    _refuse_newer(url, state)
    if not create and state.revision is None and state.meta_version is None:
        raise EmptyDatabase(f"{redact(url)} holds no evolve runs yet; start one with "
                            "`evolve --db URL start PROBLEM`.")
    if create and not readonly and (state.revision != HEAD_REVISION or state.meta_version != SCHEMA_VERSION):
        if not (state.empty and _create_fresh(engine)):
            migrate(engine)
    return sessionmaker(engine, expire_on_commit=False)


def _schema_state(engine: Engine, url: str) -> SchemaState:
    try:
        with engine.connect() as conn:
            tables = set(engine.dialect.get_table_names(conn))
            revision = (conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                        if "alembic_version" in tables else None)
            meta = None
            if engine.dialect.has_table(conn, Meta.__tablename__):
                value = conn.execute(text("SELECT value FROM meta WHERE key = 'schema_version'")).scalar()
                meta = int(value) if value is not None else None
            conn.rollback()
    except OperationalError as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0]
        raise DatabaseError(f"cannot open the database {redact(url)}: {reason}. Start the server or fix the "
                            f"URL; {URL_HELP}.") from None
    except DBAPIError as exc:  # e.g. a file that is not a database
        reason = str(exc.orig or exc).strip().splitlines()[0]
        raise DatabaseError(f"cannot read the database {redact(url)}: {reason}. Is it an evolve database?") from None
    return SchemaState(revision, meta, not tables)


def _create_fresh(engine: Engine) -> bool:
    """An empty database made at the newest schema from the models, without loading Alembic (half a
    second of a command's start-up); False when another process got there first (then migrate())."""
    from evolve.db.models import Base
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # as migrate(): one process at a time
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK})
        if engine.dialect.get_table_names(conn):
            return False
        Base.metadata.create_all(conn)
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                          "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"))
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": HEAD_REVISION})
        conn.execute(upsert(conn.dialect.name, Meta.__table__, {"key": "schema_version",
                                                                "value": str(SCHEMA_VERSION)}, ["key"]))
    return True


def _refuse_newer(url: str, state: SchemaState) -> None:
    newer = (state.revision not in (None, HEAD_REVISION) and state.revision not in known_revisions()) or \
        (state.meta_version is not None and state.meta_version > SCHEMA_VERSION)
    if newer:
        raise DatabaseError(
            f"{redact(url)}: the database has schema version {state.meta_version} (migration "
            f"{state.revision}), newer than this evolve understands ({SCHEMA_VERSION}, migration "
            f"{head_revision()}). Upgrade evolve to open it.")


def migrate(engine: Engine) -> None:
    """Upgrade the database to the newest revision (creating it when empty), under a lock."""
    from alembic import command
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # waits for another process that is migrating it
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK})
        config = _alembic_config()
        config.attributes["connection"] = conn
        try:
            command.upgrade(config, "head")
        except SQLAlchemyError as exc:
            raise DatabaseError(f"{redact(str(engine.url))}: migrating the database failed: "
                                f"{str(exc.orig or exc).splitlines()[0]}") from None
        conn.execute(upsert(conn.dialect.name, Meta.__table__, {"key": "schema_version",
                                                                "value": str(SCHEMA_VERSION)}, ["key"]))


def upsert(dialect: str, table: Table, values: dict, keys: list[str], update: list[str] | None = None,
           bound: bool = True):
    """INSERT ... ON CONFLICT (keys) DO UPDATE, for SQLite and PostgreSQL alike (both spell it the same).
    `bound=False`: only the keys of `values` matter; the statement takes them as parameters when executed."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(table).values(**values) if bound else insert(table)
    update = [k for k in values if k not in keys] if update is None else update
    if not update:
        return stmt.on_conflict_do_nothing(index_elements=keys)
    return stmt.on_conflict_do_update(index_elements=keys, set_={k: stmt.excluded[k] for k in update})


def _alembic_config():
    from alembic.config import Config
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@functools.cache
def _script():
    from alembic.script import ScriptDirectory
    return ScriptDirectory.from_config(_alembic_config())


def head_revision() -> str:
    return _script().get_current_head()


def known_revisions() -> set[str]:
    return {rev.revision for rev in _script().walk_revisions()}
