"""Baseline: the schema of evolve's first released database (meta.schema_version 1).

A database made before migrations existed (tables created directly, no alembic_version) is
adopted here: missing tables, columns and indexes are added, nothing is dropped.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
META = sa.MetaData()  # frozen copy of the tables at this revision: never import evolve.db.models here

sa.Table(
    'meta', META,
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key')
)

sa.Table(
    'runs', META,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('problem', sa.String(length=200), nullable=False),
    sa.Column('problem_path', sa.Text(), nullable=False),
    sa.Column('config', JSON, nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('stop_reason', sa.Text(), nullable=True),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
)

sa.Table(
    'programs', META,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('iteration', sa.Integer(), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('second_parent_id', sa.Integer(), nullable=True),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('island', sa.Integer(), nullable=False),
    sa.Column('mutation', sa.String(length=100), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('diff', sa.Text(), nullable=True),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('violation', sa.Float(), nullable=True),
    sa.Column('score_std', sa.Float(), nullable=True),
    sa.Column('score_samples', sa.Integer(), nullable=True),
    sa.Column('holdout_score', sa.Float(), nullable=True),
    sa.Column('holdout_metrics', JSON, nullable=True),
    sa.Column('duplicate_of', sa.Integer(), nullable=True),
    sa.Column('ast_hash', sa.String(length=64), nullable=True),
    sa.Column('func_hash', sa.String(length=64), nullable=True),
    sa.Column('dedup_level', sa.String(length=20), nullable=True),
    sa.Column('metrics', JSON, nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('eval_seconds', sa.Float(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('evaluated_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['duplicate_of'], ['programs.id']),
    sa.ForeignKeyConstraint(['parent_id'], ['programs.id']),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id']),
    sa.ForeignKeyConstraint(['second_parent_id'], ['programs.id']),
    sa.PrimaryKeyConstraint('id')
)

sa.Table(
    'cells', META,
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('cell', sa.String(length=200), nullable=False),
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id']),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id']),
    sa.PrimaryKeyConstraint('run_id', 'cell')
)

sa.Table(
    'evaluations', META,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=100), nullable=False),
    sa.Column('workload', JSON, nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('passed', sa.Boolean(), nullable=False),
    sa.Column('metrics', JSON, nullable=True),
    sa.Column('artifacts', JSON, nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('stdout', sa.Text(), nullable=True),
    sa.Column('stderr', sa.Text(), nullable=True),
    sa.Column('wall_s', sa.Float(), nullable=False),
    sa.Column('cpu_s', sa.Float(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id']),
    sa.PrimaryKeyConstraint('id')
)

sa.Table(
    'island_members', META,
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('island', sa.Integer(), nullable=False),
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.Column('via', sa.String(length=20), nullable=False),
    sa.Column('joined_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id']),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id']),
    sa.PrimaryKeyConstraint('run_id', 'island', 'program_id')
)

sa.Table(
    'llm_calls', META,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('program_id', sa.Integer(), nullable=True),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('prompt_tokens', sa.Integer(), nullable=False),
    sa.Column('completion_tokens', sa.Integer(), nullable=False),
    sa.Column('cost_usd', sa.Float(), nullable=False),
    sa.Column('latency_s', sa.Float(), nullable=False),
    sa.Column('outcome', sa.String(length=40), nullable=False),
    sa.Column('prompt_hash', sa.String(length=64), nullable=True),
    sa.Column('response', sa.Text(), nullable=True),
    sa.Column('prompt', sa.Text(), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=True),
    sa.Column('attempt', sa.Integer(), nullable=False, server_default=sa.text('1')),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id']),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id']),
    sa.PrimaryKeyConstraint('id')
)


# (name, table, columns, unique)
INDEXES = [
    ('ix_programs_ast_hash', 'programs', ['ast_hash'], False),
    ('ix_programs_code_hash', 'programs', ['code_hash'], False),
    ('ix_programs_func_hash', 'programs', ['func_hash'], False),
    ('ix_programs_run_id', 'programs', ['run_id'], False),
    ('ix_programs_run_iteration', 'programs', ['run_id', 'iteration'], True),
    ('ix_programs_run_score', 'programs', ['run_id', 'score'], False),
    ('ix_evaluations_program_id', 'evaluations', ['program_id'], False),
    ('ix_llm_calls_run_id', 'llm_calls', ['run_id'], False),
]


def upgrade() -> None:
    bind = op.get_bind()
    have = set(sa.inspect(bind).get_table_names())
    for table in META.sorted_tables:
        if table.name not in have:
            table.create(bind)
        else:
            _add_missing_columns(bind, table)
    inspector = sa.inspect(bind)
    for name, table, columns, unique in INDEXES:
        if name not in {i["name"] for i in inspector.get_indexes(table)}:
            op.create_index(name, table, columns, unique=unique)


def _add_missing_columns(bind, table: sa.Table) -> None:
    """A pre-migration database: add the columns later versions of the models gained."""
    present = {c["name"] for c in sa.inspect(bind).get_columns(table.name)}
    for column in table.columns:
        if column.name in present:
            continue
        # existing rows need a value: the server default, else NULL (the application always writes one)
        nullable = column.nullable or column.server_default is None
        op.add_column(table.name, sa.Column(column.name, column.type, nullable=nullable,
                                            server_default=column.server_default))


def downgrade() -> None:
    for table in reversed(META.sorted_tables):
        op.drop_table(table.name)
