"""Request bodies of the JSON API, and the response bodies that are the API's own.

Ids and versions are strict integers within the databases' 64-bit range: ``true`` is not the
id 1 and ``99999999999999999999`` is refused with 422, never an overflow in the database.
Resources are answered in their own schemas (``rootline.clustering.schemas``,
``rootline.rootcause.schemas``); the ``...Out`` models here are the web layer's own answers
(who is signed in, users and tokens, search hits, a customer), so ``/openapi.json`` documents
every body. Error bodies are in ``rootline.web.refusals``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, Strict

from rootline.db import UtcDateTime
from rootline.web.deps import MAX_ID

__all__ = [
    "AssignIn",
    "BodyId",
    "CommentIn",
    "ContactOut",
    "CustomerContactOut",
    "CustomerOut",
    "ErasureOut",
    "FixIn",
    "HealthOut",
    "IdentityOut",
    "IngestOut",
    "MeOut",
    "MoveIn",
    "PromoteIn",
    "RenameIn",
    "RuleIn",
    "RuleOut",
    "RulesImportOut",
    "SearchHitOut",
    "SearchOut",
    "SemanticHitOut",
    "TargetIn",
    "TaskIn",
    "TaskStateIn",
    "ThemeContactsOut",
    "TokenCreatedOut",
    "TokenIn",
    "TokenOut",
    "TokenRevokedOut",
    "TransitionIn",
    "UpdateIn",
    "UserCreatedOut",
    "UserIn",
    "UserOut",
]

#: A row id in a JSON body.
BodyId = Annotated[int, Strict(), Field(ge=1, le=MAX_ID)]
#: A record's version, for optimistic locking.
Version = Annotated[int, Strict(), Field(ge=0, le=MAX_ID)]
#: A team, by name or by id.
TeamRef = Annotated[str, Field(min_length=1, max_length=128)] | BodyId


class RenameIn(BaseModel):
    title: str = Field(min_length=1, max_length=255)


class TargetIn(BaseModel):
    target_id: BodyId


class MoveIn(BaseModel):
    target_id: BodyId
    interaction_ids: list[BodyId] = Field(min_length=1, max_length=10_000)


class PromoteIn(BaseModel):
    title: str | None = Field(default=None, max_length=255)
    tags: list[Annotated[str, Field(max_length=64)]] = Field(default=[], max_length=50)


class TransitionIn(BaseModel):
    target: str = Field(max_length=32)
    version: Version | None = None
    reason: str | None = Field(default=None, max_length=2000)
    accept_without_data: bool = Field(
        default=False,
        description="With target verified: a lead accepts the fix without data evidence "
        "(a reason is required and audited).",
    )


class UpdateIn(BaseModel):
    changes: dict[str, Any]
    version: Version | None = None


class FixIn(BaseModel):
    fixed_on: date
    description: str | None = Field(default=None, max_length=10_000)
    version: Version | None = None


class CommentIn(BaseModel):
    body: str = Field(min_length=1, max_length=10_000)


class TaskIn(BaseModel):
    title: str = Field(min_length=1, max_length=255)
    team: TeamRef | None = None
    owner_user_id: BodyId | None = None
    due_date: date | None = None


class TaskStateIn(BaseModel):
    state: str = Field(max_length=16)


class AssignIn(BaseModel):
    business: TeamRef | None = None
    is_team: TeamRef | None = None
    version: Version | None = None


class UserIn(BaseModel):
    email: str = Field(max_length=255)
    role: str = Field(default="viewer", max_length=32)
    name: str = Field(default="", max_length=255)
    password: str = Field(min_length=8, max_length=1024)
    teams: list[Annotated[str, Field(max_length=128)]] = Field(default=[], max_length=50)


class RuleIn(BaseModel):
    """A routing rule as ``POST /api/admin/rules/new`` and ``/api/admin/rules/{id}`` take it:
    ``conditions`` maps a field (``keywords``, ``channel``, ``product`` ...) to a value or a
    list of values, as the YAML's ``match``."""

    name: str = Field(min_length=1, max_length=128)
    priority: int = Field(default=100, ge=0, le=1_000_000)
    enabled: bool = True
    conditions: dict[str, str | list[str]] = Field(default_factory=dict, max_length=50)
    business_team_id: BodyId | None = None
    is_team_id: BodyId | None = None


class RuleOut(BaseModel):
    """A routing rule as stored."""

    id: int
    name: str
    priority: int
    enabled: bool
    conditions: dict[str, Any]
    business_team_id: int | None
    is_team_id: int | None


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    user_id: BodyId | None = None
    #: all: what the user's role may do; triage: only ``POST /api/triage``.
    scope: Literal["all", "triage"] = "all"


class HealthOut(BaseModel):
    """``ok``, or ``unavailable`` with ``database: unreachable``."""

    status: str
    database: str


class MeOut(BaseModel):
    id: int
    email: str
    role: str
    teams: list[str]


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    role: str
    active: bool
    teams: list[str]


class UserCreatedOut(BaseModel):
    id: int
    email: str
    role: str


class TokenOut(BaseModel):
    """An API token as listed: never the token itself, only its first characters."""

    id: int
    name: str
    user: str
    prefix: str
    created_at: UtcDateTime
    last_used_at: UtcDateTime | None
    revoked: bool
    scope: str


class TokenCreatedOut(BaseModel):
    """A new token: the only answer that ever shows ``token``."""

    id: int
    token: str
    user: str
    scope: str


class TokenRevokedOut(BaseModel):
    id: int
    revoked: bool


class RulesImportOut(BaseModel):
    """The names of the routing rules imported."""

    imported: list[str]


class SearchHitOut(BaseModel):
    id: int
    source: str
    external_id: str
    created_at: UtcDateTime | None
    theme_id: int | None
    theme: str | None
    text: str | None


class SemanticHitOut(SearchHitOut):
    similarity: float


class SearchOut(BaseModel):
    keyword: list[SearchHitOut]
    semantic: list[SemanticHitOut]


class ContactOut(BaseModel):
    """A contact of a theme; ``body_raw`` (the raw text) only for roles that see personal data."""

    id: int
    source: str
    external_id: str
    channel: str | None
    created_at: UtcDateTime | None
    csat: float | None
    customer_id: int | None
    subject: str | None
    text: str | None
    body_raw: str | None = None


class ThemeContactsOut(BaseModel):
    """One page of a theme's contacts, and how many it has in all."""

    total: int
    items: list[ContactOut]


class IdentityOut(BaseModel):
    kind: str
    value: str
    source: str | None


class CustomerContactOut(SearchHitOut):
    channel: str | None
    body_raw: str | None = None


class CustomerOut(BaseModel):
    """A unified customer; ``name`` and ``identities`` only for roles that see personal data."""

    id: int
    segment: str | None
    value: float | None
    sources: list[str]
    name: str | None = None
    identities: list[IdentityOut] | None = None
    interactions: list[CustomerContactOut]


class ErasureOut(BaseModel):
    """What one erasure removed."""

    customer_ids: list[int]
    contacts: int
    identities: int
    vectors: int
    events: int


class SourceCountsOut(BaseModel):
    inserted: int
    updated: int
    unchanged: int
    #: Added records whose ids another source already held: that source -> how many.
    known_elsewhere: dict[str, int]


class IngestOut(BaseModel):
    """What a pushed batch did, in all and by source."""

    received: int
    inserted: int
    updated: int
    unchanged: int
    customers_created: int
    sources: dict[str, SourceCountsOut]
