"""web: API tokens with a scope, so a token given to an agent desk can only triage

Revision ID: 0008_token_scope
Revises: 0007_session_generation
Create Date: 2026-12-02 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_token_scope"
down_revision = "0007_session_generation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_token") as batch:
        batch.add_column(
            sa.Column("scope", sa.String(16), nullable=False, server_default="all")
        )


def downgrade() -> None:
    with op.batch_alter_table("api_token") as batch:
        batch.drop_column("scope")
