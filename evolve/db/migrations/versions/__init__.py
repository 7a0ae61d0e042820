"""Alembic revisions, oldest first: 0001 the baseline, then one file per schema change."""
