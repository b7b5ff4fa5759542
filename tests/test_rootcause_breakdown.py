"""Figures by dimension, on a small desk whose every number is worked out by hand.

Days count from T0, a Monday. Customers: A (consumer, value 1000), B (consumer, 500),
C (business, no value), D (business, 200), E (consumer, 100), F (business, 50).

    #  theme  who   day  channel  resolved after  csat  region
    1  X      A     0    phone    2 h             1     north
    2  X      A     3    chat     4 h             2     north
    3  X      B     1    email    10 h            5     south
    4  X      B     20   email    -               -     south
    5  X      C     2    web      1 h             -     north
    6  X      anon  4    chat     3 h             4     south
    7  Y      D     5    phone    6 h             3     north
    8  Y      E     6    chat     -               -     south
    9  -      F     21   email    8 h             1     north

Events: A cancels on day 50, E on day 30; D downgrades on day 10; B upgrades on day 30;
C orders on day 10. Surveys: contact 1 "satisfied" yes and "recommend" 9 of 10; contact 3
"satisfied" no and "recommend" 5; contact 7 "satisfied" 5 of 5 and "recommend" 10.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from rootline.clustering.models import ThemeMembership
from rootline.errors import InputError
from rootline.ingest.models import CustomerEvent
from rootline.rootcause.breakdown import breakdown
from rootline.rootcause.models import Problem, ProblemTheme, SurveyResponse
from tests.factories import CustomerFactory, InteractionFactory, ThemeFactory

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def _desk(session: Session) -> tuple[int, int]:
    for f in (CustomerFactory, InteractionFactory, ThemeFactory):
        f._meta.sqlalchemy_session = session
    a = CustomerFactory(value=1000.0, segment="consumer")
    b = CustomerFactory(value=500.0, segment="consumer")
    c = CustomerFactory(value=None, segment="business")
    d = CustomerFactory(value=200.0, segment="business")
    e = CustomerFactory(value=100.0, segment="consumer")
    f = CustomerFactory(value=50.0, segment="business")
    x, y = ThemeFactory(), ThemeFactory()
    rows = [
        (x, a, 0, "phone", 2, 1.0, "north"),
        (x, a, 3, "chat", 4, 2.0, "north"),
        (x, b, 1, "email", 10, 5.0, "south"),
        (x, b, 20, "email", None, None, "south"),
        (x, c, 2, "web", 1, None, "north"),
        (x, None, 4, "chat", 3, 4.0, "south"),
        (y, d, 5, "phone", 6, 3.0, "north"),
        (y, e, 6, "chat", None, None, "south"),
        (None, f, 21, "email", 8, 1.0, "north"),
    ]
    items = []
    for theme, customer, day, channel, hours, csat, region in rows:
        item = InteractionFactory(
            customer_id=customer.id if customer else None,
            created_at=_day(day),
            resolved_at=_day(day) + timedelta(hours=hours) if hours is not None else None,
            channel=channel,
            csat=csat,
            extra={"region": region},
        )
        items.append(item)
        if theme is not None:
            session.add(ThemeMembership(interaction_id=item.id, theme_id=theme.id))
    events = [
        (a, "cancellation", 50),
        (e, "cancellation", 30),
        (d, "downgrade", 10),
        (b, "upgrade", 30),
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
                content_hash=f"{n:064d}",
            )
        )
    answers = [
        (0, "satisfied", 1, 1),
        (0, "recommend", 9, 10),
        (2, "satisfied", 0, 1),
        (2, "recommend", 5, 10),
        (6, "satisfied", 5, 5),
        (6, "recommend", 10, 10),
    ]
    for index, question, score, scale in answers:
        session.add(
            SurveyResponse(
                interaction_id=items[index].id, question=question, score=score, scale_max=scale
            )
        )
    session.flush()
    return x.id, y.id


def test_by_theme_every_figure_by_hand(session: Session) -> None:
    x, y = _desk(session)
    got = breakdown(session, "theme")
    assert got.total_contacts == 9
    assert got.csat_baseline == pytest.approx(16 / 6, abs=1e-3)
    assert [g.key for g in got.groups] == [str(x), str(y)]
    fx, fy = got.groups
    assert (fx.contacts, fx.share, fx.unique_customers, fx.contacts_per_customer) == (
        6,
        0.6667,
        3,
        2.0,
    )
    # The window ends just after the newest contact (day 21): day 20 is in the last 7 days.
    assert (fx.last_7_days, fx.previous_7_days, fx.week_over_week) == (1, 0, None)
    assert got.week_starts[-1] == date(2026, 3, 23) and len(got.week_starts) == 12
    assert fx.weekly == [0] * 8 + [5, 0, 1, 0]
    assert fy.weekly == [0] * 8 + [2, 0, 0, 0]
    assert fx.repeat_contact_rate == 0.3333  # A, days 0 and 3
    # Resolved contacts of known customers: A0 (A came back on day 3), A3, B1, C2.
    assert fx.first_contact_resolution == 0.75
    assert fx.csat == 3.0 and fx.csat_vs_baseline == pytest.approx(1 / 3, abs=1e-3)
    assert fx.median_hours_to_resolve == 3.0  # 1, 2, 3, 4, 10
    assert fx.contact_cost == 6 + 2.5 + 3 + 3 + 2 + 2.5
    assert fx.value_at_risk == 1500.0
    assert (fx.churned_customers, fx.value_lost, fx.churn_rate) == (1, 1000.0, 0.3333)
    # Similar customers without X: consumers E (churned), businesses D and F (neither);
    # X's customers are 2 consumers and 1 business: (2 x 1 + 1 x 0) / 3.
    assert fx.baseline_churn_rate == 0.6667
    assert (fx.downgraded_customers, fx.upgraded_customers) == (0, 1)
    assert (fx.survey_responses, fx.top_box_answers, fx.top_box_rate, fx.nps) == (4, 2, 0.5, 0.0)
    assert (fy.contacts, fy.unique_customers, fy.repeat_contact_rate) == (2, 2, 0.0)
    assert fy.first_contact_resolution == 1.0 and fy.median_hours_to_resolve == 6.0
    assert fy.contact_cost == 8.5 and fy.value_at_risk == 300.0
    assert (fy.churned_customers, fy.value_lost, fy.churn_rate) == (1, 100.0, 0.5)
    # Without Y: consumers A (churned) and B, businesses C and F: (1 x 0.5 + 1 x 0) / 2.
    assert fy.baseline_churn_rate == 0.25
    assert (fy.downgraded_customers, fy.upgraded_customers) == (1, 0)
    assert (fy.survey_responses, fy.top_box_rate, fy.nps) == (2, 1.0, 100.0)


def test_by_an_extra_field_and_by_channel(session: Session) -> None:
    x, _ = _desk(session)
    region = {g.key: g for g in breakdown(session, "region").groups}
    assert (region["north"].contacts, region["north"].unique_customers) == (5, 4)
    assert (region["south"].contacts, region["south"].unique_customers) == (4, 2)
    # North's themed customers A, C, D: A repeated.
    assert region["north"].repeat_contact_rate == 0.3333
    assert region["north"].contact_cost == 6 + 2.5 + 2 + 6 + 3
    channel = {g.key: g.contacts for g in breakdown(session, "channel", theme_ids=[x]).groups}
    assert channel == {"phone": 1, "chat": 2, "email": 2, "web": 1}
    segment = {g.key: g.contacts for g in breakdown(session, "segment").groups}
    assert segment == {"consumer": 5, "business": 3, None: 1}  # None: the anonymous contact


def test_a_window_of_contact_dates(session: Session) -> None:
    x, _ = _desk(session)
    got = breakdown(session, "theme", since=_day(1), until=_day(21))
    assert got.total_contacts == 7
    fx = next(g for g in got.groups if g.key == str(x))
    assert (fx.contacts, fx.share, fx.unique_customers) == (5, 0.7143, 3)
    assert fx.repeat_contact_rate == 0.0  # A's day-0 contact is outside the window
    # The window ends at its end: day 20 is within its last 7 days, days 3 and 4 not.
    assert (fx.last_7_days, fx.previous_7_days) == (1, 0)


def test_by_problem_counts_its_themes_together(session: Session) -> None:
    x, y = _desk(session)
    problem = Problem(title="Checkout")
    session.add(problem)
    session.flush()
    session.add_all([ProblemTheme(problem_id=problem.id, theme_id=t) for t in (x, y)])
    session.flush()
    (only,) = breakdown(session, "problem").groups
    assert (only.key, only.label, only.contacts, only.unique_customers) == (
        str(problem.id),
        "Checkout",
        8,
        5,
    )
    assert (only.churned_customers, only.value_lost) == (2, 1100.0)


def test_a_bad_dimension_is_refused(session: Session) -> None:
    with pytest.raises(InputError, match="cannot group by"):
        breakdown(session, "region'; drop table x")
