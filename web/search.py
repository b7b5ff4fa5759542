"""Search over contacts: words (trigram-indexed LIKE) and meaning (cached sentence vectors).

``keyword_ids`` finds the newest contacts holding every word; ``semantic_index`` indexes the
cached vectors of one model for nearest-neighbour search (``clustering.vector_index``);
``interactions_by_id`` reads the result rows with their themes, in the order the search
ranked them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.models import Theme, ThemeMembership
from rootline.clustering.vector_index import IndexReport, VectorIndex, sync_index
from rootline.db import LIKE_ESCAPE, contains_pattern
from rootline.ingest.models import Interaction

__all__ = ["SemanticIndex", "interactions_by_id", "keyword_ids", "semantic_index"]


def _has_fts(session: Session) -> bool:
    """Whether the SQLite trigram table of migration 0006 exists (FTS5 may be missing)."""
    return (
        session.scalar(
            sa.text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'interaction_fts'")
        )
        == 1
    )


def _trigram_query(words: list[str]) -> str:
    """An FTS5 query for rows holding every trigram of every word of three characters or more.

    A row containing a word holds all its trigrams, so this finds a superset of the matches;
    it asks the index for tokens only, which is several times faster than FTS5's own LIKE
    (that re-reads each candidate's text, which the search's LIKE does anyway).
    """
    grams = dict.fromkeys(w[i : i + 3] for w in words for i in range(len(w) - 2))
    return " AND ".join('"' + g.replace('"', '""') + '"' for g in grams)


def keyword_ids(session: Session, query: str, limit: int = 50) -> list[int]:
    """Ids of the newest interactions whose clean text contains every word of ``query``.

    The clean text starts with the subject, so one column is searched, not two. A trigram
    index narrows the rows when there is one (migration 0006): PostgreSQL's ``pg_trgm`` GIN
    index serves ``ILIKE`` itself; on SQLite the FTS5 trigram table proposes the rows holding
    every trigram of the words and the same ``LIKE`` conditions decide, so the matches are
    those of a full scan.
    """
    # SQLite's LIKE ignores (ASCII) case already; lower() on every row would double the scan.
    sqlite = session.get_bind().dialect.name == "sqlite"
    words = query.lower().split()[:8]
    stmt = sa.select(Interaction.id)
    for word in words:
        like = contains_pattern(word)
        stmt = stmt.where(
            Interaction.body_clean.like(like, escape=LIKE_ESCAPE)
            if sqlite
            else Interaction.body_clean.ilike(like, escape=LIKE_ESCAPE)
        )
    if sqlite and any(len(w) >= 3 for w in words) and _has_fts(session):
        stmt = stmt.where(
            Interaction.id.in_(
                sa.select(sa.column("rowid"))
                .select_from(sa.table("interaction_fts"))
                .where(
                    sa.text("interaction_fts MATCH :trigrams").bindparams(
                        trigrams=_trigram_query(words)
                    )
                )
            )
        )
    # Sorting on an expression keeps the planner off the created_at index: walking that index
    # and checking each row costs a random read per row, where sorting the matches (all of
    # them, from the trigram index or one sequential scan) is several times faster.
    # The themes are joined afterwards, to the page of ids only.
    newest = sa.func.coalesce(Interaction.created_at, Interaction.created_at)
    return list(
        session.scalars(
            stmt.order_by(newest.desc().nulls_last(), Interaction.id.desc()).limit(limit)
        )
    )


@dataclass(frozen=True)
class SemanticIndex:
    """The stored vectors of one model, indexed for nearest-neighbour search."""

    slug: str
    index: VectorIndex
    report: IndexReport

    def nearest(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The ``k`` interactions most similar (cosine) to the query vector."""
        return self.index.nearest(query, k)


def semantic_index(session: Session, slug: str, folder: Path | None = None) -> SemanticIndex:
    """Every interaction whose clean text has a cached vector under model ``slug``.

    The graph a clustering run saved in ``folder`` is loaded and brought up to date; without
    one the stored vectors are scanned exactly until the next run saves a graph (building one
    here would hold the request for minutes on a large corpus).
    """
    index, report = sync_index(session, slug, folder, build_graph=False)
    return SemanticIndex(slug, index, report)


_LISTED = (
    Interaction.id,
    Interaction.source,
    Interaction.external_id,
    Interaction.channel,
    Interaction.customer_id,
    Interaction.subject,
    Interaction.body_clean,
    Interaction.created_at,
    Interaction.csat,
    Interaction.status,
)


def interactions_by_id(
    session: Session, ids: list[int]
) -> list[tuple[Any, int | None, str | None]]:
    """Contacts with their themes, in the order of ``ids``: (contact, theme id, theme title).

    A contact is a read-only row with the columns result lists show (``id``, ``source``,
    ``external_id``, ``channel``, ``customer_id``, ``subject``, ``body_clean``, ``created_at``,
    ``csat``, ``status``), read as attributes like an ``Interaction``; building no ORM objects
    and reading no raw text, tags or extra fields keeps search cheap.
    """
    if not ids:
        return []
    rows = {
        row.id: (row, row.theme_id, row.theme_title)
        for row in session.execute(
            sa.select(*_LISTED, Theme.id.label("theme_id"), Theme.title.label("theme_title"))
            .outerjoin(ThemeMembership, ThemeMembership.interaction_id == Interaction.id)
            .outerjoin(Theme, Theme.id == ThemeMembership.theme_id)
            .where(Interaction.id.in_(set(ids)))
        )
    }
    return [rows[i] for i in ids if i in rows]
