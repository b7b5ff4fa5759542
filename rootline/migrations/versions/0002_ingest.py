"""ingest: customer events, account owner, index on merged customers

Revision ID: 0002_ingest
Revises: 0001
Create Date: 2026-11-23 01:54:31.266757
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002_ingest"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount", sa.Float(), nullable=True),
        sa.Column("currency", sa.String(length=8), nullable=True),
        sa.Column(
            "extra",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_customer_event_customer_id_customer"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_event")),
        sa.UniqueConstraint("source", "external_id", name="uq_customer_event_source_external_id"),
    )
    op.create_index(op.f("ix_customer_event_customer_id"), "customer_event", ["customer_id"])
    op.create_index(op.f("ix_customer_event_kind"), "customer_event", ["kind"])
    op.create_index(op.f("ix_customer_event_occurred_at"), "customer_event", ["occurred_at"])

    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account_owner", sa.String(length=255), nullable=True))
        batch_op.create_index(batch_op.f("ix_customer_merged_into_id"), ["merged_into_id"])


def downgrade() -> None:
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_merged_into_id"))
        batch_op.drop_column("account_owner")

    op.drop_index(op.f("ix_customer_event_occurred_at"), table_name="customer_event")
    op.drop_index(op.f("ix_customer_event_kind"), table_name="customer_event")
    op.drop_index(op.f("ix_customer_event_customer_id"), table_name="customer_event")
    op.drop_table("customer_event")
