"""The database tests run on SQLite and on PostgreSQL (a server started once per session)."""
from __future__ import annotations

import pytest

from evolve.db.engine import open_database, sqlite_url
from tests.db import pgserver


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """A URL of a new, empty database of each dialect."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "evolve.db")
    pgserver.require()
    return pgserver.fresh_database()


@pytest.fixture
def factory(db_url):
    factory = open_database(db_url)
    yield factory
    factory.kw["bind"].dispose()
