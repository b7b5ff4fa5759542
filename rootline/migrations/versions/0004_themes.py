"""themes: theme history events

Revision ID: 0004_themes
Revises: 0001
Create Date: 2026-11-23 01:58:12.543449
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0004_themes'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('theme_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('theme_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['clustering_run.id'], name=op.f('fk_theme_event_run_id_clustering_run')),
    sa.ForeignKeyConstraint(['theme_id'], ['theme.id'], name=op.f('fk_theme_event_theme_id_theme'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_theme_event'))
    )
    with op.batch_alter_table('theme_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_theme_event_theme_id'), ['theme_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('theme_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_theme_event_theme_id'))

    op.drop_table('theme_event')
