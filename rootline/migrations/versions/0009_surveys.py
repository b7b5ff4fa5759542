"""rootcause: answers of short post-contact surveys, linked to interactions

Revision ID: 0009_surveys
Revises: 0003_rootcause
Create Date: 2026-12-03 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_surveys"
down_revision = "0003_rootcause"
branch_labels = None
# survey_response points at interaction, which the ingest branch creates.
depends_on = ("0002_ingest",)


def upgrade() -> None:
    op.create_table(
        "survey_response",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("interaction_id", sa.Integer(), nullable=False),
        sa.Column("question", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("scale_max", sa.Float(), nullable=False),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interaction.id"],
            name=op.f("fk_survey_response_interaction_id_interaction"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_response")),
        sa.UniqueConstraint("interaction_id", "question", name=op.f("uq_survey_response_question")),
    )
    op.create_index(
        op.f("ix_survey_response_interaction_id"), "survey_response", ["interaction_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_survey_response_interaction_id"), table_name="survey_response")
    op.drop_table("survey_response")
