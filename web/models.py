"""Tables owned by the web app: API tokens and sign-in attempts (for rate limiting)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rootline.db import Base, utcnow
from rootline.rootcause.models import User

__all__ = ["ApiToken", "LoginAttempt"]

_TS = sa.DateTime(timezone=True)


class ApiToken(Base):
    """A bearer token for the JSON API. Only the SHA-256 of the token is stored."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("app_user.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(128))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(
        sa.String(16), doc="First characters, to tell tokens apart."
    )
    created_at: Mapped[datetime] = mapped_column(_TS, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(_TS)
    revoked_at: Mapped[datetime | None] = mapped_column(_TS)
    scope: Mapped[str] = mapped_column(
        sa.String(16),
        default="all",
        server_default="all",
        doc="all: what the user's role may do; triage: only POST /api/triage.",
    )

    user: Mapped[User] = relationship()


class LoginAttempt(Base):
    """One sign-in attempt; failures within a window refuse further tries."""

    __tablename__ = "login_attempt"
    __table_args__ = (sa.Index("ix_login_attempt_key", "username", "address", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(255))
    address: Mapped[str] = mapped_column(sa.String(64))
    succeeded: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    at: Mapped[datetime] = mapped_column(_TS, default=utcnow)
