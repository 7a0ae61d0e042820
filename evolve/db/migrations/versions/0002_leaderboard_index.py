"""An index for the leaderboard's filtered top-N: programs by (run, status, score).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "ix_programs_run_status_score" in {i["name"] for i in sa.inspect(op.get_bind()).get_indexes("programs")}:
        return  # a database made before migrations by a version that already had it
    op.create_index("ix_programs_run_status_score", "programs", ["run_id", "status", "score"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_programs_run_status_score", table_name="programs")
