"""The append-only audit trail: who changed which field of which object, when, from what to what."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.db import utcnow
from rootline.rootcause.models import AuditEvent

__all__ = ["history", "in_words", "jsonable", "record"]


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


_FIELD_NAMES = {
    "business_team_id": "business team",
    "is_team_id": "IS team",
    "fix_description": "fix",
    "fixed_at": "fix date",
    "root_cause": "root cause",
    "routing_explanation": "routing reason",
}


def _quoted(value: Any, limit: int = 80) -> str:
    if value is None or value == "" or value == []:
        return "nothing"
    if isinstance(value, list):
        value = ", ".join(map(str, value))
    text = (
        str(value).replace("_", " ") if isinstance(value, str) and " " not in value else str(value)
    )
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return f'"{text}"'


def in_words(event: AuditEvent, team_names: dict[int, str] | None = None) -> str:
    """One audit entry as a sentence ("lead@x changed the business team from Payments to Web
    shop", "the worker escalated the overdue root cause stage to lead@x")."""
    teams = team_names or {}
    who = "the worker" if event.actor == "worker" else event.actor
    field = _FIELD_NAMES.get(event.field or "", (event.field or "").replace("_", " "))
    old, new = event.old_value, event.new_value
    if event.field in ("business_team_id", "is_team_id"):
        old = teams.get(old, "no team") if old is not None else "no team"
        new = teams.get(new, f"team {new}") if new is not None else "no team"
        return f"{who} changed the {field} from {old} to {new}"
    if event.action == "create":
        return f"{who} created it"
    if event.action == "transition":
        return f"{who} moved it from {_quoted(old)} to {_quoted(new)}"
    if event.action == "comment":
        return f"{who} commented: {_quoted(new, 120)}"
    if event.action == "board_decision" and isinstance(new, dict):
        what = {"approve": "approved it", "reject": "rejected it", "defer": "deferred it"}
        said = what.get(new.get("decision", ""), "decided")
        if new.get("decision") == "defer":
            said += f" until {new.get('defer_until')}"
        if new.get("decision") == "merge":
            said = f"merged it into problem #{new.get('merged_into_id')}"
        why = f": {_quoted(new.get('reason'), 120)}" if new.get("reason") else ""
        return f"{who}, for the board, {said}{why}"
    if event.action == "sla_breach" and isinstance(new, dict):
        leads = ", ".join(new.get("escalated_to") or []) or "nobody (no team lead)"
        return f"{who} escalated the overdue {field} stage to {leads}"
    if event.action in ("update", "assign"):
        if old in (None, "", []):
            return f"{who} set the {field} to {_quoted(new)}"
        return f"{who} changed the {field} from {_quoted(old)} to {_quoted(new)}"
    return f"{who}: {event.action.replace('_', ' ')} {field}".rstrip()
