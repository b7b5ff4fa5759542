"""The 4-week forecast on weekly series whose true pattern is known, and its weekly read.

Each series is made from a stated level, trend, season and noise, so the right answer is
known: the forecast must recover it, pick the season that is there, keep a flat series flat,
and its 90% interval must hold about 90% of fresh draws.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy.orm import Session

from rootline.clustering.models import ThemeMembership
from rootline.rootcause.forecast import (
    MIN_WEEKS,
    forecast_series,
    last_complete_week,
    theme_forecasts,
    weekly_series,
)
from tests.factories import InteractionFactory, ThemeFactory

MONTHLY = (25.0, -10.0, 5.0, -20.0)


def test_a_four_week_season_is_found_and_continued() -> None:
    rng = np.random.default_rng(7)
    n = 60
    y = [100 + MONTHLY[i % 4] + rng.normal(0, 4) for i in range(n)]
    f = forecast_series(y, last_week=date(2026, 11, 23))
    assert f is not None
    assert f.season_weeks == 4 and not f.trend
    truth = [100 + MONTHLY[(n + h) % 4] for h in range(4)]
    for week, true in zip(f.weeks, truth, strict=True):
        assert week.expected == pytest.approx(true, abs=6)
        assert week.low < true < week.high
    assert [w.week_start for w in f.weeks] == [
        date(2026, 11, 30) + timedelta(weeks=h) for h in range(4)
    ]
    # The back-test is reported and the seasonal model beats the 4-week mean by far.
    assert f.backtest is not None
    assert (f.backtest.origins, f.backtest.forecasts) == (8, 32)
    assert f.backtest.mae < f.backtest.naive_mae / 2
    assert f.backtest.wape is not None and f.backtest.wape < 0.08


def test_a_yearly_peak_is_forecast_from_two_years_and_more() -> None:
    # 2.5 years of weeks, +60 contacts in weeks 48-51 of each year; the forecast starts just
    # before the peak.
    rng = np.random.default_rng(3)
    n = 52 * 2 + 47
    y = [40 + (60 if i % 52 in (47, 48, 49, 50) else 0) + rng.normal(0, 3) for i in range(n)]
    f = forecast_series(y)
    assert f is not None and f.season_weeks == 52
    for week in f.weeks:
        assert week.expected == pytest.approx(100, abs=10)


def test_a_rising_series_keeps_rising() -> None:
    rng = np.random.default_rng(11)
    n = 40
    y = [20 + 3 * i + rng.normal(0, 2) for i in range(n)]
    f = forecast_series(y)
    assert f is not None and f.trend
    for h, week in enumerate(f.weeks, start=1):
        assert week.expected == pytest.approx(20 + 3 * (n - 1 + h), abs=5)
    assert f.weeks[-1].expected > f.weeks[0].expected + 6


def test_a_flat_series_stays_flat() -> None:
    rng = np.random.default_rng(5)
    y = list(rng.poisson(50, size=30))
    f = forecast_series(y)
    assert f is not None
    expected = [w.expected for w in f.weeks]
    assert max(expected) - min(expected) < 5
    assert all(abs(e - 50) < 6 for e in expected)


def test_the_interval_holds_about_its_share_of_new_weeks() -> None:
    rng = np.random.default_rng(2026)
    inside = total = 0
    for _ in range(60):
        y = list(rng.poisson(40, size=36 + 4))
        f = forecast_series(y[:36])
        assert f is not None
        for week, truth in zip(f.weeks, y[36:], strict=True):
            inside += week.low <= truth <= week.high
            total += 1
    assert 0.82 <= inside / total <= 0.98


def test_small_counts_never_go_below_zero() -> None:
    y = [3, 0, 1, 0, 0, 2, 0, 0, 1, 0]
    f = forecast_series(y)
    assert f is not None
    assert all(0 <= w.low <= w.expected <= w.high for w in f.weeks)
    # A Poisson floor: even an almost silent theme has a band above its mean.
    assert all(w.high > w.expected for w in f.weeks)


def test_too_little_history_gives_no_forecast() -> None:
    assert forecast_series([5] * (MIN_WEEKS - 1)) is None
    assert forecast_series([5] * MIN_WEEKS) is not None


def test_the_running_week_is_left_out() -> None:
    wednesday = datetime(2026, 11, 25, 10, tzinfo=UTC)
    sunday = datetime(2026, 11, 29, 23, tzinfo=UTC)
    assert last_complete_week(wednesday) == date(2026, 11, 16)
    assert last_complete_week(sunday) == date(2026, 11, 23)


def _contacts(session: Session, theme_id: int, days: list[datetime]) -> None:
    for at in days:
        item = InteractionFactory(created_at=at)
        session.add(ThemeMembership(interaction_id=item.id, theme_id=theme_id))
    session.flush()


def test_weekly_counts_from_the_database(session: Session) -> None:
    for f in (InteractionFactory, ThemeFactory):
        f._meta.sqlalchemy_session = session
    x, y = ThemeFactory(), ThemeFactory()
    monday = datetime(2026, 9, 7, 12, tzinfo=UTC)
    # Theme x: 3, 0, 2 contacts in its three weeks, then 1 in a week still running.
    _contacts(
        session,
        x.id,
        [
            monday,
            monday + timedelta(days=1),
            monday + timedelta(days=6, hours=11),
            monday + timedelta(weeks=2),
            monday + timedelta(weeks=2, days=3),
            monday + timedelta(weeks=3, days=2),
        ],
    )
    # Theme y starts a week later.
    _contacts(session, y.id, [monday + timedelta(weeks=1, days=4)])
    got = weekly_series(session, [x.id, y.id])
    assert got[x.id] == (date(2026, 9, 7), [3, 0, 2])
    assert got[y.id] == (date(2026, 9, 14), [1, 0])


def test_theme_forecasts_over_the_database(session: Session) -> None:
    for f in (InteractionFactory, ThemeFactory):
        f._meta.sqlalchemy_session = session
    x, short = ThemeFactory(), ThemeFactory()
    start = datetime(2026, 6, 1, 9, tzinfo=UTC)  # a Monday
    weeks = 20
    per_week = [10 + (8 if w % 4 == 0 else 0) for w in range(weeks)]
    days = [
        start + timedelta(weeks=w, hours=3 * k)
        for w, count in enumerate(per_week)
        for k in range(count)
    ]
    _contacts(session, x.id, days)
    _contacts(session, short.id, [start + timedelta(weeks=weeks - 2)])
    # Sunday evening of the last week: that week is complete.
    _contacts(session, short.id, [start + timedelta(weeks=weeks - 1, days=6, hours=10)])
    got = theme_forecasts(session, [x.id, short.id])
    assert got[short.id] is None  # two weeks of history
    fx = got[x.id]
    assert fx is not None and fx.history_weeks == weeks
    assert fx.weeks[0].week_start == (start + timedelta(weeks=weeks)).date()
    # Week 20 is a busy one of the 4-week cycle (18), then three of 10.
    assert [round(w.expected) for w in fx.weeks] == [18, 10, 10, 10]
    assert math.isclose(fx.level, 0.9)
