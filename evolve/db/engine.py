"""Open the program database: SQLite in WAL mode with BEGIN IMMEDIATE writers, or any SQLAlchemy URL."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from evolve.db.models import SCHEMA_VERSION, Base, Meta

BUSY_TIMEOUT_MS = 30_000


class DatabaseError(Exception):
    """The database cannot be used as asked; the message says why and what to do."""


def sqlite_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


def make_engine(url: str, readonly: bool = False) -> Engine:
    """An engine; for SQLite, WAL journal, busy timeout and BEGIN IMMEDIATE transactions."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
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


def open_database(url: str, create: bool = True, readonly: bool = False) -> sessionmaker[Session]:
    """A session factory on a database at the current schema version (created if asked)."""
    engine = make_engine(url, readonly=readonly)
    if create and not readonly:
        Base.metadata.create_all(engine)
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory.begin() as session:
        row = session.get(Meta, "schema_version")
        if row is None and create and not readonly:
            session.add(Meta(key="schema_version", value=str(SCHEMA_VERSION)))
        elif row is not None and int(row.value) > SCHEMA_VERSION:
            raise DatabaseError(
                f"{url}: the database has schema version {row.value}, newer than this evolve "
                f"understands ({SCHEMA_VERSION}). Upgrade evolve to open it."
            )
    return factory

