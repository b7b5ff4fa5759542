"""The impact pages and their JSON twins: figures by dimension, the forecast band, service
quality from surveys (with the upload form), and account books, each role refused or served
as the permission table says. Numbers come from the hand-worked desk of
``tests/test_rootcause_breakdown.py``."""
# The app and client fixtures are shared with test_web_pages by importing them, which ruff
# reads as redefinitions when tests take them as arguments.
# ruff: noqa: F811

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from rootline.clustering.models import ThemeMembership
from rootline.ingest.models import CustomerEvent
from rootline.rootcause.models import SurveyResponse
from tests.factories import CustomerFactory, InteractionFactory, ThemeFactory
from tests.test_rootcause_breakdown import _desk
from tests.test_web_pages import (  # noqa: F401  (fixtures)
    anonymous,
    app,
    csrf_of,
    login,
)


def _page(client: TestClient, url: str, status: int = 200) -> BeautifulSoup:
    response = client.get(url)
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    return BeautifulSoup(response.text, "html.parser")


def _table(soup: BeautifulSoup, css: str) -> list[list[str]]:
    table = soup.select_one(css)
    assert table is not None
    return [
        [" ".join(cell.get_text(" ", strip=True).split()) for cell in row.find_all(["th", "td"])]
        for row in table.select("tbody tr")
    ]


def test_figures_by_theme_on_the_page_in_csv_and_json(
    anonymous: TestClient, session: Session
) -> None:
    x, _ = _desk(session)
    login(anonymous, session, "viewer")
    soup = _page(anonymous, "/impact?by=theme")
    rows = _table(soup, "table.impact")
    assert len(rows) == 2
    first = rows[0]
    assert first[1].endswith("6") and first[2] == "66.7%"  # contacts, share
    assert first[5:8] == ["3", "33%", "75%"]  # customers, repeat, first-contact resolution
    assert first[8] == "3.00 (+0.33)"  # CSAT against the baseline of 2.67
    assert "1 (€1,000)" in first[12] and first[13] == "33% vs 67%"
    # Each group draws its weekly line and a bar scaled to the largest group.
    assert soup.select("table.impact svg.spark polyline")
    fills = [float(r["width"]) for r in soup.select("table.impact svg.hbar rect.fill")][::2]
    assert fills == [100.0, round(100 * 2 / 6, 1)]
    assert "What each figure means" in soup.select_one("details.definitions").get_text()
    # Long lists show the largest groups and link to the rest.
    one = _page(anonymous, "/impact?by=theme&show=1")
    assert len(_table(one, "table.impact")) == 1
    assert "The 1 smaller group is in the" in one.get_text(" ", strip=True)
    csv_text = anonymous.get("/impact?by=theme&format=csv").text.splitlines()
    assert csv_text[0].startswith("key,label,contacts,share,unique_customers")
    assert csv_text[1].startswith(f"{x},")
    data = anonymous.get("/api/impact?by=region").json()
    north = next(g for g in data["groups"] if g["key"] == "north")
    assert (north["contacts"], north["unique_customers"]) == (5, 4)
    windowed = anonymous.get(
        f"/api/impact?by=theme&theme={x}&date_from=2026-03-03&date_to=2026-03-22"
    ).json()
    assert windowed["total_contacts"] == 7 and windowed["groups"][0]["contacts"] == 5


def test_bad_figures_requests_are_refused(anonymous: TestClient, session: Session) -> None:
    login(anonymous, session, "viewer")
    assert anonymous.get("/api/impact?date_from=yesterday").status_code == 400
    assert anonymous.get("/api/impact?by=a%20b").status_code == 422
    assert anonymous.get("/api/impact?theme=1,x").status_code == 400
    assert anonymous.get("/api/impact?date_from=2026-03-05&date_to=2026-03-01").status_code == 400


def _seasonal_theme(session: Session) -> int:
    for f in (InteractionFactory, ThemeFactory):
        f._meta.sqlalchemy_session = session
    theme = ThemeFactory(title="Parcel lockers")
    start = datetime(2026, 6, 1, 9, tzinfo=UTC)
    for w in range(20):
        for k in range(10 + (8 if w % 4 == 0 else 0)):
            item = InteractionFactory(created_at=start + timedelta(weeks=w, hours=3 * k))
            session.add(ThemeMembership(interaction_id=item.id, theme_id=theme.id))
    # A contact on the last Sunday: week 19 is complete.
    InteractionFactory(created_at=start + timedelta(weeks=19, days=6, hours=10))
    session.flush()
    return theme.id


def test_the_forecast_page_draws_the_band(anonymous: TestClient, session: Session) -> None:
    tid = _seasonal_theme(session)
    login(anonymous, session, "viewer")
    soup = _page(anonymous, "/forecast")
    (row,) = _table(soup, "table.forecast")
    assert row[0].startswith("Parcel lockers")
    assert [cell.split()[0] for cell in row[1:5]] == ["18", "10", "10", "10"]
    assert "4-week season" in row[5]
    assert soup.select_one("figure.forecast polygon.band")["points"]
    assert "expected" in soup.select_one("figure.forecast figcaption").get_text()
    one = anonymous.get(f"/api/themes/{tid}/forecast").json()
    assert [round(w["expected"]) for w in one["forecast"]["weeks"]] == [18, 10, 10, 10]
    assert one["forecast"]["backtest"]["origins"] == 8
    assert [t["theme_id"] for t in anonymous.get("/api/forecast").json()] == [tid]
    assert anonymous.get("/api/themes/999999/forecast").status_code == 404
    assert anonymous.get("/forecast?theme=999999").status_code == 404
    assert anonymous.get("/forecast?format=csv").text.count("\n") == 5


def test_service_quality_ranking_and_survey_upload(anonymous: TestClient, session: Session) -> None:
    _desk(session)
    login(anonymous, session, "support_lead")
    soup = _page(anonymous, "/service?by=region&min_answers=1")
    rows = _table(soup, "table.service")
    # North: contacts 1 (yes) and 7 (5 of 5): 2 of 2 top box; south: contact 3 (no): 0 of 1.
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("1", "north", "2", "100%"),
        ("2", "south", "1", "0%"),
    ]
    token = csrf_of(anonymous, "/service")
    body = "source,external_id,question,answer,scale\ntest,X999,satisfied,yes,\n"
    sent = anonymous.post(
        "/service/surveys",
        data={"csrf_token": token},
        files={"file": ("s.csv", io.BytesIO(body.encode()), "text/csv")},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    assert "1 about no known contact" in _page(anonymous, "/service").get_text()
    ext = session.scalars(sa.select(SurveyResponse.interaction_id)).first()
    assert ext is not None
    refused = anonymous.post(
        "/service/surveys",
        files={"file": ("s.csv", io.BytesIO(body.encode()), "text/csv")},
        follow_redirects=False,
    )
    assert refused.status_code == 403  # no CSRF token
    ranks = anonymous.get("/api/service?by=region&min_answers=1").json()
    assert [r["key"] for r in ranks] == ["north", "south"]


def test_viewers_may_not_upload_surveys(anonymous: TestClient, session: Session) -> None:
    login(anonymous, session, "viewer")
    soup = _page(anonymous, "/service")
    assert soup.select_one("form[action='/service/surveys']") is None
    token = csrf_of(anonymous, "/impact")
    sent = anonymous.post(
        "/service/surveys",
        data={"csrf_token": token},
        files={"file": ("s.csv", io.BytesIO(b"source\n"), "text/csv")},
        follow_redirects=False,
    )
    assert sent.status_code == 403


def _book(session: Session) -> None:
    for f in (CustomerFactory, InteractionFactory, ThemeFactory):
        f._meta.sqlalchemy_session = session
    mine = CustomerFactory(account_owner="owner@example.com", value=1000.0)
    CustomerFactory(account_owner="other@example.com", value=50.0)
    theme = ThemeFactory(title="Invoices wrong")
    at = datetime(2026, 5, 4, 9, tzinfo=UTC)
    item = InteractionFactory(customer_id=mine.id, created_at=at)
    session.add(ThemeMembership(interaction_id=item.id, theme_id=theme.id))
    session.add(
        CustomerEvent(
            source="crm",
            external_id="R1",
            customer_id=mine.id,
            kind="referral",
            occurred_at=at + timedelta(days=2),
            amount=300.0,
            content_hash="r" * 64,
        )
    )
    session.flush()


def test_an_owner_sees_their_book_and_nobody_elses(anonymous: TestClient, session: Session) -> None:
    _book(session)
    login(anonymous, session, "is_owner", email="owner@example.com")
    soup = _page(anonymous, "/accounts")
    assert [r[0] for r in _table(soup, "table.accounts")] == ["owner@example.com"]
    book = _page(anonymous, "/accounts/owner@example.com")
    figures = {
        dt.get_text(strip=True): dd.get_text(" ", strip=True)
        for dt, dd in zip(book.select("dl.figures dt"), book.select("dl.figures dd"), strict=True)
    }
    assert figures["Customers"] == "1" and figures["Referrals"].startswith("1")
    assert "€300" in figures["Referrals"]
    assert "Invoices wrong" in book.get_text()
    # Another owner's book is not found, not forbidden: nothing tells who else owns accounts.
    assert anonymous.get("/accounts/other@example.com").status_code == 404
    assert anonymous.get("/api/accounts/other@example.com").status_code == 404
    assert [o["owner"] for o in anonymous.get("/api/accounts").json()] == ["owner@example.com"]


def test_leads_see_every_book(anonymous: TestClient, session: Session) -> None:
    _book(session)
    login(anonymous, session, "support_lead")
    owners = [o["owner"] for o in anonymous.get("/api/accounts").json()]
    assert owners == ["other@example.com", "owner@example.com"]
    data = anonymous.get("/api/accounts/OWNER@example.com").json()
    assert (data["customers"], data["referrals"], data["referral_value"]) == (1, 1, 300.0)
    assert anonymous.get("/api/accounts/nobody").status_code == 404


def test_the_theme_page_shows_the_forecast_picture(anonymous: TestClient, session: Session) -> None:
    tid = _seasonal_theme(session)
    login(anonymous, session, "viewer")
    picture = anonymous.get(f"/forecast/{tid}.svg")
    assert picture.headers["content-type"].startswith("image/svg+xml")
    svg = BeautifulSoup(picture.text, "html.parser")
    assert svg.select_one("polygon")["points"] and "expected" in svg.select_one("title").get_text()
    page = _page(anonymous, f"/themes/{tid}")
    img = page.select_one("#forecast-heading ~ p img")
    assert img["src"] == f"/forecast/{tid}.svg" and img["alt"]
    assert page.select_one(f"a[href='/impact?by=channel&theme={tid}']")
    # A theme without enough history gets a picture that says so.
    empty = anonymous.get("/forecast/999999.svg")
    assert "no forecast yet" in empty.text


def test_the_problem_page_links_to_its_contacts_by_dimension(
    anonymous: TestClient, session: Session
) -> None:
    from rootline.rootcause.service import create_problem

    x, y = _desk(session)
    problem = create_problem(session, [x, y], title="Cards", actor="t")
    login(anonymous, session, "viewer")
    page = _page(anonymous, f"/problems/{problem.id}")
    links = [a["href"] for a in page.select("#problem-breakdowns a")]
    assert f"/impact?by=channel&theme={x},{y}" in links
    got = anonymous.get(f"/api/impact?by=channel&theme={x},{y}").json()
    assert sum(g["contacts"] for g in got["groups"]) == 8


def test_theme_and_problem_pages_load_every_figure_as_a_panel(
    anonymous: TestClient, session: Session
) -> None:
    from rootline.rootcause.service import create_problem

    x, y = _desk(session)
    problem = create_problem(session, [x, y], title="Cards", actor="t")
    login(anonymous, session, "viewer")
    theme_page = _page(anonymous, f"/themes/{x}")
    assert theme_page.select_one(f"div[hx-get='/impact/panel?theme={x}']")
    problem_page = _page(anonymous, f"/problems/{problem.id}")
    assert problem_page.select_one(f"div[hx-get='/impact/panel?problem={problem.id}']")

    def figures(url: str) -> dict[str, str]:
        panel = _page(anonymous, url)
        return {
            dt.get_text(strip=True): " ".join(dd.get_text(" ", strip=True).split())
            for dt, dd in zip(panel.select("dt"), panel.select("dd"), strict=True)
        }

    one = figures(f"/impact/panel?theme={x}")
    assert one["First-contact resolution"] == "75%"
    assert one["CSAT against all contacts"] == "3.00 (+0.33)"
    assert one["Churn after contact"] == "33% similar customers 67%"
    assert one["Survey top box"] == "50% 2 answers, NPS +0"
    both = figures(f"/impact/panel?problem={problem.id}")
    assert both["Share of all contacts"] == "88.9%"  # 8 of the 9 contacts
    assert both["Moved down / up"] == "1 / 1"
    assert anonymous.get("/impact/panel").status_code == 400
