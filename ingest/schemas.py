"""The canonical record every reader produces, whatever the input format."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

__all__ = ["CANONICAL_FIELDS", "InteractionRecord"]


class InteractionRecord(BaseModel):
    """One contact as read from a file, before cleaning and identity resolution."""

    external_id: str
    subject: str | None = None
    body: str = ""
    channel: str = "other"
    created_at: datetime | None = None
    resolved_at: datetime | None = None
    status: str | None = None
    csat: float | None = None
    agent: str | None = None
    tags: list[str] = Field(default_factory=list)
    customer_email: str | None = None
    customer_phone: str | None = None
    account_id: str | None = None
    customer_name: str | None = None
    segment: str | None = None
    customer_value: float | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
    #: Where the record came from, for error messages: line number or message id.
    line: int | None = None


CANONICAL_FIELDS = tuple(f for f in InteractionRecord.model_fields if f not in {"extra", "line"})
