"""Each theme's history: what runs and people did to it, oldest first."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.models import THEME_EVENT_KINDS, Theme, ThemeEvent
from rootline.clustering.schemas import ThemeEventOut
from rootline.errors import NotFoundError

__all__ = ["SYSTEM_ACTOR", "record_event", "theme_history"]

#: The actor of events written by clustering runs rather than by a person.
SYSTEM_ACTOR = "system"


def record_event(
    session: Session,
    theme_id: int,
    kind: str,
    *,
    actor: str = SYSTEM_ACTOR,
    run_id: int | None = None,
    **details: Any,
) -> ThemeEvent:
    """Append one event to a theme's history (flushed, not committed)."""
    if kind not in THEME_EVENT_KINDS:  # a typo here would silently split the history
        raise ValueError(f"unknown theme event kind {kind!r}")
    event = ThemeEvent(theme_id=theme_id, kind=kind, actor=actor, run_id=run_id, details=details)
    session.add(event)
    return event


def theme_history(session: Session, theme_id: int) -> list[ThemeEventOut]:
    """A theme's events, oldest first.

    Raises:
        NotFoundError: if there is no such theme.
    """
    if session.get(Theme, theme_id) is None:
        raise NotFoundError(f"no theme with id {theme_id}")
    events = session.scalars(
        sa.select(ThemeEvent)
        .where(ThemeEvent.theme_id == theme_id)
        .order_by(ThemeEvent.at, ThemeEvent.id)
    )
    return [
        ThemeEventOut(
            theme_id=e.theme_id,
            kind=e.kind,
            run_id=e.run_id,
            actor=e.actor,
            details=dict(e.details or {}),
            at=e.at,
        )
        for e in events
    ]
