"""Charts on the dashboard and the theme page: the weekly volume with the top themes stacked,
sparklines that name their weeks, and one score window for both pages, said on each. Pages
are parsed from ``TestClient`` responses; the chart geometry is tested without a database."""
# The app, client and data fixtures are shared with test_web_pages by importing them, which
# ruff reads as redefinitions when tests take them as arguments.
# ruff: noqa: F811

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from rootline.rootcause.teams import ROLES
from rootline.web.charts import sparkline, volume_chart
from tests.test_web_dashboard import Board, board  # noqa: F401  (fixtures)
from tests.test_web_pages import (  # noqa: F401  (fixtures)
    _interaction,
    _soup,
    _theme,
    anonymous,
    app,
    client,
    login,
)

WEEKS = [date(2026, 9, 7) + timedelta(weeks=i) for i in range(4)]


# -- geometry -------------------------------------------------------------------------------


def test_volume_chart_stacks_the_top_themes_and_sums_the_rest() -> None:
    themes = [(1, "A", [1, 2, 3, 4]), (2, "B", [0, 2, 0, 2]), (3, "C", [5, 0, 0, 0])]
    chart = volume_chart(WEEKS, themes, top=2)
    assert chart is not None
    assert [(s.label, s.theme_id, s.total) for s in chart.series] == [
        ("A", 1, 10),
        ("B", 2, 4),
        ("All other themes", None, 5),
    ]
    assert [c.total for c in chart.columns] == [6, 4, 3, 6]
    assert chart.peak == 6  # the busiest week, in round steps of 2
    plot = chart.baseline - chart.top
    for column in chart.columns:
        # Parts stack from the baseline up without gaps, each as tall as its count.
        y = chart.baseline
        for part in column.parts:
            assert part.y + part.height == pytest.approx(y, abs=0.02)
            assert part.height == pytest.approx(plot * part.count / chart.peak, abs=0.02)
            y = part.y
    assert chart.columns[0].label == "2026-09-07"
    assert "19 contacts in 4 weeks from 2026-09-07 to 2026-09-28" in chart.summary


def test_volume_chart_is_none_without_weeks_or_contacts() -> None:
    assert volume_chart([], [(1, "A", [])]) is None
    assert volume_chart(WEEKS, []) is None
    assert volume_chart(WEEKS, [(1, "A", [0, 0, 0, 0])]) is None


def test_volume_chart_without_other_themes_has_no_other_layer() -> None:
    chart = volume_chart(WEEKS, [(1, "A", [1, 0, 0, 1])], top=5)
    assert chart is not None and [s.label for s in chart.series] == ["A"]
    assert [t.label for t in chart.y_ticks] == ["0", "1"]


def test_sparkline_names_each_week() -> None:
    spark = sparkline([0, 3, 1, 2], WEEKS)
    assert [(w.label, w.count) for w in spark.weeks] == [
        ("2026-09-07", 0),
        ("2026-09-14", 3),
        ("2026-09-21", 1),
        ("2026-09-28", 2),
    ]
    # The strips cover the drawing once, left to right.
    assert spark.weeks[0].x == 0
    assert sum(w.width for w in spark.weeks) == pytest.approx(spark.width, abs=0.5)
    assert "from 2026-09-07 to 2026-09-28" in spark.summary
    assert sparkline([1, 2]).weeks == []  # no dates given, no strips


# -- the dashboard ---------------------------------------------------------------------------


def test_dashboard_volume_chart_adds_up_to_the_themes_weeks(
    client: TestClient, board: Board
) -> None:
    soup = _soup(client, "/themes")
    api = client.get("/api/dashboard").json()
    figure = soup.select_one("#volume-chart")
    assert figure is not None
    weeks = figure.select("g.week")
    assert [g["data-week"] for g in weeks] == api["week_starts"]
    by_week = [sum(t["weekly_contacts"][k] for t in api["themes"]) for k in range(len(weeks))]
    assert [int(g["data-total"]) for g in weeks] == by_week
    for g in weeks:
        assert sum(int(r["data-count"]) for r in g.select("rect.layer")) == int(g["data-total"])
        hover = g.select_one("rect.hit title").get_text()
        assert hover == f"Week of {g['data-week']}: {g['data-total']} contacts"
    # The legend names the themes bottom up in impact order, each linking to its page.
    legend = [a["href"] for a in figure.select(".legend a")]
    assert legend == [f"/themes/{t['id']}" for t in api["themes"]][: len(legend)]
    assert (
        figure.select_one("figcaption")
        .get_text(strip=True)
        .startswith(f"{sum(by_week)} contacts in {len(weeks)} weeks")
    )
    # The same figures as a table for those who do not read charts.
    rows = figure.select("table.volume-table tbody tr")
    assert [int(r.select("td")[-1].get_text()) for r in rows] == by_week


def test_dashboard_sparklines_name_their_weeks(client: TestClient, board: Board) -> None:
    soup = _soup(client, "/themes")
    api = client.get("/api/dashboard").json()
    for theme in api["themes"]:
        card = soup.select_one(f"#theme-{theme['id']}")
        titles = [t.get_text() for t in card.select("svg.spark rect.hit title")]
        assert titles == [
            f"Week of {week}: {n} {'contact' if n == 1 else 'contacts'}"
            for week, n in zip(api["week_starts"], theme["weekly_contacts"], strict=True)
        ]
        dates = card.select_one(".spark-dates").get_text(" ", strip=True)
        assert dates == f"{api['week_starts'][0]} – {api['week_starts'][-1]}"


def test_the_chart_drops_out_with_its_themes(client: TestClient, session: Session) -> None:
    rows = [_interaction(session, 5000 + i, f"late parcel {i}") for i in range(3)]
    _theme(session, "Late parcels", ["parcel"], rows)
    # Date filter on a range with no contact: the themes drop out, and so does the chart.
    soup = _soup(client, "/themes?date_from=2020-01-01&date_to=2020-01-31")
    assert soup.select_one("#volume-chart") is None
    assert soup.select_one("#empty-state")["data-kind"] == "filters"


@pytest.mark.parametrize("role", ROLES)
def test_every_role_sees_the_chart_and_the_window(
    anonymous: TestClient, session: Session, board: Board, role: str
) -> None:
    login(anonymous, session, role)
    soup = _soup(anonymous, "/themes")
    assert soup.select_one("#volume-chart svg") is not None
    assert soup.select_one("#score-window").get_text().startswith("Scores as of ")
    theme = _soup(anonymous, f"/themes/{board.refund}")
    assert theme.select_one("#score-window") is not None


def test_signed_out_people_see_no_chart(anonymous: TestClient, board: Board) -> None:
    response = anonymous.get("/themes", follow_redirects=False)
    assert response.status_code in (302, 303, 307)
    assert "volume-chart" not in response.text


# -- one score window ------------------------------------------------------------------------


def _card_score(client: TestClient, theme_id: int) -> int:
    card = _soup(client, "/themes").select_one(f"#theme-{theme_id}")
    return int(card.select_one(".score strong").get_text())


def test_dashboard_and_theme_page_score_alike_and_say_when(
    client: TestClient, board: Board
) -> None:
    """The refund theme's contacts stop two months before the newest contact: measured at its
    own last contact it would look steady, at the data's end it has faded. Both pages measure
    at the data's end, and say so in the same words."""
    api = client.get("/api/dashboard").json()
    window = api["score_window"]
    assert window["ends_at"] == "newest_contact"
    dashboard = _soup(client, "/themes").select_one("#score-window").get_text(strip=True)
    for theme in api["themes"]:
        page = _soup(client, f"/themes/{theme['id']}")
        score = page.select_one("#impact dd").get_text(strip=True)
        assert int(score) == round(theme["impact"]["score"]) == _card_score(client, theme["id"])
        assert page.select_one("#score-window").get_text(strip=True) == dashboard
        figures = client.get(f"/api/themes/{theme['id']}/figures").json()
        assert figures["impact_score"] == theme["impact"]["score"]
        assert figures["score_window"] == window
    refund = next(t for t in api["themes"] if t["id"] == board.refund)
    assert refund["impact"]["recent_contacts"] == 0  # faded by the data's end
    assert window["as_of"].startswith(dashboard.split()[3])


def test_a_to_date_ends_the_window(client: TestClient, board: Board) -> None:
    api = client.get("/api/dashboard?date_to=2026-10-01").json()
    assert api["score_window"]["ends_at"] == "date_to"
    assert api["score_window"]["as_of"].startswith("2026-10-01T23:59:59")
    assert api["week_starts"][-1] == "2026-09-28"  # the Monday of that week
    words = _soup(client, "/themes?date_to=2026-10-01").select_one("#score-window").get_text()
    assert re.search(r"Scores as of 2026-10-01 \(the end of the date filter\)", words)
    # Refunds (September) are recent as of October 1st: growth counts them.
    refund = next(t for t in api["themes"] if t["id"] == board.refund)
    assert refund["impact"]["recent_contacts"] > 0
