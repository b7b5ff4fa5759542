"""Request bodies of the JSON API, in one place.

Ids and versions are strict integers within the databases' 64-bit range: ``true`` is not the
id 1 and ``99999999999999999999`` is refused with 422, never an overflow in the database.
Response bodies are the resources' own schemas (``rootline.clustering.schemas``,
``rootline.rootcause.schemas``).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, Strict

from rootline.web.deps import MAX_ID

__all__ = [
    "AssignIn",
    "BodyId",
    "CommentIn",
    "FixIn",
    "MoveIn",
    "PromoteIn",
    "RenameIn",
    "TargetIn",
    "TaskIn",
    "TaskStateIn",
    "TokenIn",
    "TransitionIn",
    "UpdateIn",
    "UserIn",
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


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    user_id: BodyId | None = None
    #: all: what the user's role may do; triage: only ``POST /api/triage``.
    scope: Literal["all", "triage"] = "all"
