"""Alembic migrations of the program database (SQLite and PostgreSQL); applied by evolve.db.engine."""
