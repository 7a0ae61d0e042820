"""Alembic environment: migrate the connection evolve.db.engine hands over (or sqlalchemy.url, for the CLI)."""
from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from evolve.db.models import Base

config = context.config
connection = config.attributes.get("connection")


def _migrate(conn) -> None:
    # SQLite and PostgreSQL both run DDL inside the transaction: a failed upgrade leaves nothing half done
    context.configure(connection=conn, target_metadata=Base.metadata, transactional_ddl=True,
                      render_as_batch=conn.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=Base.metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif connection is not None:
    _migrate(connection)
else:  # `alembic -c evolve/db/migrations/alembic.ini -x url=... revision --autogenerate -m ...`
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    with create_engine(url).begin() as conn:
        _migrate(conn)
