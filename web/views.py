"""Loaders shared by a page and its JSON twin: each route module renders or serialises them.

The dashboard's filters and ranked themes, everything a problem's page shows, and contact
search: the HTML route and the API route call the same function, so both answer alike.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Query, Request

from rootline.clustering.alerts import theme_alerts
from rootline.clustering.vector_index import index_folder
from rootline.errors import InputError, StateError
from rootline.rootcause.audit import history, in_words
from rootline.rootcause.figures import theme_figures
from rootline.rootcause.models import Problem, Team
from rootline.rootcause.sla import clocks as sla_clocks
from rootline.rootcause.sla import policies
from rootline.rootcause.states import STATES, TRANSITIONS
from rootline.rootcause.verification import verify_problem
from rootline.web import queries
from rootline.web import search as contact_search
from rootline.web.cache import FigureCache, data_fingerprint, vectors_fingerprint
from rootline.web.deps import SessionDep, get_embedder

__all__ = [
    "SEARCH_LIMIT",
    "dashboard_filters",
    "problem_context",
    "ranked_themes",
    "search_contacts",
]

SEARCH_LIMIT = 50


def _date(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{value!r} is not a date (YYYY-MM-DD)", field=name) from None


def dashboard_filters(
    date_from: Annotated[str, Query(max_length=10)] = "",
    date_to: Annotated[str, Query(max_length=10)] = "",
    channel: Annotated[str, Query(max_length=32)] = "",
    source: Annotated[str, Query(max_length=64)] = "",
    segment: Annotated[str, Query(max_length=64)] = "",
    status: Annotated[str, Query(pattern="^(|active|proposed|noise)$")] = "",
) -> queries.Filters:
    """The dashboard filters from the query string (shared by the page and the API)."""
    return queries.Filters(
        _date(date_from, "date_from"),
        _date(date_to, "date_to"),
        channel,
        source,
        segment,
        status or "active",
    )


def ranked_themes(
    session: SessionDep, figures: FigureCache, filters: queries.Filters
) -> tuple[queries.Dashboard, dict[int, object]]:
    """The dashboard figures and the alerts by theme, from the cache when the data is unchanged."""
    fp = data_fingerprint(session)
    board = figures.get(("dashboard", fp, filters), lambda: queries.dashboard(session, filters))
    alerts = figures.get(("alerts", fp), lambda: {a.theme_id: a for a in theme_alerts(session)})
    return board, alerts


def problem_context(session: SessionDep, problem: Problem) -> dict[str, object]:
    """Everything the problem page shows, from the services."""
    verification = None
    if problem.fixed_at is not None:
        try:
            verification = verify_problem(session, problem.id)
        except StateError:
            verification = None
    clocks = sla_clocks(problem, policies(session)[problem.priority])
    team_names = {int(i): str(n) for i, n in session.execute(sa.select(Team.id, Team.name))}
    return {
        "problem": problem,
        "themes": problem.themes,
        "tasks": problem.tasks,
        "comments": problem.comments,
        "audit": (audit := history(session, "problem", problem.id)),
        "audit_words": [in_words(e, team_names) for e in audit],
        "figures": next(
            iter(theme_figures(session, problem.theme_ids, together=True).values()), None
        ),
        "clocks": clocks,
        "verification": verification,
        "next_states": sorted(TRANSITIONS[problem.state], key=STATES.index),
    }


def search_contacts(request: Request, session: SessionDep, q: str, mode: str) -> dict[str, Any]:
    """Keyword and semantic matches for ``q`` (shared by the page and the API)."""
    # A NUL is never part of a search and no database takes it in a string parameter.
    q = q.replace("\x00", "")
    keyword = (
        contact_search.keyword_ids(session, q, SEARCH_LIMIT) if mode in ("both", "keyword") else []
    )
    hits: list[tuple[int, float]] = []
    if mode in ("both", "semantic"):
        embedder = get_embedder(request)
        key = ("semantic", vectors_fingerprint(session), embedder.slug)
        folder = index_folder(request.app.state.settings.data_dir)
        index = request.app.state.search_index.get(
            key, lambda: contact_search.semantic_index(session, embedder.slug, folder)
        )
        hits = index.nearest(embedder.encode([q])[0], SEARCH_LIMIT)
    # Both lists' contacts in one read.
    rows = {
        r[0].id: r
        for r in contact_search.interactions_by_id(session, keyword + [h[0] for h in hits])
    }
    return {
        "keyword": [rows[i] for i in keyword if i in rows],
        "semantic": [(*rows[i], score) for i, score in hits if i in rows],
    }
