"""The theme dashboard as a list: cards or a sortable table, a name filter, value at risk in
its currency, the impact score's breakdown (on the dashboard and the theme page) and empty
states that say what is empty. Pages are parsed from ``TestClient`` responses."""
# The app, client and data fixtures are shared with test_web_pages by importing them, which
# ruff reads as redefinitions when tests take them as arguments.
# ruff: noqa: F811

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup, Tag
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from rootline.config import Settings
from rootline.ingest.models import Customer
from rootline.web.app import create_app
from rootline.web.deps import get_session
from tests.test_web_pages import (  # noqa: F401  (fixtures)
    MONDAY,
    _interaction,
    _soup,
    _theme,
    anonymous,
    app,
    client,
    login,
    seed,
)

#: A title with LIKE's wildcards in it, which a name filter must match literally.
WILD = "Wrong size 100% cotton_shirt"


@dataclass
class Board:
    refund: int
    crash: int
    wild: int


def _board(session: Session) -> Board:
    """Three active themes whose figures differ column by column, and one retired."""
    rich = [Customer(name=f"Rich {i}", value=100.0) for i in range(3)]
    whale = Customer(name="Whale", value=5000.0)
    session.add_all([*rich, whale])
    session.flush()
    refund = [
        _interaction(
            session,
            1000 + i,
            f"refund delayed {i}",
            csat=4.0,
            customer_id=rich[i % 3].id,
            created_at=MONDAY + timedelta(days=i),
        )
        for i in range(30)
    ]
    crash = [
        _interaction(
            session,
            1100 + i,
            f"app crashes on start {i}",
            csat=1.0,
            customer_id=whale.id,
            created_at=MONDAY + timedelta(days=60 + i),
        )
        for i in range(10)
    ]
    wild = [
        _interaction(session, 1200 + i, f"shirt too small {i}", created_at=MONDAY + timedelta(i))
        for i in range(5)
    ]
    old = [_interaction(session, 1300 + i, f"old promo {i}") for i in range(2)]
    _theme(session, "Old promo codes", ["promo"], old, status="retired")
    return Board(
        refund=_theme(session, "Refund delayed", ["refund"], refund).id,
        crash=_theme(session, "App crashes", ["app", "crash"], crash).id,
        wild=_theme(session, WILD, ["size"], wild).id,
    )


@pytest.fixture
def board(session: Session) -> Board:
    return _board(session)


def _table(soup: BeautifulSoup) -> list[Tag]:
    return soup.select("table.theme-table tbody tr")


def _titles(soup: BeautifulSoup) -> list[str]:
    rows = _table(soup) or soup.select("li.theme-card")
    return [r.select_one("a[href^='/themes/']").get_text(strip=True) for r in rows]


def _whole(sentence: str) -> tuple[list[int], int]:
    """The parts and the total of "contacts 31 + customers 22 = 53"."""
    terms, total = sentence.rsplit("=", 1)
    parts = [int(m) for m in re.findall(r"(\d+)\s*(?:\+|$)", terms.strip())]
    return parts, int(total)


def _cell(row: Tag, name: str) -> float | str | None:
    text = row.select_one(f"td.{name}").get_text(" ", strip=True)
    if name == "impact":
        return float(row.select_one(".score strong").get_text())
    if name == "trend":
        ratio = row.select_one(".ratio").get_text(strip=True)
        return {"new": math.inf, "—": None}.get(ratio) or float(ratio.rstrip("×"))
    if name == "newest":
        return text
    if text == "—":
        return None
    return float(re.sub(r"[^\d.]", "", text))


# -- the score's breakdown ------------------------------------------------------------------


def test_card_bars_add_up_to_the_score_shown(client: TestClient, board: Board) -> None:
    soup = _soup(client, "/themes")
    cards = soup.select("li.theme-card")
    assert len(cards) == 3
    for card in cards:
        score = int(card.select_one(".score strong").get_text())
        parts, total = _whole(card.select_one(".score-sum").get_text(" ", strip=True))
        assert sum(parts) == total == score
        svg = card.select_one(".score-bar svg")
        assert svg["aria-label"].startswith(f"Impact {score} of 100: ")
        widths = sum(float(r["width"]) for r in svg.select("rect.seg"))
        assert widths == pytest.approx(score, abs=0.55)
        # The explanation is on the page, not in a hover tooltip.
        assert not card.select_one(".score[title]")


def test_api_breakdown_is_the_score_as_its_components_add_it(
    client: TestClient, board: Board
) -> None:
    themes = client.get("/api/dashboard").json()["themes"]
    for theme in themes:
        impact, breakdown = theme["impact"], theme["impact_breakdown"]
        assert breakdown["score"] == impact["score"]
        for part in breakdown["parts"]:
            component = impact["components"][part["name"]]
            assert part["points"] == component["points"]
            assert part["points"] == pytest.approx(
                100 * component["weight"] * component["value"], abs=0.01
            )
        assert sum(p["points"] for p in breakdown["parts"]) == pytest.approx(
            impact["score"], abs=0.05
        )
        assert sum(p["whole"] for p in breakdown["parts"]) == breakdown["total"]
        assert breakdown["total"] == round(impact["score"])


def test_theme_page_breaks_the_score_down_to_what_it_shows(
    client: TestClient, board: Board
) -> None:
    soup = _soup(client, f"/themes/{board.crash}")
    figures = {
        div.dt.get_text(strip=True): div.dd.get_text(" ", strip=True)
        for div in soup.select("#impact > div")
    }
    score = int(figures["Impact score"])
    section = soup.select_one("#score-breakdown")
    assert section.h3.get_text(strip=True) == f"Why the impact score is {score}"
    parts, total = _whole(section.select_one(".score-sum").get_text(" ", strip=True))
    assert sum(parts) == total == score
    rows = section.select("table.breakdown-table tbody tr")
    assert len(rows) == 6  # every component, the ones that add nothing too
    whole = [int(r.select("td")[-1].get_text()) for r in rows]
    assert sum(whole) == score
    assert section.select_one("tfoot strong").get_text() == str(score)
    # Each row's points are weight x scaled value.
    for row in rows:
        cells = [td.get_text(strip=True) for td in row.select("td")]
        value, weight, points = float(cells[2]), float(cells[3].rstrip("%")), float(cells[4])
        assert points == pytest.approx(weight * value, abs=0.01 + weight * 0.005)
    assert "1 customer" in section.get_text(" ")


def test_theme_figures_api_has_the_breakdown_and_the_currency(
    client: TestClient, board: Board
) -> None:
    body = client.get(f"/api/themes/{board.refund}/figures").json()
    breakdown = body["impact_breakdown"]
    assert breakdown["score"] == body["impact_score"]
    assert sum(p["whole"] for p in breakdown["parts"]) == breakdown["total"]
    assert breakdown["total"] == round(body["impact_score"])
    assert breakdown["sentence"].endswith(f"= {breakdown['total']}")
    assert body["currency"] == "EUR" and body["value_at_risk"] == 300.0


# -- the table view and sorting --------------------------------------------------------------


def test_table_view_lists_every_column_and_keeps_the_view_in_links(
    client: TestClient, board: Board
) -> None:
    soup = _soup(client, "/themes?view=table")
    assert not soup.select("li.theme-card")
    rows = _table(soup)
    assert _titles(soup) == ["App crashes", "Refund delayed", WILD]  # by impact
    headings = [th.get_text(" ", strip=True) for th in soup.select("table.theme-table thead th")]
    assert headings[:2] == ["Rank", "Theme"]
    assert {"Impact ▼", "Contacts", "Trend", "CSAT", "Value at risk", "Newest"} <= set(headings)
    for link in soup.select("table.theme-table thead th a"):
        assert "view=table" in link["href"]
    crash = rows[0]
    assert _cell(crash, "size") == 10 and _cell(crash, "csat") == 1.0
    assert crash.select_one("td.value").get_text(strip=True) == "€5,000"
    assert crash.select_one("td.newest").get_text(strip=True) == "2026-11-15"
    assert crash.select_one("td.impact .score-bar svg rect.seg") is not None
    assert _cell(rows[2], "csat") is None
    # The toggle says where you are; the filter form carries the view along.
    toggle = soup.select_one("nav.view-toggle a[aria-current='page']")
    assert toggle.get_text(strip=True) == "Table"
    form = soup.select_one("form.filters")
    assert form.select_one("input[name='view']")["value"] == "table"
    assert soup.select_one("nav.view-toggle a:not([aria-current])")["href"] == "/themes"


@pytest.mark.parametrize("column", ["impact", "size", "customers", "trend", "csat", "value"])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sorting_by_each_column_orders_the_rows(
    client: TestClient, board: Board, column: str, order: str
) -> None:
    soup = _soup(client, f"/themes?view=table&sort={column}&order={order}")
    values = [_cell(r, column) for r in _table(soup)]
    assert len(values) == 3
    known = [v for v in values if v is not None]
    # Themes without the figure come last, whichever way the rest are sorted.
    assert values == known + [None] * (len(values) - len(known))
    assert known == sorted(known, reverse=order == "desc")  # type: ignore[type-var]
    heading = soup.select_one("th[aria-sort]:not([aria-sort='none'])")
    assert heading["aria-sort"] == ("ascending" if order == "asc" else "descending")
    # Following the heading again turns the order round.
    again = heading.a["href"]
    assert f"order={'desc' if order == 'asc' else 'asc'}" in again or "order" not in again


def test_sorting_by_newest_contact_and_in_the_cards(client: TestClient, board: Board) -> None:
    newest = _titles(_soup(client, "/themes?view=table&sort=newest"))
    assert newest == ["App crashes", "Refund delayed", WILD]
    oldest = _titles(_soup(client, "/themes?view=table&sort=newest&order=asc"))
    assert oldest == [WILD, "Refund delayed", "App crashes"]
    # The cards follow the same order, and say where each stands by impact.
    soup = _soup(client, "/themes?sort=size")
    assert _titles(soup) == ["Refund delayed", "App crashes", WILD]
    assert "#2 by impact" in soup.select_one("li.theme-card .rank").get_text()
    assert (
        soup.select_one("#themes-heading")
        .get_text(" ", strip=True)
        .startswith("Themes by contacts")
    )


def test_first_click_sorts_csat_worst_first(client: TestClient, board: Board) -> None:
    soup = _soup(client, "/themes?view=table")
    link = soup.select_one("th[aria-sort] a[href*='sort=csat']")["href"]
    assert "order=" not in link  # ascending is the first click's order
    assert _titles(_soup(client, link))[0] == "App crashes"


def test_a_bad_sort_is_refused(client: TestClient, board: Board) -> None:
    assert client.get("/themes?sort=title;drop").status_code == 400
    assert client.get("/themes?view=grid").status_code == 400
    assert client.get("/api/dashboard?order=sideways").status_code == 422


# -- the name filter -------------------------------------------------------------------------


def test_name_filter_matches_titles_ignoring_case(client: TestClient, board: Board) -> None:
    soup = _soup(client, "/themes?q=CRASH")
    assert _titles(soup) == ["App crashes"]
    assert soup.select_one("#match-count").get_text(" ", strip=True) == (
        "1 of 3 themes matches “CRASH”."
    )
    assert soup.select_one("#f-q")["value"] == "CRASH"
    # The totals stay those of every theme under the filters.
    assert "3" in soup.select_one("dl.figures").get_text()
    api = client.get("/api/dashboard", params={"q": "crash"}).json()
    assert [t["title"] for t in api["themes"]] == ["App crashes"]


@pytest.mark.parametrize(("q", "titles"), [("100%", [WILD]), ("_", [WILD]), ("%", [WILD])])
def test_name_filter_takes_wildcards_literally(
    client: TestClient, board: Board, q: str, titles: list[str]
) -> None:
    assert (
        _titles(
            _soup(
                client,
                "/themes",
            )
        )
        != titles
    )
    response = client.get("/themes", params={"q": q, "view": "table"})
    assert _titles(BeautifulSoup(response.text, "html.parser")) == titles


def test_name_filter_keeps_sort_and_view_and_the_csv_follows_it(
    client: TestClient, board: Board
) -> None:
    soup = _soup(client, "/themes?q=a&sort=value&view=table")
    assert _titles(soup) == ["App crashes", "Refund delayed"]
    hidden = {i["name"]: i["value"] for i in soup.select("form.filters input[type=hidden]")}
    assert hidden == {"sort": "value", "view": "table"}
    csv_url = soup.select_one("a.csv")["href"]
    assert "q=a" in csv_url and "sort=value" in csv_url and "view" not in csv_url
    rows = list(csv.DictReader(io.StringIO(client.get(csv_url).text)))
    assert [r["title"] for r in rows] == ["App crashes", "Refund delayed"]
    assert rows[0]["currency"] == "EUR" and rows[0]["value_at_risk"] == "5000.0"
    assert rows[0]["impact_breakdown"].endswith("= " + str(round(float(rows[0]["impact_score"]))))


# -- empty states ----------------------------------------------------------------------------


def _empty(client: TestClient, url: str) -> str:
    soup = _soup(client, url)
    assert not _titles(soup)
    return soup.select_one("#empty-state").get_text(" ", strip=True)


def test_no_themes_at_all_says_to_ingest(client: TestClient) -> None:
    text = _empty(client, "/themes")
    assert text.startswith("No themes yet.") and "rootline ingest" in text
    assert _empty(client, "/themes?view=table").startswith("No themes yet.")


def test_each_empty_list_says_what_is_empty(client: TestClient, board: Board) -> None:
    assert _empty(client, "/themes?status=proposed").startswith("No proposed themes.")
    assert _empty(client, "/themes?status=noise").startswith("No “not a theme” themes.")
    assert _empty(client, "/themes?page=2") == (
        "Page 2 is past the last theme: there are 3 themes, on 1 page. Go to the last page"
    )
    assert _empty(client, "/themes?q=parcel").startswith("No theme matches “parcel”.")
    assert _empty(client, "/themes?date_from=2020-01-01&date_to=2020-01-31").startswith(
        "No active theme has contacts within these filters."
    )
    for url in ("/themes?status=proposed", "/themes?page=2", "/themes?q=parcel"):
        assert "No themes yet" not in _empty(client, url)


def test_empty_state_links_lead_somewhere_with_themes(client: TestClient, board: Board) -> None:
    for url in ("/themes?q=parcel&view=table", "/themes?page=3", "/themes?status=proposed"):
        link = _soup(client, url).select_one("#empty-state a")["href"]
        assert _titles(_soup(client, link)), (url, link)


def test_name_in_the_empty_state_is_escaped(client: TestClient, board: Board) -> None:
    response = client.get("/themes", params={"q": "<script>alert(1)</script>"})
    assert "<script>alert(1)</script>" not in response.text
    assert (
        "No theme matches “<script>alert(1)</script>”."
        in BeautifulSoup(response.text, "html.parser").select_one("#empty-state").get_text()
    )


# -- roles and currency ----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "support_lead"])
def test_every_role_gets_the_table_and_the_bars(
    anonymous: TestClient, session: Session, board: Board, role: str
) -> None:
    login(anonymous, session, role)
    soup = _soup(anonymous, "/themes?view=table&sort=size")
    assert _titles(soup) == ["Refund delayed", "App crashes", WILD]
    assert len(soup.select("td.impact .score-bar")) == 3
    page = _soup(anonymous, f"/themes/{board.refund}")
    assert page.select_one("#score-breakdown .score-sum") is not None


@pytest.fixture
def pounds(settings: Settings, engine: Engine, session: Session) -> Iterator[TestClient]:
    web = create_app(settings.model_copy(update={"currency": "GBP"}), engine)
    web.dependency_overrides[get_session] = lambda: session
    with TestClient(web) as test_client:
        login(test_client, session, "viewer")
        yield test_client


def test_value_at_risk_carries_the_configured_currency(
    client: TestClient, pounds: TestClient, board: Board
) -> None:
    assert "€5,300" in _soup(client, "/themes").select_one("dl.figures").get_text()
    soup = _soup(pounds, "/themes")
    assert "£5,300" in soup.select_one("dl.figures").get_text()
    assert "£5,000 at risk" in soup.select_one(f"#theme-{board.crash}").get_text(" ", strip=True)
    assert "£300" in _soup(pounds, f"/themes/{board.refund}").select_one("#impact").get_text()
    assert pounds.get("/api/dashboard").json()["currency"] == "GBP"


def test_seeded_dashboard_still_ranks_by_impact_with_bars(
    client: TestClient, session: Session
) -> None:
    seed(session)
    soup = _soup(client, "/themes?view=table")
    scores = [_cell(r, "impact") for r in _table(soup)]
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]
