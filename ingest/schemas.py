"""The canonical records readers produce, whatever the input format, and ingest's outputs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from rootline.errors import InputError

__all__ = [
    "CANONICAL_FIELDS",
    "CRM_FIELDS",
    "MAX_SOURCE_LENGTH",
    "CustomerEventRecord",
    "CustomerRecord",
    "CustomerSource",
    "InteractionRecord",
    "Rejected",
]

#: The longest source name (the system records come from) the store keeps.
MAX_SOURCE_LENGTH = 64


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
    #: ``external``, ``employee`` or ``department`` (see ``identity.normalise_customer_kind``).
    customer_kind: str | None = None
    department: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
    #: The system this record comes from, when the file says so per record (a
    #: ``source_system`` column of a plain table); None: the load's source.
    source: str | None = None
    #: The customer's own words when ``body`` also holds others' (agent turns of a chat, replies
    #: in an e-mail thread); each turn is cleaned on its own and only these feed ``body_clean``.
    customer_turns: list[str] | None = None
    #: Where the record came from, for error messages: line number or message number.
    line: int | None = None
    #: A digest of the record as read, when the reader has a cheap one (see ``service``).
    source_digest: str | None = None


class CustomerRecord(BaseModel):
    """One customer from a CRM export: its ids, contact points and what it is worth."""

    account_id: str | None = None
    name: str | None = None
    emails: list[str] = Field(default_factory=list)
    phones: list[str] = Field(default_factory=list)
    segment: str | None = None
    value: float | None = None
    account_owner: str | None = None
    kind: str | None = None
    department: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
    line: int | None = None


class CustomerEventRecord(BaseModel):
    """Something a customer did with a money value: order, cancellation, upgrade, downgrade."""

    external_id: str
    kind: str
    occurred_at: datetime
    amount: float | None = None
    currency: str | None = None
    account_id: str | None = None
    customer_email: str | None = None
    customer_phone: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
    line: int | None = None


class CustomerSource(BaseModel):
    """One source a customer appears in, and how."""

    source: str
    interactions: int = 0
    identities: list[str] = Field(default_factory=list)
    events: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None


@dataclass
class Rejected:
    """A record a reader could not use: the reason (file, line, field) and what it was."""

    error: InputError
    raw: Any = None


CANONICAL_FIELDS = tuple(
    f
    for f in InteractionRecord.model_fields
    if f not in {"extra", "line", "customer_turns", "source_digest"}
)

#: Fields ``--map`` may name in customer and customer-event files.
CRM_FIELDS = tuple(
    dict.fromkeys(
        f
        for model in (CustomerRecord, CustomerEventRecord)
        for f in model.model_fields
        if f not in {"extra", "line"}
    )
)
