"""rootcause: impact score weights an admin sets

Revision ID: 0011_impact_weights
Revises: 0009_surveys
Create Date: 2026-12-03 15:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_impact_weights"
down_revision = "0009_surveys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "impact_weight",
        sa.Column("component", sa.String(length=32), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("updated_by", sa.String(length=255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("component", name=op.f("pk_impact_weight")),
    )


def downgrade() -> None:
    op.drop_table("impact_weight")
