"""Theme figures computed in SQL, on a small desk whose every number is worked out by hand.

Customers A (value 1000), B (500), C (no value), D (200). Days count from T0.

Theme X: A on days 0 and 3 (a repeat within 7 days, CSAT 1 and 2), B on days 1 and 20 (19
days apart: no repeat; CSAT 5, unrated), C on day 2 (unrated), an anonymous contact on day 4
(CSAT 4). Theme Y: D on day 5 (CSAT 3), A on day 40. Two contacts in no theme, days 30, 31.

Events: A cancels on days 50 and 60 (50 days after their first X contact, 10 after their
first Y contact: churned from both, counted once); B cancels on day 200 (199 days after: not
churn); D cancels on day 4, before their first contact; C places an order on day 10.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from rootline.clustering.models import Theme, ThemeMembership
from rootline.db import make_engine, make_session_factory, migrate, session_scope
from rootline.ingest.models import Customer, CustomerEvent
from rootline.rootcause.figures import theme_figures
from rootline.rootcause.impact import theme_impact
from tests.cli_runner import run_rootline
from tests.factories import CustomerFactory, InteractionFactory, ThemeFactory
from tests.test_web_pages import (  # noqa: F401  (fixtures)
    anonymous,
    app,
    login,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def _desk(session: Session) -> tuple[int, int]:
    for f in (CustomerFactory, InteractionFactory, ThemeFactory):
        f._meta.sqlalchemy_session = session
    a, b = CustomerFactory(value=1000.0), CustomerFactory(value=500.0)
    c, d = CustomerFactory(value=None), CustomerFactory(value=200.0)
    x, y = ThemeFactory(), ThemeFactory()
    members = [
        (x, a, 0, 1.0),
        (x, a, 3, 2.0),
        (x, b, 1, 5.0),
        (x, b, 20, None),
        (x, c, 2, None),
        (x, None, 4, 4.0),
        (y, d, 5, 3.0),
        (y, a, 40, None),
        (None, b, 30, 1.0),
        (None, None, 31, None),
    ]
    for theme, customer, day, csat in members:
        item = InteractionFactory(
            customer_id=customer.id if customer else None, created_at=_day(day), csat=csat
        )
        if theme is not None:
            session.add(ThemeMembership(interaction_id=item.id, theme_id=theme.id))
    events = [
        (a, "cancellation", 50),
        (a, "cancellation", 60),
        (b, "cancellation", 200),
        (d, "cancellation", 4),
        (c, "order", 10),
    ]
    for n, (customer, kind, day) in enumerate(events):
        session.add(
            CustomerEvent(
                source="crm",
                external_id=f"E{n}",
                customer_id=customer.id,
                kind=kind,
                occurred_at=_day(day),
                amount=10.0,
                content_hash=f"{n:064d}",
            )
        )
    session.flush()
    return x.id, y.id


def test_each_theme_by_hand(session: Session) -> None:
    x, y = _desk(session)
    got = theme_figures(session, [x, y])
    fx, fy = got[x], got[y]
    assert (fx.contacts, fx.share, fx.unique_customers) == (6, 0.6, 3)
    assert fx.repeat_contact_rate == pytest.approx(1 / 3, abs=1e-4)
    assert fx.csat == pytest.approx((1 + 2 + 5 + 4) / 4)
    assert fx.value_at_risk == 1500.0  # A and B; C has no value
    assert (fx.churned_customers, fx.value_lost) == (1, 1000.0)
    assert (fy.contacts, fy.share, fy.unique_customers) == (2, 0.2, 2)
    assert fy.repeat_contact_rate == 0.0 and fy.csat == 3.0
    assert fy.value_at_risk == 1200.0
    assert (fy.churned_customers, fy.value_lost) == (1, 1000.0)  # A, 10 days after day 40
    assert fx.impact_score == theme_impact(session, x).score > 0


def test_a_problems_themes_together(session: Session) -> None:
    x, y = _desk(session)
    (both,) = theme_figures(session, [x, y], together=True).values()
    assert (both.contacts, both.unique_customers) == (8, 4)
    assert both.repeat_contact_rate == 0.25  # only A
    assert both.value_at_risk == 1700.0  # A, B and D, each once
    # A's first contact is day 0 (cancelled day 50); D's cancellation came before theirs.
    assert (both.churned_customers, both.value_lost) == (1, 1000.0)
    assert both.impact_score == theme_impact(session, [x, y]).score


def test_a_window_of_contact_dates(session: Session) -> None:
    x, y = _desk(session)
    got = theme_figures(session, [x, y], since=_day(10), until=_day(35))
    # In the window: B's day-20 contact on X, and the two unthemed contacts.
    assert (got[x].contacts, got[x].share, got[x].unique_customers) == (1, round(1 / 3, 4), 1)
    assert got[x].csat is None and got[x].repeat_contact_rate == 0.0
    assert got[y].contacts == 0 and got[y].unique_customers == 0
    assert got[y].repeat_contact_rate is None and got[y].value_at_risk is None


def test_missing_data_is_null_not_zero(session: Session) -> None:
    for f in (CustomerFactory, InteractionFactory, ThemeFactory):
        f._meta.sqlalchemy_session = session
    theme = ThemeFactory()
    item = InteractionFactory(customer_id=None, csat=None)
    session.add(ThemeMembership(interaction_id=item.id, theme_id=theme.id))
    session.flush()
    (only,) = theme_figures(session, [theme.id]).values()
    assert (only.contacts, only.unique_customers) == (1, 0)
    assert only.csat is None and only.value_at_risk is None and only.value_lost is None
    assert only.repeat_contact_rate is None and only.churned_customers == 0


@pytest.mark.slow
def test_themes_and_problems_json_carry_the_figures(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    engine = make_engine(url)
    migrate(engine)
    with session_scope(make_session_factory(engine)) as session:
        x, y = _desk(session)
        session.execute(sa.update(Theme).values(size=1))
        expected = {k: v.as_dict() for k, v in theme_figures(session, [x, y]).items()}
        assert session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 4
    engine.dispose()
    themes = json.loads(run_rootline("themes", "--json", db=url, folder=tmp_path).stdout)
    by_id = {t["id"]: t for t in themes}
    for tid, figures in expected.items():
        for key in ("contacts", "unique_customers", "repeat_contact_rate", "csat"):
            assert by_id[tid][key] == figures[key], key
        for key in ("value_at_risk", "impact_score", "churned_customers", "value_lost"):
            assert by_id[tid][key] == figures[key], key
    assert by_id[x]["value_lost"] == 1000.0
    created = json.loads(
        run_rootline(
            "problems", "create", "--theme", str(x), "--theme", str(y), "--json",
            db=url, folder=tmp_path,
        ).stdout
    )  # fmt: skip
    shown = json.loads(
        run_rootline("problems", "show", str(created["id"]), "--json", db=url, folder=tmp_path)
        .stdout
    )  # fmt: skip
    assert (shown["contacts"], shown["unique_customers"], shown["value_at_risk"]) == (8, 4, 1700.0)
    assert (shown["churned_customers"], shown["value_lost"]) == (1, 1000.0)
    assert shown["repeat_contact_rate"] == 0.25


def test_the_theme_page_and_api_show_the_figures(
    anonymous: TestClient,  # noqa: F811
    session: Session,
) -> None:
    x, _y = _desk(session)
    login(anonymous, session, "viewer")
    got = anonymous.get(f"/api/themes/{x}/figures")
    assert got.status_code == 200
    body = got.json()
    breakdown = body.pop("impact_breakdown")
    assert body.pop("currency") == "EUR"
    # The score is measured where the dashboard measures it (at the newest contact of all),
    # the other figures over the theme's own contacts.
    window = body.pop("score_window")
    assert window["ends_at"] == "newest_contact"
    score = body.pop("impact_score")
    expected = theme_figures(session, [x])[x].as_dict()
    expected.pop("impact_score")
    assert body == expected
    as_of = datetime.fromisoformat(window["as_of"].replace("Z", "+00:00"))
    assert score == theme_impact(session, x, as_of).breakdown().score
    assert breakdown["score"] == score
    assert sum(p["whole"] for p in breakdown["parts"]) == breakdown["total"]
    assert body["value_lost"] == 1000.0
    assert anonymous.get("/api/themes/999999/figures").status_code == 404
    page = BeautifulSoup(anonymous.get(f"/themes/{x}").text, "html.parser")
    assert page.select_one("#figure-churn").get_text() == "1 customer, €1,000 value lost"
    assert page.select_one("#figure-share").get_text() == "60.0%"


def test_the_problem_page_shows_its_themes_figures(
    anonymous: TestClient,  # noqa: F811
    session: Session,
) -> None:
    from rootline.rootcause.service import create_problem

    x, y = _desk(session)
    problem = create_problem(session, [x, y], actor="lead@example.com")
    login(anonymous, session, "viewer")
    page = BeautifulSoup(anonymous.get(f"/problems/{problem.id}").text, "html.parser")
    shown = {
        d.find("dt").get_text(): d.find("dd").get_text()
        for d in page.select("#problem-figures > div")
    }
    assert shown["Contacts"] == "8" and shown["Customers affected"] == "4"
    assert shown["Repeat contacts (7 days)"] == "25.0%"
    assert shown["Value at risk"] == "€1,700" and shown["Churned after contact"] == "1 customer"
    assert "version" not in page.select_one("p.meta").get_text()
