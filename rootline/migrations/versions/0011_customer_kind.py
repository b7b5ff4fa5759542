"""ingest: a customer's kind (external, employee or department) and department, for internal
help desks

Revision ID: 0011_customer_kind
Revises: 0002_ingest
Create Date: 2026-12-03 15:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_customer_kind"
down_revision = "0002_ingest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customer") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="external")
        )
        batch.add_column(sa.Column("department", sa.String(length=128), nullable=True))
        batch.create_index(batch.f("ix_customer_kind"), ["kind"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("customer") as batch:
        batch.drop_index(batch.f("ix_customer_kind"))
        batch.drop_column("department")
        batch.drop_column("kind")
