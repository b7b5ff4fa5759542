"""The web app through its HTTP surface: theme pages, escaping, errors, JSON API, offline docs.

Pages are fetched with ``TestClient`` and parsed with BeautifulSoup. Requests share the test's
rolled-back ``session`` through a dependency override, so each test sees only its own rows.
The ``client`` is signed in as an admin; ``login`` signs a client in with any role.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from rootline.clustering.models import ClusteringRun, Theme, ThemeMembership
from rootline.clustering.stats import weekly_counts
from rootline.config import Settings
from rootline.ingest.models import Interaction
from rootline.rootcause.models import User
from rootline.web.accounts import ensure_user
from rootline.web.app import create_app
from rootline.web.deps import get_session

MONDAY = datetime(2026, 9, 7, 10, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
XSS = "<script>alert(1)</script>"


@dataclass
class Seeded:
    """Ids of the rows a test works with."""

    card: int
    password: int
    retired: int
    run: int


def _interaction(session: Session, n: int, body: str, **kw: Any) -> Interaction:
    row = Interaction(
        source="test",
        external_id=f"W{n}",
        channel=kw.pop("channel", "email"),
        body_raw=kw.pop("body_raw", body),
        body_clean=body,
        content_hash=f"{n:064d}",
        created_at=kw.pop("created_at", MONDAY + timedelta(days=n % 70)),
        **kw,
    )
    session.add(row)
    return row


def _theme(
    session: Session,
    title: str,
    keywords: list[str],
    members: list[Interaction],
    status: str = "active",
    examples: list[Interaction] | None = None,
) -> Theme:
    session.flush()
    theme = Theme(
        title=title,
        keywords=keywords,
        size=len(members),
        status=status,
        examples=[i.id for i in (examples or members[:3])],
    )
    session.add(theme)
    session.flush()
    session.add_all(ThemeMembership(interaction_id=i.id, theme_id=theme.id) for i in members)
    session.flush()
    return theme


def seed(session: Session) -> Seeded:
    """Three themes (one retired), one unthemed contact and a succeeded run."""
    run = ClusteringRun(
        kind="full",
        model_slug="hashing:256",
        params={},
        status="succeeded",
        n_interactions=68,
        metrics={"themes": 2},
        finished_at=datetime(2026, 11, 20, tzinfo=UTC),
    )
    session.add(run)
    # 60 card contacts, one a day from MONDAY; every 10th mentions a refund for the search test.
    card_rows = [
        _interaction(
            session,
            i,
            f"card declined at checkout {'refund ' if i % 10 == 0 else ''}#{i}",
            channel="chat" if i % 2 else "email",
            csat=float(1 + i % 5),
        )
        for i in range(60)
    ]
    hostile = _interaction(
        session, 60, f"reset link broken {XSS}", subject='<img src=x onerror="alert(2)">', csat=2.0
    )
    password_rows = [hostile] + [
        _interaction(session, 61 + i, f"password reset email never arrives {i}") for i in range(4)
    ]
    retired_rows = [_interaction(session, 65 + i, f"old promo code {i}") for i in range(2)]
    _interaction(session, 67, "something nobody else asked about")
    card = _theme(session, "Card declined at checkout", ["card", "declined", "checkout"], card_rows)
    password = _theme(
        session,
        "Password reset link",
        ["password", "reset", "link"],
        password_rows,
        examples=[hostile, *password_rows[1:3]],
    )
    retired = _theme(session, "Old promo codes", ["promo"], retired_rows, status="retired")
    return Seeded(card=card.id, password=password.id, retired=retired.id, run=run.id)


@pytest.fixture
def app(settings: Settings, engine: Engine, session: Session) -> FastAPI:
    """The app on the shared engine, with requests using the test's rolled-back session."""
    web = create_app(settings, engine)

    def _test_session() -> Iterator[Session]:
        yield session
        session.flush()

    web.dependency_overrides[get_session] = _test_session
    return web


def csrf_of(client: TestClient, url: str = "/login") -> str:
    """The CSRF token a page's forms carry."""
    soup = BeautifulSoup(client.get(url).text, "html.parser")
    field = soup.find("input", attrs={"name": "csrf_token"})
    assert field is not None, f"no CSRF field on {url}"
    return str(field["value"])


def login(
    client: TestClient, session: Session, role: str = "admin", email: str | None = None
) -> User:
    """Create (or refresh) a user with ``role`` and sign ``client`` in as them."""
    user = ensure_user(session, email or f"{role}@example.com", role, PASSWORD)
    session.flush()
    response = client.post(
        "/login",
        data={
            "email": user.email,
            "password": PASSWORD,
            "csrf_token": csrf_of(client),
            "next": "/",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:300]
    return user


@pytest.fixture
def anonymous(app: FastAPI) -> Iterator[TestClient]:
    """A client nobody has signed in with."""
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def client(anonymous: TestClient, session: Session) -> TestClient:
    """A client signed in as an admin."""
    login(anonymous, session, "admin")
    return anonymous


@pytest.fixture
def data(session: Session) -> Seeded:
    return seed(session)


def _soup(client: TestClient, url: str, status: int = 200) -> BeautifulSoup:
    response = client.get(url)
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    return BeautifulSoup(response.text, "html.parser")


def _rows(soup: BeautifulSoup) -> list[list[str]]:
    return [
        # The selection checkbox (for moving contacts) is not a column of data.
        [
            td.get_text(" ", strip=True)
            for td in tr.find_all("td")
            if "pick" not in td.get("class", [])
        ]
        for tr in soup.select("table.contacts tbody tr")
    ]


def test_root_redirects_to_themes(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code in {302, 303, 307}
    assert response.headers["location"] == "/themes"


def test_themes_page_ranks_themes_by_impact_with_keywords_totals_and_run(
    client: TestClient, data: Seeded
) -> None:
    soup = _soup(client, "/themes")
    cards = soup.select("li.theme-card")
    titles = [c.h3.get_text(strip=True) for c in cards]
    # Retired themes are left out; the rest are ranked by impact score, highest first.
    assert sorted(titles) == ["Card declined at checkout", "Password reset link"]
    scores = [float(c.select_one(".score strong").get_text()) for c in cards]
    assert scores == sorted(scores, reverse=True)
    cards = sorted(cards, key=lambda c: c.h3.get_text(strip=True))
    assert cards[0].h3.a["href"] == f"/themes/{data.card}"
    assert cards[0].select_one("svg.spark polyline") is not None
    assert [li.get_text() for li in cards[0].select("ul.keywords li")] == [
        "card",
        "declined",
        "checkout",
    ]
    assert "60" in cards[0].select_one(".size").get_text()
    assert 2 <= len(cards[0].select("ul.examples li")) <= 3
    figures = {
        div.dt.get_text(strip=True): div.dd.get_text(" ", strip=True)
        for div in soup.select("dl.figures > div")
    }
    assert figures["Contacts"] == "68"
    assert figures["Themes"] == "2"
    assert figures["Unthemed"].startswith("4.4%")  # 2 retired + 1 never themed, of 68
    run_text = soup.select_one("p.run").get_text(" ", strip=True)
    assert "hashing:256" in run_text and "2 themes" in run_text and "2026-11-20" in run_text
    assert soup.find("main") and soup.find("header") and soup.find("nav")


def test_themes_page_without_data_explains_what_to_do(client: TestClient) -> None:
    soup = _soup(client, "/themes")
    assert not soup.select("li.theme-card")
    assert "rootline cluster" in soup.select_one("p.run").get_text()


def test_themes_page_query_count_does_not_grow_with_themes(
    client: TestClient, data: Seeded, session: Session, engine: Engine
) -> None:
    statements: list[str] = []

    def _count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", _count)
    try:
        client.get("/themes")
        few = len(statements)
        for k in range(5):
            rows = [
                _interaction(session, 100 + 3 * k + j, f"extra theme {k} text {j}")
                for j in range(3)
            ]
            _theme(session, f"Extra theme {k}", ["extra"], rows)
        statements.clear()
        soup = _soup(client, "/themes")
    finally:
        sa.event.remove(engine, "before_cursor_execute", _count)
    assert len(soup.select("li.theme-card")) == 7
    assert len(statements) <= few


def test_theme_page_shows_examples_chart_and_first_page(client: TestClient, data: Seeded) -> None:
    soup = _soup(client, f"/themes/{data.card}")
    assert soup.h1.get_text(strip=True) == "Card declined at checkout"
    assert [li.get_text() for li in soup.select("ul.keywords li")] == [
        "card",
        "declined",
        "checkout",
    ]
    examples = soup.select("ul.examples blockquote")
    assert len(examples) == 3 and examples[0].get_text().startswith("card declined")
    svg = soup.select_one("figure.chart svg")
    assert svg is not None and svg.get("role") == "img"
    bars = svg.find_all("rect")
    assert len(bars) == 12
    assert sum(int(td.get_text()) for td in soup.select("table.weekly td.num")) == 60
    rows = _rows(soup)
    assert len(rows) == 50
    # Newest first: day 59 is 2026-11-05, a chat contact (odd day) with CSAT 1 + 59 % 5 = 5.
    assert rows[0][0] == "2026-11-05" and rows[0][1] == "chat" and rows[0][2] == "5"
    assert "Showing 1–50 of 60" in soup.select_one("#contacts-count").get_text(" ", strip=True)
    assert soup.find("label", attrs={"for": "q"}) is not None
    next_link = soup.select_one("nav.pager a[rel=next]")
    assert next_link["href"] == f"/themes/{data.card}?page=2"


def test_theme_page_paginates(client: TestClient, data: Seeded) -> None:
    first = {r[3] for r in _rows(_soup(client, f"/themes/{data.card}"))}
    soup = _soup(client, f"/themes/{data.card}?page=2")
    second = {r[3] for r in _rows(soup)}
    assert len(second) == 10 and not first & second
    assert soup.select_one("nav.pager a[rel=prev]")["href"] == f"/themes/{data.card}"
    assert soup.select_one("nav.pager a[rel=next]") is None
    beyond = _soup(client, f"/themes/{data.card}?page=9")
    assert _rows(beyond) == []
    assert _soup(client, f"/themes/{data.card}?page=0", status=400).h1 is not None


def test_theme_page_searches_and_keeps_the_query_in_links(
    client: TestClient, data: Seeded, session: Session
) -> None:
    soup = _soup(client, f"/themes/{data.card}?q=REFUND")
    rows = _rows(soup)
    assert len(rows) == 6 and all("refund" in r[3] for r in rows)
    assert soup.select_one("input#q")["value"] == "REFUND"
    assert "of 6" in soup.select_one("#contacts-count").get_text()
    for i in range(120, 170):  # enough refund contacts for a second page of results
        row = _interaction(session, i, f"card refund pending {i}")
        session.flush()
        session.add(ThemeMembership(interaction_id=row.id, theme_id=data.card))
    session.flush()
    paged = _soup(client, f"/themes/{data.card}?q=refund")
    assert paged.select_one("nav.pager a[rel=next]")["href"] == (
        f"/themes/{data.card}?q=refund&page=2"
    )
    none = _soup(client, f"/themes/{data.card}?q=nothing+like+this")
    assert _rows(none) == [] and "No contacts match" in none.get_text()


def test_user_text_is_escaped_everywhere(client: TestClient, data: Seeded) -> None:
    for url in ("/themes", f"/themes/{data.password}", f"/themes/{data.password}?q=script"):
        response = client.get(url)
        soup = BeautifulSoup(response.text, "html.parser")
        # The only scripts are our own vendored files; user text never becomes markup.
        assert all(s.get("src", "").startswith("/static/") for s in soup.find_all("script"))
        # Images are our own pictures (the forecast), never one a user's text brought in.
        for img in soup.find_all("img"):
            assert img.get("src", "").startswith("/forecast/"), img
            assert not [a for a in img.attrs if a.startswith("on")], img
        assert "alert(1)" not in "".join(s.get_text() for s in soup.find_all("script"))
        assert XSS in soup.get_text()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


def test_unknown_theme_is_a_404_page(client: TestClient, data: Seeded) -> None:
    for url in ("/themes/999999", "/themes/not-a-number", "/no/such/page"):
        soup = _soup(client, url, status=404)
        assert soup.h1.get_text(strip=True) == "Not found"
        assert soup.find("a", href="/themes") is not None
    response = client.get("/api/themes/999999")
    assert response.status_code == 404
    assert response.json() == {"detail": "no theme with id 999999"}


def test_api_themes_lists_active_themes_with_the_cli_shape(
    client: TestClient, data: Seeded
) -> None:
    body = client.get("/api/themes").json()
    assert [t["id"] for t in body] == [data.card, data.password]
    for item in body:
        assert {"id", "title", "keywords", "size", "status"} <= set(item)
        assert isinstance(item["keywords"], list) and item["status"] == "active"
    assert body[0]["size"] == 60 and body[0]["title"] == "Card declined at checkout"
    everything = client.get("/api/themes", params={"include_inactive": "true"}).json()
    assert data.retired in {t["id"] for t in everything}


def test_api_theme_has_examples(client: TestClient, data: Seeded) -> None:
    body = client.get(f"/api/themes/{data.password}").json()
    assert body["id"] == data.password and body["size"] == 5
    assert [e["external_id"] for e in body["examples"]] == ["W60", "W61", "W62"]
    assert body["examples"][0]["text"] == f"reset link broken {XSS}"  # JSON carries it as data


def test_api_runs_lists_latest_runs(client: TestClient, data: Seeded) -> None:
    body = client.get("/api/runs").json()
    assert body[0]["id"] == data.run
    assert body[0]["model_slug"] == "hashing:256" and body[0]["metrics"] == {"themes": 2}
    assert client.get("/api/runs", params={"limit": 0}).status_code == 422


def test_docs_work_offline(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert "http://" not in response.text and "https://" not in response.text
    soup = BeautifulSoup(response.text, "html.parser")
    urls = [t.get("src") or t.get("href") for t in soup.find_all(["script", "link"])]
    urls = [u for u in urls if u]
    assert len(urls) >= 3 and all(u.startswith("/static/") for u in urls)
    for url in urls:
        assert client.get(url).status_code == 200, url
    spec = client.get("/openapi.json").json()
    assert "/api/themes" in spec["paths"] and "/themes" not in spec["paths"]
    assert client.get("/redoc").status_code == 404


def test_base_page_loads_only_local_assets(client: TestClient) -> None:
    soup = _soup(client, "/themes")
    for tag in soup.find_all(["script", "link"]):
        url = tag.get("src") or tag.get("href")
        assert url.startswith("/static/"), url
        assert client.get(url).status_code == 200
    assert soup.find("script", src="/static/vendor/htmx/htmx.min.js") is not None


def test_real_sessions_serve_health_and_ask_to_sign_in(settings: Settings, engine: Engine) -> None:
    with TestClient(create_app(settings, engine)) as client:
        assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}
        response = client.get("/themes", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/login?next=/themes"
        assert client.get("/login").status_code == 200
        assert client.get("/api/themes").status_code == 401


class _FakeSession:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def commit(self) -> None:
        self.calls.append("commit")

    def rollback(self) -> None:
        self.calls.append("rollback")

    def close(self) -> None:
        self.calls.append("close")


def test_request_session_commits_on_success_and_rolls_back_on_error() -> None:
    fake = _FakeSession()
    request = SimpleNamespace(
        method="GET", app=SimpleNamespace(state=SimpleNamespace(sessions=lambda: fake))
    )
    dep = get_session(request)  # type: ignore[arg-type]
    assert next(dep) is fake
    with pytest.raises(StopIteration):
        next(dep)
    assert fake.calls == ["commit", "close"]

    fake.calls.clear()
    dep = get_session(request)  # type: ignore[arg-type]
    next(dep)
    with pytest.raises(ValueError, match="boom"):
        dep.throw(ValueError("boom"))
    assert fake.calls == ["rollback", "close"]


def test_weekly_counts_fill_empty_weeks_and_start_on_monday(session: Session, data: Seeded) -> None:
    weeks = weekly_counts(session, data.card, weeks=12)
    assert len(weeks) == 12
    assert all(w.week_start.weekday() == 0 for w in weeks)
    # Newest contact overall is day 67 (2026-11-13, a Friday): its week starts 2026-11-09.
    assert weeks[-1].week_start == date(2026, 11, 9)
    counts = {w.week_start: w.count for w in weeks}
    assert counts[date(2026, 9, 7)] == 7 and counts[date(2026, 11, 2)] == 4
    assert counts[date(2026, 11, 9)] == 0 and sum(counts.values()) == 60
    assert weekly_counts(session, data.card, weeks=3)[0].week_start == date(2026, 10, 26)
