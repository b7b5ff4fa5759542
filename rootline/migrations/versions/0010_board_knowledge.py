"""rootcause: governance board decisions; knowledge-base articles with symptoms, fix, a
public-to-agents flag and saved revisions

Revision ID: 0010_board_knowledge
Revises: 0003_rootcause
Create Date: 2026-12-03 14:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_board_knowledge"
down_revision = "0003_rootcause"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "board_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("problem_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("defer_until", sa.Date(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("merged_into_id", sa.Integer(), nullable=True),
        sa.Column("decided_by", sa.String(length=255), nullable=False),
        sa.Column("decided_at", _TS, nullable=False),
        sa.Column("impact_score", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["problem_id"],
            ["problem.id"],
            name=op.f("fk_board_decision_problem_id_problem"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["merged_into_id"],
            ["problem.id"],
            name=op.f("fk_board_decision_merged_into_id_problem"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_board_decision")),
    )
    with op.batch_alter_table("board_decision") as batch:
        batch.create_index(batch.f("ix_board_decision_problem_id"), ["problem_id"], unique=False)
    with op.batch_alter_table("known_error") as batch:
        batch.add_column(sa.Column("symptoms", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("fix", sa.Text(), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("public", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(
            sa.Column("updated_by", sa.String(length=255), nullable=False, server_default="system")
        )
    op.create_table(
        "known_error_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("known_error_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("symptoms", sa.Text(), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("workaround", sa.Text(), nullable=False),
        sa.Column("fix", sa.Text(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("changed_by", sa.String(length=255), nullable=False),
        sa.Column("changed_at", _TS, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["known_error_id"],
            ["known_error.id"],
            name=op.f("fk_known_error_revision_known_error_id_known_error"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_known_error_revision")),
        sa.UniqueConstraint("known_error_id", "revision", name="uq_known_error_revision"),
    )
    with op.batch_alter_table("known_error_revision") as batch:
        batch.create_index(
            batch.f("ix_known_error_revision_known_error_id"), ["known_error_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("known_error_revision")
    with op.batch_alter_table("known_error") as batch:
        for name in ("updated_by", "revision", "public", "fix", "symptoms"):
            batch.drop_column(name)
    op.drop_table("board_decision")
