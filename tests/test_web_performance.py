"""What keeps the pages fast, checked for meaning: the cheaper reads give the same rows and
figures as the services, the search indexes give the same matches as a scan, and the theme page
and search run a fixed number of statements however much data there is."""
# The app, client and data fixtures are shared with test_web_pages by importing them, which
# ruff reads as redefinitions when tests take them as arguments.
# ruff: noqa: F811

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from rootline.clustering import service, stats
from rootline.clustering.embedding import HashingEmbedder, embed_with_cache
from rootline.clustering.models import ThemeMembership
from rootline.ingest.models import Interaction
from rootline.rootcause.impact import theme_impact
from rootline.rootcause.service import create_problem
from rootline.rootcause.teams import create_team
from rootline.web import queries, search
from tests.test_web_pages import (  # noqa: F401  (fixtures)
    MONDAY,
    Seeded,
    _interaction,
    _theme,
    anonymous,
    app,
    client,
    data,
)


class _Statements:
    """Counts the statements run on an engine inside a ``with`` block."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seen: list[str] = []

    def _count(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.seen.append(statement)

    def __enter__(self) -> _Statements:
        sa.event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc: object) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._count)


def _count(client: TestClient, engine: Engine, url: str) -> int:
    """Statements a page runs, leaving out reading the signed-in user: the test session holds
    it weakly, so whether it is read again depends on the garbage collector, not the page."""
    with _Statements(engine) as statements:
        assert client.get(url).status_code == 200
    return sum(
        1 for s in statements.seen if "FROM app_user" not in s and "FROM team_member" not in s
    )


def test_theme_page_query_count_does_not_grow(
    client: TestClient, data: Seeded, session: Session, engine: Engine
) -> None:
    few = _count(client, engine, f"/themes/{data.card}")
    more = [_interaction(session, 200 + i, f"card declined again {i}") for i in range(80)]
    for k in range(6):
        _theme(
            session,
            f"Other theme {k}",
            ["other"],
            [_interaction(session, 300 + 2 * k + j, f"other {k} {j}") for j in range(2)],
        )
    session.flush()
    session.add_all(queries.ThemeMembership(interaction_id=i.id, theme_id=data.card) for i in more)
    session.flush()
    assert _count(client, engine, f"/themes/{data.card}") <= few
    assert _count(client, engine, f"/themes/{data.card}?page=2&q=again") <= few + 1


def test_search_query_count_does_not_grow(
    app: FastAPI, client: TestClient, session: Session, engine: Engine, data: Seeded
) -> None:
    app.state.embedder = HashingEmbedder()
    embed_with_cache(
        session, app.state.embedder, list(session.scalars(sa.select(Interaction.body_clean)))
    )
    session.flush()
    client.get("/search?q=card")  # builds the semantic index once
    few = _count(client, engine, "/search?q=card")
    for i in range(40):
        _interaction(session, 400 + i, f"card declined at the till {i}")
    session.flush()
    # The semantic index is rebuilt once (two reads), then the count is back where it was.
    assert _count(client, engine, "/search?q=card") <= few + 2
    assert _count(client, engine, "/search?q=card") <= few


def test_theme_figures_match_the_services_and_contacts_a_plain_read(
    session: Session, data: Seeded
) -> None:
    _interaction(session, 90, "undated card declined", created_at=None)
    for theme_id in (data.card, data.password, data.retired):
        figures = queries.theme_figures(session, theme_id, 12)
        assert figures.impact == theme_impact(session, theme_id)
        end = queries.data_horizon(session)
        at_end = queries.theme_figures(session, theme_id, 12, as_of=end)
        assert at_end.impact == theme_impact(session, theme_id, end)
        assert figures.weeks == stats.weekly_counts(session, theme_id, 12)
        members = [
            i
            for i in session.scalars(
                sa.select(Interaction)
                .join(ThemeMembership, ThemeMembership.interaction_id == Interaction.id)
                .where(ThemeMembership.theme_id == theme_id)
            )
        ]
        newest = sorted(
            members, key=lambda i: (i.created_at is not None, i.created_at or 0, i.id), reverse=True
        )
        for offset, query in ((0, None), (50, None), (0, "REFUND"), (5, "reset"), (0, "none")):
            want = [i for i in newest if query is None or query.lower() in i.body_clean.lower()]
            total, rows = service.theme_interactions(
                session, theme_id, offset=offset, limit=10, query=query
            )
            assert (total, [i.id for i in rows]) == (
                len(want),
                [i.id for i in want[offset : offset + 10]],
            ), (theme_id, offset, query)


def test_board_cards_match_board_problems(session: Session, data: Seeded) -> None:
    team = create_team(session, "Cards IS", "is")
    first = create_problem(session, [data.card], title="Cards", actor="t")
    create_problem(session, [data.password], title="Passwords", actor="t")
    first.is_team = team
    session.flush()
    for kwargs in ({}, {"team_id": team.id}, {"priority": first.priority}, {"priority": "P1"}):
        cards = queries.board_cards(session, **kwargs)
        problems = queries.board_problems(session, **kwargs)
        assert [
            (c.id, c.title, c.state, c.priority, c.impact_score, c.business_team, c.is_team)
            for c in cards
        ] == [
            (
                p.id,
                p.title,
                p.state,
                p.priority,
                p.impact_score,
                p.business_team.name if p.business_team else None,
                p.is_team.name if p.is_team else None,
            )
            for p in problems
        ]


def _scan_ids(session: Session, query: str, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The search without its index: no FTS table on SQLite, no index scans on PostgreSQL."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SET LOCAL enable_bitmapscan = off"))
        try:
            return search.keyword_ids(session, query)
        finally:
            session.execute(sa.text("SET LOCAL enable_bitmapscan = on"))
    with monkeypatch.context() as patch:
        patch.setattr(search, "_has_fts", lambda _session: False)
        return search.keyword_ids(session, query)


def test_keyword_index_finds_what_a_scan_finds(
    session: Session, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [
        "Card DECLINED at checkout",
        "card declined twice",
        "refund 50% please",
        "refund_code missing",
        "my app crashed",
        "Émile's card",
        "no match here",
        "declined",
    ]
    rows = [
        _interaction(session, 500 + i, t, created_at=MONDAY + timedelta(hours=i))
        for i, t in enumerate(texts)
    ]
    session.flush()
    # The index follows edits and deletions (triggers on SQLite, the GIN index on PostgreSQL).
    rows[-1].body_clean = "now about a parcel"
    session.delete(rows[1])
    session.flush()
    queries_to_try = [
        "card declined",
        "DECLINED",
        "50%",
        "refund_",
        "_code",
        "my",
        "ap",
        "parcel",
        "declined twice",
        "émile",
        "card checkout at",
        "zzz",
    ]
    for query in queries_to_try:
        assert search.keyword_ids(session, query) == _scan_ids(session, query, monkeypatch), query
    assert search.keyword_ids(session, "parcel") == [rows[-1].id]
    assert search.keyword_ids(session, "card declined") == [rows[0].id]
    tables = set(sa.inspect(engine).get_table_names())
    indexes = {ix["name"] for ix in sa.inspect(engine).get_indexes("interaction")}
    if engine.dialect.name == "sqlite":
        assert "interaction_fts" in tables
    else:
        assert "ix_interaction_body_clean_trgm" in indexes
    assert "ix_interaction_figures" in indexes
