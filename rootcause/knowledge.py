"""The known-error knowledge base: each problem's cause and workaround as a searchable article."""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.models import ThemeMembership
from rootline.rootcause.models import KnownError, KnownErrorTheme, Problem

__all__ = [
    "known_errors_for_interaction",
    "known_errors_for_theme",
    "publish_known_error",
    "search_known_errors",
]

_WORD = re.compile(r"\w+")


def _search_text(*parts: str | None) -> str:
    return " ".join(_WORD.findall(" ".join(p or "" for p in parts).lower()))


def publish_known_error(session: Session, problem: Problem) -> KnownError | None:
    """Create or refresh the article of a problem once it has a cause or a workaround.

    Returns:
        The article, or None while the problem has neither.
    """
    article = session.scalar(sa.select(KnownError).where(KnownError.problem_id == problem.id))
    if not (problem.root_cause or problem.workaround):
        return article
    if article is None:
        article = KnownError(problem_id=problem.id)
        session.add(article)
    article.title = problem.title
    article.cause = problem.root_cause or ""
    article.workaround = problem.workaround or ""
    article.search_text = _search_text(
        problem.title,
        problem.root_cause,
        problem.workaround,
        " ".join(k for t in problem.themes for k in t.keywords),
    )
    article.themes = list(problem.themes)
    session.flush()
    return article


def known_errors_for_theme(session: Session, theme_id: int) -> list[KnownError]:
    """Articles that apply to a theme, newest first, so agents see the current workaround."""
    return list(
        session.scalars(
            sa.select(KnownError)
            .join(KnownErrorTheme, KnownErrorTheme.known_error_id == KnownError.id)
            .where(KnownErrorTheme.theme_id == theme_id)
            .order_by(KnownError.updated_at.desc(), KnownError.id.desc())
        )
    )


def known_errors_for_interaction(session: Session, interaction_id: int) -> list[KnownError]:
    """Articles for the theme an interaction is in (none when it is unthemed)."""
    theme_id = session.scalar(
        sa.select(ThemeMembership.theme_id).where(ThemeMembership.interaction_id == interaction_id)
    )
    return [] if theme_id is None else known_errors_for_theme(session, theme_id)


def search_known_errors(session: Session, query: str, limit: int = 20) -> list[KnownError]:
    """Articles containing every word of the query (title, cause, workaround, theme keywords)."""
    words = _WORD.findall(query.lower())
    stmt = sa.select(KnownError)
    for word in words:
        stmt = stmt.where(KnownError.search_text.contains(word, autoescape=True))
    return list(session.scalars(stmt.order_by(KnownError.updated_at.desc()).limit(limit)))
