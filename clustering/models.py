"""Tables owned by clustering: the embedding cache, runs, themes and memberships."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from rootline.db import Base, JSONType, utcnow

__all__ = [
    "THEME_EVENT_KINDS",
    "THEME_STATUSES",
    "ClusteringRun",
    "EmbeddingCache",
    "Theme",
    "ThemeEvent",
    "ThemeMembership",
]

#: active: a live theme; proposed: a dense group found in the novelty pool, awaiting a person;
#: noise: marked "not a theme" (its members stay out of themes); merged, split, retired: history.
THEME_STATUSES = ("active", "proposed", "noise", "merged", "split", "retired")
THEME_EVENT_KINDS = (
    "created",
    "relabelled",
    "renamed",
    "merged",
    "split",
    "moved",
    "marked_noise",
    "retired",
    "proposed",
    "accepted",
    "undone",
)


class EmbeddingCache(Base):
    """A text's vector under one model, so unchanged texts are never encoded twice."""

    __tablename__ = "embedding_cache"
    __table_args__ = (
        sa.UniqueConstraint("model_slug", "text_hash", name="uq_embedding_cache_model_text"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    model_slug: Mapped[str] = mapped_column(sa.String(128))
    text_hash: Mapped[str] = mapped_column(sa.String(64))
    dim: Mapped[int] = mapped_column(sa.Integer)
    vector: Mapped[bytes] = mapped_column(sa.LargeBinary)


class ClusteringRun(Base):
    """One named, reproducible clustering run: which model, which parameters, what came out."""

    __tablename__ = "clustering_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16), doc="full or incremental")
    model_slug: Mapped[str] = mapped_column(sa.String(128))
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(sa.String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    n_interactions: Mapped[int] = mapped_column(sa.Integer, default=0)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    error: Mapped[str | None] = mapped_column(sa.Text)


class Theme(Base):
    """A recurring issue theme. Its id is stable across runs; human edits are protected."""

    __tablename__ = "theme"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(255))
    title_locked: Mapped[bool] = mapped_column(
        sa.Boolean, default=False, doc="Set when a person renamed it; relabelling keeps it."
    )
    keywords: Mapped[list[str]] = mapped_column(JSONType, default=list)
    examples: Mapped[list[int]] = mapped_column(
        JSONType, default=list, doc="Ids of representative interactions, most central first."
    )
    status: Mapped[str] = mapped_column(
        sa.String(16), default="active", index=True, doc="one of THEME_STATUSES"
    )
    size: Mapped[int] = mapped_column(sa.Integer, default=0)
    centroid: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    created_run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("clustering_run.id"))
    updated_run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("clustering_run.id"))
    merged_into_id: Mapped[int | None] = mapped_column(sa.ForeignKey("theme.id"))
    split_from_id: Mapped[int | None] = mapped_column(sa.ForeignKey("theme.id"))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class ThemeMembership(Base):
    """Which theme an interaction belongs to. Manual placements survive re-clustering."""

    __tablename__ = "theme_membership"

    interaction_id: Mapped[int] = mapped_column(
        sa.ForeignKey("interaction.id", ondelete="CASCADE"), primary_key=True
    )
    theme_id: Mapped[int] = mapped_column(sa.ForeignKey("theme.id", ondelete="CASCADE"), index=True)
    probability: Mapped[float] = mapped_column(sa.Float, default=1.0)
    source: Mapped[str] = mapped_column(sa.String(16), default="auto", doc="auto or manual")
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("clustering_run.id"))


class ThemeEvent(Base):
    """One entry of a theme's history, written by clustering runs and by people's edits."""

    __tablename__ = "theme_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    theme_id: Mapped[int] = mapped_column(sa.ForeignKey("theme.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16), doc="one of THEME_EVENT_KINDS")
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("clustering_run.id"))
    actor: Mapped[str] = mapped_column(sa.String(128), default="system")
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
