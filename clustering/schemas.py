"""What clustering hands to the CLI, the web app and the JSON API."""

from __future__ import annotations

from pydantic import BaseModel

from rootline.db import UtcDateTime

__all__ = ["ExampleOut", "RunOut", "ThemeEventOut", "ThemeOut"]


class ExampleOut(BaseModel):
    interaction_id: int
    source: str
    external_id: str
    text: str


class ThemeOut(BaseModel):
    """A theme as listed by ``rootline themes --json`` and ``/api/themes``."""

    id: int
    title: str
    keywords: list[str]
    size: int
    status: str
    title_locked: bool = False
    created_run_id: int | None = None
    merged_into: int | None = None
    split_from: int | None = None
    examples: list[ExampleOut] = []


class RunOut(BaseModel):
    id: int
    kind: str
    status: str
    model_slug: str
    n_interactions: int
    started_at: UtcDateTime
    finished_at: UtcDateTime | None
    params: dict[str, object]
    metrics: dict[str, object]


class ThemeEventOut(BaseModel):
    """One entry of ``rootline theme history ID``."""

    theme_id: int
    kind: str
    run_id: int | None
    actor: str
    details: dict[str, object]
    at: UtcDateTime
