"""Reading themes: list them, one theme with its examples, its contacts, assignments, scores.

Runs that build and update themes live in ``rootline.clustering.runs``, people's edits in
``rootline.clustering.curation``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.metrics import score_themes
from rootline.clustering.models import Theme, ThemeMembership
from rootline.clustering.schemas import ExampleOut, ThemeOut
from rootline.db import LIKE_ESCAPE, contains_pattern
from rootline.errors import InputError, NotFoundError
from rootline.ingest.models import Interaction

__all__ = [
    "evaluate",
    "get_theme",
    "iter_assignments",
    "list_themes",
    "theme_interactions",
]


def _examples(session: Session, ids: list[int]) -> list[ExampleOut]:
    if not ids:
        return []
    rows = {
        r.id: r
        for r in session.execute(
            sa.select(
                Interaction.id, Interaction.source, Interaction.external_id, Interaction.body_clean
            ).where(Interaction.id.in_(ids))
        )
    }
    return [
        ExampleOut(
            interaction_id=i,
            source=rows[i].source,
            external_id=rows[i].external_id,
            text=rows[i].body_clean,
        )
        for i in ids
        if i in rows
    ]


def _theme_out(session: Session, theme: Theme, with_examples: bool) -> ThemeOut:
    return ThemeOut(
        id=theme.id,
        title=theme.title,
        keywords=list(theme.keywords or []),
        size=theme.size,
        status=theme.status,
        title_locked=theme.title_locked,
        created_run_id=theme.created_run_id,
        merged_into=theme.merged_into_id,
        split_from=theme.split_from_id,
        examples=_examples(session, list(theme.examples or [])) if with_examples else [],
    )


def list_themes(
    session: Session,
    *,
    include_inactive: bool = False,
    with_examples: bool = False,
    statuses: Sequence[str] = ("active",),
) -> list[ThemeOut]:
    """Themes with one of ``statuses`` (every theme with ``include_inactive``), largest first."""
    query = sa.select(Theme).order_by(Theme.size.desc(), Theme.id)
    if not include_inactive:
        query = query.where(Theme.status.in_(list(statuses)))
    return [_theme_out(session, t, with_examples) for t in session.scalars(query)]


def get_theme(session: Session, theme_id: int) -> ThemeOut:
    """One theme with its examples.

    Raises:
        NotFoundError: if there is no such theme.
    """
    theme = session.get(Theme, theme_id)
    if theme is None:
        raise NotFoundError(f"no theme with id {theme_id}")
    return _theme_out(session, theme, with_examples=True)


def theme_interactions(
    session: Session, theme_id: int, *, offset: int = 0, limit: int = 50, query: str | None = None
) -> tuple[int, list[Interaction]]:
    """A page of a theme's interactions, newest first, and how many there are (or match
    ``query``, a case-insensitive literal substring of the clean text).

    Without a query the total comes from the membership index alone, and the page is chosen
    on ids and dates before the few whole rows shown are loaded.
    """
    ranked = (
        sa.select(Interaction.id)
        .join(ThemeMembership, ThemeMembership.interaction_id == Interaction.id)
        .where(ThemeMembership.theme_id == theme_id)
    )
    if query:
        like = contains_pattern(query.lower())
        ranked = ranked.where(sa.func.lower(Interaction.body_clean).like(like, escape=LIKE_ESCAPE))
        total = session.scalar(sa.select(sa.func.count()).select_from(ranked.subquery())) or 0
    else:
        members = sa.select(ThemeMembership.interaction_id).where(
            ThemeMembership.theme_id == theme_id
        )
        total = session.scalar(sa.select(sa.func.count()).select_from(members.subquery())) or 0
    ids = list(
        session.scalars(
            ranked.order_by(Interaction.created_at.desc().nulls_last(), Interaction.id.desc())
            .offset(offset)
            .limit(limit)
        )
    )
    if not ids:
        return total, []
    rows = {i.id: i for i in session.scalars(sa.select(Interaction).where(Interaction.id.in_(ids)))}
    return total, [rows[i] for i in ids if i in rows]


def _active_membership() -> Any:
    """Memberships in active themes: proposed and "not a theme" groups count as unthemed."""
    return (
        sa.select(ThemeMembership.interaction_id, ThemeMembership.theme_id)
        .join(Theme, Theme.id == ThemeMembership.theme_id)
        .where(Theme.status == "active")
        .subquery()
    )


def iter_assignments(session: Session) -> Iterator[tuple[str, str, int | None]]:
    """Every interaction's (source, external_id, active theme id or None), in id order."""
    member = _active_membership()
    query = (
        sa.select(Interaction.source, Interaction.external_id, member.c.theme_id)
        .outerjoin(member, member.c.interaction_id == Interaction.id)
        .order_by(Interaction.id)
        .execution_options(yield_per=5000)
    )
    for source, ext, tid in session.execute(query):
        yield str(source), str(ext), tid


_CORE_FIELDS = {"channel", "status", "agent", "source", "subject"}


def evaluate(session: Session, field: str) -> dict[str, Any]:
    """Score current themes against a gold label kept from ingest (an extra field or column).

    Raises:
        InputError: if no interaction has a value for ``field``.
    """
    member = _active_membership()
    if field in _CORE_FIELDS:
        label_col: Any = getattr(Interaction, field)
        query = sa.select(label_col, member.c.theme_id)
    else:
        query = sa.select(Interaction.extra, member.c.theme_id)
    query = query.select_from(Interaction).outerjoin(
        member, member.c.interaction_id == Interaction.id
    )
    gold: list[str | None] = []
    themes: list[int | None] = []
    for value, tid in session.execute(query.execution_options(yield_per=5000)):
        if field not in _CORE_FIELDS:
            value = (value or {}).get(field)
        gold.append(None if value in (None, "") else str(value))
        themes.append(tid)
    if not any(g is not None for g in gold):
        raise InputError(f"no interaction has a value for field {field!r}", field=field)
    return score_themes(gold, themes)
