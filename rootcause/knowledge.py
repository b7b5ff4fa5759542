"""The known-error knowledge base, shared across the enterprise.

Each problem with a cause, a workaround or a fix has one article: its symptoms (how customers
describe it: the theme's typical contacts), cause, workaround and fix, linked to the
problem's themes. Every saved change is a revision (who, when, what it said), and in the audit
trail; an article flagged public is shown to front-line agents (the desk's workaround), others
are drafts. Articles are found by their words (every word must appear) and by meaning (the
nearest vectors of the articles' text to the query's, with the themes' model).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.embedding import Embedder, embed_with_cache
from rootline.clustering.models import Theme, ThemeMembership
from rootline.db import utcnow
from rootline.errors import ConflictError, InputError, NotFoundError
from rootline.ingest.models import Interaction
from rootline.rootcause.audit import record
from rootline.rootcause.models import (
    KnownError,
    KnownErrorRevision,
    KnownErrorTheme,
    Problem,
    ProblemTheme,
)

__all__ = [
    "ARTICLE_FIELDS",
    "ArticleMatch",
    "get_article",
    "known_errors_for_interaction",
    "known_errors_for_theme",
    "propose_article",
    "publish_known_error",
    "revisions_of",
    "save_article",
    "search_articles",
    "search_known_errors",
    "theme_problem",
    "themes_to_propose",
]

_WORD = re.compile(r"\w+")
#: What people edit on an article (besides the themes, which follow the problem's).
ARTICLE_FIELDS = ("title", "symptoms", "cause", "workaround", "fix", "public")
_LIMITS = {"title": 255, "symptoms": 20_000, "cause": 20_000, "workaround": 20_000, "fix": 20_000}
#: How many of a theme's typical contacts make an article's symptoms.
_SYMPTOMS = 3
#: Below this cosine similarity an article is not "close in meaning" to a query.
_MEANING_FLOOR = 0.2


def _search_text(*parts: str | None) -> str:
    return " ".join(_WORD.findall(" ".join(p or "" for p in parts).lower()))


def _index(article: KnownError) -> None:
    article.search_text = _search_text(
        article.title,
        article.symptoms,
        article.cause,
        article.workaround,
        article.fix,
        " ".join(k for t in article.themes for k in t.keywords),
    )


def _snapshot(article: KnownError) -> dict[str, Any]:
    return {name: getattr(article, name) for name in ARTICLE_FIELDS}


def _save_revision(session: Session, article: KnownError, actor: str, note: str) -> None:
    session.add(
        KnownErrorRevision(
            known_error_id=article.id,
            revision=article.revision,
            changed_by=actor,
            changed_at=utcnow(),
            note=note,
            **_snapshot(article),
        )
    )


def _changed(
    session: Session, article: KnownError, before: dict[str, Any] | None, actor: str, note: str
) -> None:
    """A new revision when the article says something new (audited field by field)."""
    after = _snapshot(article)
    if before == after:
        return
    article.revision = 1 if before is None else (article.revision or 1) + 1
    article.updated_by = actor
    article.updated_at = utcnow()
    _index(article)
    session.flush()
    if before is None:
        record(session, actor, "known_error", article.id, "create", new=after)
    else:
        for name, value in after.items():
            if before[name] != value:
                record(
                    session, actor, "known_error", article.id, "update", name, before[name], value
                )
    _save_revision(session, article, actor, note)
    session.flush()


def publish_known_error(
    session: Session, problem: Problem, actor: str = "system"
) -> KnownError | None:
    """Create or refresh the article of a problem once it has a cause, a workaround or a fix.

    The cause, workaround and fix follow the problem's; symptoms and the public flag are the
    article's own. A change makes a new revision.

    Returns:
        The article, or None while the problem has none of the three.
    """
    article = session.scalar(sa.select(KnownError).where(KnownError.problem_id == problem.id))
    if not (problem.root_cause or problem.workaround or problem.fix_description):
        return article
    before = None if article is None else _snapshot(article)
    if article is None:
        article = KnownError(problem_id=problem.id, public=True, symptoms="", revision=0)
        session.add(article)
    article.title = problem.title
    article.cause = problem.root_cause or ""
    article.workaround = problem.workaround or ""
    article.fix = problem.fix_description or ""
    article.themes = list(problem.themes)
    _index(article)
    session.flush()
    _changed(session, article, before, actor, f"from problem #{problem.id}")
    return article


def get_article(session: Session, article_id: int) -> KnownError:
    """An article by id.

    Raises:
        NotFoundError: no such article.
    """
    article = session.get(KnownError, article_id)
    if article is None:
        raise NotFoundError(f"no knowledge-base article {article_id}")
    return article


def revisions_of(session: Session, article_id: int) -> list[KnownErrorRevision]:
    """Every saved version of an article, newest first."""
    return list(
        session.scalars(
            sa.select(KnownErrorRevision)
            .where(KnownErrorRevision.known_error_id == article_id)
            .order_by(KnownErrorRevision.revision.desc())
        )
    )


def save_article(
    session: Session,
    article_id: int,
    changes: dict[str, Any],
    *,
    actor: str,
    expected_revision: int | None = None,
    note: str = "",
) -> KnownError:
    """Change an article as a person asks; a new revision when anything changed.

    Raises:
        NotFoundError: no such article.
        InputError: an unknown field, an empty title or a text too long.
        ConflictError: someone saved the article since ``expected_revision``.
    """
    article = get_article(session, article_id)
    if expected_revision is not None and expected_revision != article.revision:
        raise ConflictError(
            f"article {article_id} is at revision {article.revision}, you edited revision "
            f"{expected_revision}: someone else saved it meanwhile; reload and try again"
        )
    unknown = set(changes) - set(ARTICLE_FIELDS)
    if unknown:
        raise InputError(f"not an article field: {', '.join(sorted(unknown))}", field="changes")
    before = _snapshot(article)
    for name, value in changes.items():
        if name == "public":
            article.public = bool(value)
            continue
        text = str(value or "").strip()
        if len(text) > _LIMITS[name]:
            raise InputError(f"{name} is longer than {_LIMITS[name]} characters", field=name)
        if name == "title" and not text:
            raise InputError("an article needs a title", field="title")
        setattr(article, name, text)
    _changed(session, article, before, actor, note.strip()[:2000])
    return article


def _typical_contacts(session: Session, theme: Theme) -> list[str]:
    ids = list(theme.examples or [])[:_SYMPTOMS]
    texts: dict[int, str] = {
        int(i): str(t)
        for i, t in session.execute(
            sa.select(Interaction.id, Interaction.body_clean).where(Interaction.id.in_(ids))
        )
    }
    found = [texts[i] for i in ids if texts.get(i)]
    if len(found) < _SYMPTOMS:  # a theme without chosen examples: its first members
        found += list(
            session.scalars(
                sa.select(Interaction.body_clean)
                .join(ThemeMembership, ThemeMembership.interaction_id == Interaction.id)
                .where(ThemeMembership.theme_id == theme.id, Interaction.body_clean != "")
                .order_by(ThemeMembership.probability.desc(), Interaction.id)
                .limit(_SYMPTOMS - len(found))
            )
        )
    return [" ".join(t.split())[:300] for t in found]


def theme_problem(session: Session, theme_id: int) -> Problem:
    """The problem an article about a theme belongs to: its newest problem not closed as
    won't fix, else its newest.

    Raises:
        InputError: the theme has no problem yet.
    """
    problem = session.scalar(
        sa.select(Problem)
        .join(ProblemTheme, ProblemTheme.problem_id == Problem.id)
        .where(ProblemTheme.theme_id == theme_id)
        .order_by((Problem.state == "closed_wont_fix").asc(), Problem.id.desc())
        .limit(1)
    )
    if problem is None:
        raise InputError(
            f"theme #{theme_id} has no problem yet: promote it to a problem first",
            field="theme_id",
        )
    return problem


def themes_to_propose(session: Session) -> list[tuple[int, str]]:
    """(id, title) of active themes with a problem whose article is missing or has no
    symptoms yet: the ones an article can be proposed from."""
    rows = session.execute(
        sa.select(Theme.id, Theme.title)
        .join(ProblemTheme, ProblemTheme.theme_id == Theme.id)
        .join(Problem, Problem.id == ProblemTheme.problem_id)
        .outerjoin(KnownError, KnownError.problem_id == Problem.id)
        .where(
            Theme.status == "active",
            Problem.state != "closed_wont_fix",
            sa.or_(KnownError.id.is_(None), KnownError.symptoms == ""),
        )
        .distinct()
        .order_by(Theme.id)
    )
    return [(int(i), str(t)) for i, t in rows]


def propose_article(session: Session, theme_id: int, *, actor: str) -> KnownError:
    """Draft the article of a theme's problem: its typical contacts as the symptoms, and the
    cause, workaround and fix recorded on the problem. A new article is a draft (not public)
    until someone publishes it; an existing one gains the symptoms if it had none.

    Raises:
        NotFoundError: no such theme.
        InputError: the theme has no problem yet.
    """
    theme = session.get(Theme, theme_id)
    if theme is None:
        raise NotFoundError(f"no theme #{theme_id}")
    problem = theme_problem(session, theme_id)
    symptoms = "\n".join(f"- {t}" for t in _typical_contacts(session, theme))
    note = f"proposed from theme #{theme.id}'s typical contacts and problem #{problem.id}"
    article = session.scalar(sa.select(KnownError).where(KnownError.problem_id == problem.id))
    if article is not None:
        if not article.symptoms.strip():
            save_article(session, article.id, {"symptoms": symptoms}, actor=actor, note=note)
        return article
    article = KnownError(
        problem_id=problem.id,
        title=problem.title,
        symptoms=symptoms,
        cause=problem.root_cause or "",
        workaround=problem.workaround or "",
        fix=problem.fix_description or "",
        public=False,
        revision=0,
    )
    article.themes = list(problem.themes)
    session.add(article)
    session.flush()
    _changed(session, article, None, actor, note)
    return article


def known_errors_for_theme(
    session: Session, theme_id: int, *, public_only: bool = False
) -> list[KnownError]:
    """Articles that apply to a theme, newest first, so agents see the current workaround."""
    stmt = (
        sa.select(KnownError)
        .join(KnownErrorTheme, KnownErrorTheme.known_error_id == KnownError.id)
        .where(KnownErrorTheme.theme_id == theme_id)
    )
    if public_only:
        stmt = stmt.where(KnownError.public.is_(True))
    return list(session.scalars(stmt.order_by(KnownError.updated_at.desc(), KnownError.id.desc())))


def known_errors_for_interaction(session: Session, interaction_id: int) -> list[KnownError]:
    """Articles for the theme an interaction is in (none when it is unthemed)."""
    theme_id = session.scalar(
        sa.select(ThemeMembership.theme_id).where(ThemeMembership.interaction_id == interaction_id)
    )
    return [] if theme_id is None else known_errors_for_theme(session, theme_id)


def search_known_errors(
    session: Session, query: str, limit: int = 20, *, public_only: bool = False
) -> list[KnownError]:
    """Articles containing every word of the query (title, symptoms, cause, workaround, fix,
    theme keywords), newest first; every article for an empty query."""
    words = _WORD.findall(query.lower())
    stmt = sa.select(KnownError)
    for word in words:
        stmt = stmt.where(KnownError.search_text.contains(word, autoescape=True))
    if public_only:
        stmt = stmt.where(KnownError.public.is_(True))
    order = (KnownError.updated_at.desc(), KnownError.id.desc())
    return list(session.scalars(stmt.order_by(*order).limit(limit)))


@dataclass
class ArticleMatch:
    """An article found by meaning, with its cosine similarity to the query."""

    article: KnownError
    similarity: float


def _article_text(article: KnownError) -> str:
    return "\n".join(
        p for p in (article.title, article.symptoms, article.cause, article.workaround) if p
    )


def search_articles(
    session: Session,
    query: str,
    embedder: Embedder | None,
    *,
    public_only: bool = False,
    limit: int = 20,
) -> tuple[list[KnownError], list[ArticleMatch]]:
    """Articles by their words and, with an embedder, by meaning.

    Returns:
        (articles with every word, articles nearest in meaning with their similarity).
    """
    words = search_known_errors(session, query, limit, public_only=public_only)
    if embedder is None or not query.strip():
        return words, []
    stmt = sa.select(KnownError).order_by(KnownError.id)
    if public_only:
        stmt = stmt.where(KnownError.public.is_(True))
    articles = list(session.scalars(stmt.limit(5000)))
    if not articles:
        return words, []
    vectors, _ = embed_with_cache(session, embedder, [_article_text(a) for a in articles])
    asked = np.asarray(embedder.encode([query])[0], dtype=np.float32)
    asked /= max(float(np.linalg.norm(asked)), 1e-12)
    sims = vectors @ asked
    best = np.argsort(-sims, kind="stable")[:limit]
    meaning = [
        ArticleMatch(articles[i], round(float(sims[i]), 4))
        for i in best
        if sims[i] >= _MEANING_FLOOR
    ]
    return words, meaning
