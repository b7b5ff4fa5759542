"""The append-only audit trail: who changed which field of which object, when, from what to what."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.db import utcnow
from rootline.rootcause.models import AuditEvent

__all__ = ["history", "jsonable", "record"]


def jsonable(value: Any) -> Any:
    """A value as it is stored in the trail: dates as ISO strings, the rest as JSON allows."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def record(
    session: Session,
    actor: str,
    object_type: str,
    object_id: int,
    action: str,
    field: str | None = None,
    old: Any = None,
    new: Any = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Append one event to the trail (flushed with the change it describes)."""
    event = AuditEvent(
        at=at or utcnow(),
        actor=actor,
        object_type=object_type,
        object_id=object_id,
        action=action,
        field=field,
        old_value=jsonable(old),
        new_value=jsonable(new),
    )
    session.add(event)
    return event


def history(session: Session, object_type: str, object_id: int) -> list[AuditEvent]:
    """Every event about one object, oldest first."""
    return list(
        session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.object_type == object_type, AuditEvent.object_id == object_id)
            .order_by(AuditEvent.id)
        )
    )
