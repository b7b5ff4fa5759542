"""web: a per-user session generation, so signing out ends every copy of the session cookie

The session cookie is signed, not stored: clearing it in one browser leaves a copied cookie
valid. Each user now has a counter that is part of the session's fingerprint; signing out
raises it, so every cookie issued before is refused.

Revision ID: 0007_session_generation
Revises: 0006_web_search
Create Date: 2026-12-01 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_session_generation"
down_revision = "0006_web_search"
branch_labels = None
depends_on = ("0003_rootcause",)


def upgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(
            sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.drop_column("session_generation")
