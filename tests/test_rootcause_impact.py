"""Impact metrics on a small dataset whose figures are worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from rootline.clustering.models import ThemeMembership
from rootline.rootcause.impact import (
    COMPONENT_WORDS,
    WEIGHTS,
    Contact,
    impact_by_theme,
    measure_impact,
    priority_for_score,
    theme_impact,
)
from tests.factories import CustomerFactory, InteractionFactory, ThemeFactory

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _day(n: float) -> datetime:
    return T0 + timedelta(days=n)


# Customer 1 contacts twice within 7 days (a repeat), customer 2 twice 40 days apart (not a
# repeat), customer 3 once, plus one anonymous contact.
CONTACTS = [
    Contact(1, _day(0), _day(0) + timedelta(hours=2), 1.0, 1000.0),
    Contact(1, _day(6), _day(6) + timedelta(hours=4), 2.0, 1000.0),
    Contact(2, _day(5), _day(5) + timedelta(hours=6), 4.0, 500.0),
    Contact(2, _day(45), None, 5.0, 500.0),
    Contact(3, _day(80), _day(80) + timedelta(hours=10), None, None),
    Contact(None, _day(82), None, 3.0, None),
]


def test_figures_on_a_known_dataset() -> None:
    impact = measure_impact(CONTACTS, as_of=_day(84))
    assert impact.contacts == 6 and impact.unique_customers == 3
    assert impact.repeat_contact_rate == pytest.approx(1 / 3, abs=1e-4)
    assert impact.mean_csat == pytest.approx(3.0)
    assert impact.low_csat_share == pytest.approx(2 / 5)
    assert impact.median_hours_to_resolve == pytest.approx(5.0)  # 2, 4, 6, 10
    assert impact.value_at_risk == 1500.0
    # Last 4 weeks: days 56-84 -> 2 contacts; the 8 weeks before: days 0-56 -> 3 (day 0 is
    # exactly 12 weeks back, outside). Weekly rates 0.5 vs 0.375.
    assert (impact.recent_contacts, impact.prior_contacts) == (2, 3)
    assert impact.trend == pytest.approx((2 / 4) / (3 / 8), abs=1e-3)


def test_score_explains_itself() -> None:
    impact = measure_impact(CONTACTS, as_of=_day(84))
    assert set(impact.components) == set(WEIGHTS)
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)
    for part in impact.components.values():
        assert 0 <= part["value"] <= 1
        assert part["points"] == pytest.approx(100 * part["weight"] * part["value"], abs=0.01)
    assert impact.score == pytest.approx(
        sum(p["points"] for p in impact.components.values()), abs=0.1
    )
    assert impact.explanation.startswith(f"score {impact.score:.0f}/100 (")
    assert "from 6 contacts by 3 customers" in impact.explanation


def test_empty_and_growing_themes() -> None:
    empty = measure_impact([])
    assert (empty.contacts, empty.score, empty.mean_csat, empty.trend) == (0, 0.0, None, None)
    big = [Contact(i, _day(80 + i / 1000), None, 1.0, 5000.0) for i in range(600)]
    score = measure_impact(big).score
    assert score >= 75 and priority_for_score(score) == "P1"  # new, large, unhappy, valuable
    assert [priority_for_score(s) for s in (80, 60, 30, 10)] == ["P1", "P2", "P3", "P4"]


def test_theme_impact_from_the_database(session: Session) -> None:
    for f in (CustomerFactory, InteractionFactory, ThemeFactory):
        f._meta.sqlalchemy_session = session
    a, b = ThemeFactory(), ThemeFactory()
    rich, poor = CustomerFactory(value=900.0), CustomerFactory(value=100.0)
    for i, (theme, customer, csat) in enumerate(
        [(a, rich, 1.0), (a, rich, 2.0), (a, poor, 5.0), (b, poor, 4.0)]
    ):
        item = InteractionFactory(customer_id=customer.id, csat=csat, created_at=_day(i))
        session.add(ThemeMembership(interaction_id=item.id, theme_id=theme.id))
    session.flush()
    one = theme_impact(session, a.id)
    assert (one.contacts, one.unique_customers, one.value_at_risk) == (3, 2, 1000.0)
    assert one.repeat_contact_rate == 0.5 and one.low_csat_share == pytest.approx(2 / 3, abs=1e-4)
    both = theme_impact(session, [a.id, b.id])
    assert both.contacts == 4 and both.value_at_risk == 1000.0
    per = impact_by_theme(session, [a.id, b.id])
    assert per[b.id].contacts == 1 and per[a.id].score > per[b.id].score


def test_breakdown_names_every_component_and_adds_up_to_the_score() -> None:
    impact = measure_impact(CONTACTS, as_of=_day(84))
    breakdown = impact.breakdown()
    assert [p.name for p in breakdown.parts] == list(WEIGHTS)
    for part in breakdown.parts:
        # Each part is the component as the score adds it: weight x normalised value.
        assert part.points == impact.components[part.name]["points"]
        assert part.points == pytest.approx(100 * part.weight * part.value, abs=0.01)
        assert part.label == COMPONENT_WORDS[part.name][0]
    assert breakdown.score == impact.score
    assert sum(p.points for p in breakdown.parts) == pytest.approx(impact.score, abs=0.05)
    assert breakdown.total == int(f"{impact.score:.0f}")
    assert sum(p.whole for p in breakdown.parts) == breakdown.total
    terms = [p for p in breakdown.parts if p.whole]
    assert breakdown.sentence == (
        " + ".join(f"{p.label} {p.whole}" for p in terms) + f" = {breakdown.total}"
    )


def test_breakdown_of_nothing_is_zero() -> None:
    breakdown = measure_impact([]).breakdown()
    assert breakdown.total == 0 and all(p.whole == 0 for p in breakdown.parts)
    assert breakdown.sentence == "nothing = 0"


_contact = st.builds(
    Contact,
    st.one_of(st.none(), st.integers(1, 8)),
    st.integers(0, 120).map(_day),
    st.none(),
    st.one_of(st.none(), st.sampled_from([1.0, 2.0, 3.0, 4.0, 5.0])),
    st.one_of(st.none(), st.floats(0, 200_000)),
)


@given(st.lists(_contact, max_size=60))
def test_whole_points_always_add_up_to_the_printed_score(contacts: list[Contact]) -> None:
    impact = measure_impact(contacts, as_of=_day(120))
    breakdown = impact.breakdown()
    # The pages print the score with "%.0f"; the whole parts must add up to exactly that.
    assert sum(p.whole for p in breakdown.parts) == breakdown.total == int(f"{impact.score:.0f}")
    # Rounding moves no part by a whole point or more.
    assert all(abs(p.whole - p.points) < 1 for p in breakdown.parts)
