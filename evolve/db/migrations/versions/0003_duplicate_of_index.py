"""An index on programs.duplicate_of: crediting a finished program's duplicates stays cheap in big runs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "ix_programs_duplicate_of" in {i["name"] for i in sa.inspect(op.get_bind()).get_indexes("programs")}:
        return
    op.create_index("ix_programs_duplicate_of", "programs", ["duplicate_of"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_programs_duplicate_of", table_name="programs")
