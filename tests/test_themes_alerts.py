"""Emerging and spiking themes: the spike is found, stable themes are left alone."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.alerts import (
    ThemeVolume,
    find_alerts,
    holm_thresholds,
    shared_overdispersion,
    spike_p_value,
    theme_alerts,
    volume_factor,
)
from rootline.clustering.models import Theme, ThemeMembership
from rootline.ingest.models import Interaction

AS_OF = date(2026, 11, 30)


def _volumes(
    seed: int, spike_factor: float = 3.0, dispersion: float | None = None
) -> list[ThemeVolume]:
    """Eight themes over 12 weeks; theme 3 triples in the last week when ``spike_factor`` is 3."""
    rng = np.random.default_rng(seed)
    rates = [5, 8, 12, 15, 20, 30, 45, 60]
    out = []
    for tid, rate in enumerate(rates):
        lam = np.full(84, rate / 7)
        if tid == 3:
            lam[-7:] *= spike_factor
        if dispersion and tid != 3:  # gamma-Poisson: week-to-week noise as real volumes have
            weekly = rng.gamma(dispersion, 1 / dispersion, size=12).repeat(7)
            lam = lam * weekly
        out.append(
            ThemeVolume(tid, f"t{tid}", "active", rng.poisson(lam), AS_OF - timedelta(days=200))
        )
    return out


@pytest.mark.parametrize("dispersion", [None, 20.0])
def test_tripled_theme_is_the_top_alert_and_nothing_else_is_flagged(
    dispersion: float | None,
) -> None:
    for seed in range(10):
        alerts = find_alerts(_volumes(seed, dispersion=dispersion), AS_OF)
        assert [a.theme_id for a in alerts] == [3], f"seed {seed}: {alerts}"
        top = alerts[0]
        assert top.kind == "spike" and top.ratio is not None and top.ratio >= 2
        # Holm over 8 themes x 3 windows: the strongest test meets alpha / 24.
        assert top.tests == 24 and top.method == "holm"
        assert top.p_value <= top.threshold == pytest.approx(0.05 / 24)


@pytest.mark.parametrize("dispersion", [None, 20.0])
def test_detection_and_false_alarm_rates_over_many_timelines(dispersion: float | None) -> None:
    runs = 300
    found = false_alarm = quiet_alarm = 0
    for seed in range(runs):
        alerts = find_alerts(_volumes(seed, dispersion=dispersion), AS_OF)
        found += bool(alerts) and alerts[0].theme_id == 3
        false_alarm += any(a.theme_id != 3 for a in alerts)
        quiet_alarm += bool(find_alerts(_volumes(seed, 1.0, dispersion), AS_OF))
    assert found / runs >= 0.95
    # Bonferroni bounds the chance of any false alarm in a run by alpha = 5%.
    assert false_alarm / runs <= 0.05 and quiet_alarm / runs <= 0.05


def test_p_value_is_the_conditional_binomial_and_wider_with_overdispersion() -> None:
    from scipy import stats

    assert spike_p_value(30, [10, 10, 10]) == pytest.approx(stats.binom.sf(29, 60, 1 / 4))
    assert spike_p_value(30, [2, 18, 10]) > spike_p_value(30, [10, 10, 10])
    # Noise shared by all themes widens it too: beta-binomial with shapes e/a and k/a.
    assert spike_p_value(30, [10, 10, 10], shared_noise=0.1) == pytest.approx(
        stats.betabinom.sf(29, 60, 10, 30)
    )
    assert spike_p_value(0, [10, 10]) == 1.0
    # A 14-day window against 2 baseline weeks: equal exposures, p0 = 1/2.
    assert spike_p_value(20, [10, 10], window_days=14) == pytest.approx(stats.binom.sf(19, 40, 0.5))
    # A 1.5x rise of all contacts asks 1.5x more of the theme.
    assert spike_p_value(20, [10, 10], window_days=7, volume_factor=1.5) == pytest.approx(
        stats.binom.sf(19, 40, 1.5 / 3.5)
    )


def test_new_theme_is_flagged_and_young_themes_are_not_spikes() -> None:
    daily = np.zeros(63, dtype=np.int64)
    daily[-5:] = 3
    young = np.zeros(63, dtype=np.int64)
    young[-20:] = 2  # 20 days old: too young for two baseline weeks, too old to be new
    alerts = find_alerts(
        [
            ThemeVolume(1, "new", "proposed", daily, AS_OF - timedelta(days=4)),
            ThemeVolume(2, "young", "active", young, AS_OF - timedelta(days=19)),
        ],
        AS_OF,
    )
    assert [(a.theme_id, a.kind, a.recent_count) for a in alerts] == [(1, "new", 15)]


def test_alerts_from_the_database_on_a_12_week_timeline(session: Session) -> None:
    from tests.factories import timeline_texts

    themes = {}
    for name in [
        "password_reset",
        "card_declined",
        "late_delivery",
        "refund_missing",
        "app_crash",
        "promo_code",
    ]:
        themes[name] = Theme(title=name, status="active")
        session.add(themes[name])
    session.flush()
    rows = timeline_texts(seed=1)
    session.execute(
        sa.insert(Interaction),
        [
            {
                "source": "t",
                "external_id": str(i),
                "body_raw": text,
                "body_clean": text,
                "created_at": at,
                "content_hash": f"{i:064d}",
                "tags": [],
                "extra": {},
            }
            for i, (text, _, at) in enumerate(rows)
        ],
    )
    ids = dict(
        session.execute(
            sa.select(Interaction.external_id, Interaction.id).where(Interaction.source == "t")
        ).all()
    )
    session.execute(
        sa.insert(ThemeMembership),
        [
            {"interaction_id": ids[str(i)], "theme_id": themes[theme].id, "source": "auto"}
            for i, (_, theme, _) in enumerate(rows)
        ],
    )
    alerts = theme_alerts(session)
    assert [a.theme_id for a in alerts] == [themes["password_reset"].id]
    assert alerts[0].as_dict()["first_seen"] < "2026-09-10"
    assert theme_alerts(session, as_of=date(2026, 11, 20)) == []


def test_holm_steps_down_and_stops_at_the_first_miss() -> None:
    assert holm_thresholds([0.001, 0.02, 0.04], 0.05) == pytest.approx([0.05 / 3, 0.05 / 2, 0.05])
    found = holm_thresholds([0.01, 0.04, 0.03, 0.5], 0.05)
    assert found[0] == pytest.approx(0.05 / 4) and found[1:] == [None, None, None]
    assert holm_thresholds([], 0.05) == []


def test_each_window_is_tested_against_the_weeks_strictly_before_it() -> None:
    daily = np.ones(77, dtype=np.int64)
    daily[-14:] = 3  # the rise started 14 days ago
    alerts = find_alerts(
        [ThemeVolume(1, "rise", "active", daily, AS_OF - timedelta(days=300))],
        AS_OF,
        normalise=False,
    )
    windows = {w.days: w for w in alerts[0].windows}
    assert (windows[14].recent_count, windows[14].baseline_count, windows[14].baseline_weeks) == (
        42,
        56,
        8,
    )
    assert windows[14].baseline_mean == 14 and windows[14].ratio == 3
    # The 7-day window's baseline holds the first week of the rise, the 21-day one none of it.
    assert (windows[7].recent_count, windows[7].baseline_count) == (21, 49 + 21)
    assert (windows[21].recent_count, windows[21].baseline_count) == (42 + 7, 56)
    top = alerts[0]
    assert top.kind == "spike" and top.window_days == 14 and top.baseline_count == 56
    data = top.as_dict()
    assert {w["days"] for w in data["windows"]} == {7, 14, 21}
    assert data["window_days"] == 14 and data["tests"] == 3 and data["first_seen"] == "2026-02-03"


def _story(
    seed: int,
    rise_days: int,
    factor: float,
    n_themes: int = 20,
    declining: int | None = None,
    fix_days: int = 30,
    dispersion: float | None = None,
) -> list[ThemeVolume]:
    """``n_themes`` themes over 77 days; theme 0 rises ``factor`` times over the last
    ``rise_days`` days, theme ``declining`` falls to a tenth ``fix_days`` days ago. With
    ``dispersion``, each week's rate is gamma-distributed around the theme's (shape
    ``dispersion``), the extra week-to-week noise real volumes have."""
    rng = np.random.default_rng(seed)
    out = []
    for tid in range(n_themes):
        lam = np.full(77, rng.uniform(0.5, 8.0))
        if dispersion:
            lam *= rng.gamma(dispersion, 1 / dispersion, size=11).repeat(7)
        if tid == 0 and rise_days:
            lam[-rise_days:] *= factor
        if tid == declining:
            lam[-fix_days:] *= 0.1
        out.append(
            ThemeVolume(tid, f"t{tid}", "active", rng.poisson(lam), AS_OF - timedelta(days=400))
        )
    return out


def test_a_rise_spread_over_two_or_three_weeks_is_found_in_a_longer_window() -> None:
    found = 0
    for seed in range(40):
        # Like the demo's checkout theme: 3.5x from 17 days before the last day of data.
        story = _story(seed, rise_days=17, factor=3.5)
        story[0] = replace(
            story[0],
            daily=np.random.default_rng(seed).poisson(
                np.r_[np.full(60, 1.6), np.full(17, 1.6 * 3.5)]
            ),
        )
        alerts = find_alerts(story, AS_OF)
        assert all(a.theme_id == 0 for a in alerts), f"seed {seed}: {alerts}"
        if alerts:
            found += 1
            assert alerts[0].window_days in (14, 21) and alerts[0].ratio >= 2
    assert found >= 38


def test_a_declining_theme_is_never_a_spike() -> None:
    for seed in range(30):
        for fix_days in (3, 10, 20, 30, 45, 60):
            alerts = find_alerts(
                _story(seed, 0, 1.0, declining=1, fix_days=fix_days), AS_OF, min_ratio=1.0
            )
            assert 1 not in {a.theme_id for a in alerts}, (seed, fix_days)


@pytest.mark.parametrize(("min_ratio", "dispersion"), [(2.0, None), (1.0, None), (1.0, 20.0)])
def test_false_alarm_rate_over_200_stable_themes_is_at_most_alpha(
    min_ratio: float, dispersion: float | None
) -> None:
    """Holm over 200 themes x 3 windows: at most a 5% chance per run of flagging any of them,
    even without the 2x materiality floor (``min_ratio=1`` leaves the test alone), and with
    weekly rates that vary 22% beyond Poisson (gamma shape 20)."""
    runs, alarms = 100, 0
    for seed in range(runs):
        story = _story(seed, 0, 1.0, n_themes=200, dispersion=dispersion)
        alarms += bool(find_alerts(story, AS_OF, min_ratio=min_ratio))
    assert alarms / runs <= 0.05


def test_shared_week_to_week_noise_is_measured_across_themes() -> None:
    story = _story(0, 0, 1.0, n_themes=200, dispersion=20.0)
    weeks = [[int(v.daily[s : s + 7].sum()) for s in range(0, 56, 7)] for v in story]
    assert 0.03 <= shared_overdispersion(weeks) <= 0.08  # the truth is 1 / 20
    assert shared_overdispersion(weeks[:9]) == 0.0  # too few themes to tell
    poisson = [
        [int(v.daily[s : s + 7].sum()) for s in range(0, 56, 7)] for v in _story(0, 0, 1.0, 200)
    ]
    assert shared_overdispersion(poisson) <= 0.01


def test_a_rise_of_all_contacts_is_not_a_spike_unless_normalising_is_off() -> None:
    story = _story(3, 0, 1.0, n_themes=30)
    tide = [
        replace(
            v,
            daily=v.daily
            + np.random.default_rng(v.theme_id).poisson(
                np.r_[np.zeros(63), np.full(14, v.daily.mean() * 1.5)]
            ),
        )
        for v in story
    ]
    # The pooled ratio of the middle half: the 2 outliers (a spike, a fix) do not count.
    pairs = [(25, [10] * 8)] * 9 + [(20, [8] * 8), (100, [10] * 8), (1, [10] * 8)]
    assert volume_factor(pairs, 7) == pytest.approx(2.5)
    assert volume_factor(pairs[:9], 7) == 1.0  # too few themes to tell a tide from noise
    assert volume_factor([(5, [10] * 8)] * 12, 7) == 1.0  # never below 1
    assert find_alerts(tide, AS_OF) == []
    assert len(find_alerts(tide, AS_OF, normalise=False)) >= 5
    # A theme that rises 6x during the tide still stands out.
    tide[0] = replace(
        tide[0], daily=tide[0].daily + np.r_[np.zeros(63, dtype=np.int64), np.full(14, 15)]
    )
    assert [a.theme_id for a in find_alerts(tide, AS_OF)] == [0]


def _demo_gold_volumes(as_of: date, days: int) -> list[ThemeVolume]:
    """Daily counts of the demo's gold themes (what perfect clustering would give)."""
    import csv
    from pathlib import Path

    fixtures = Path(__file__).resolve().parent.parent / "fixtures"

    def read(name: str) -> list[dict[str, str]]:
        with (fixtures / name).open(encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))

    gold = {(r["source"], r["external_id"]): r["theme"] for r in read("demo_gold.csv")}
    days_of: dict[str, list[date]] = {}
    for r in read("demo_helpdesk.csv"):
        day = date.fromisoformat(r["created_at"][:10])
        days_of.setdefault(gold["helpdesk", r["ticket_id"]], []).append(day)
    for r in read("demo_contact_center.csv"):
        d, m, y = r["timestamp"][:10].split("/")
        days_of.setdefault(gold["contact_center", r["interaction_id"]], []).append(
            date(int(y), int(m), int(d))
        )
    start = as_of - timedelta(days=days - 1)
    out = []
    for tid, (theme, seen) in enumerate(sorted(days_of.items())):
        if theme == "noise":
            continue
        daily = np.zeros(days, dtype=np.int64)
        for day in seen:
            if start <= day <= as_of:
                daily[(day - start).days] += 1
        out.append(ThemeVolume(tid, theme, "active", daily, min(seen)))
    return out


def test_the_demo_story_spike_and_new_theme_are_flagged_and_nothing_else() -> None:
    as_of = date(2026, 11, 15)  # the demo's last day of data
    alerts = find_alerts(_demo_gold_volumes(as_of, 21 + 56), as_of)
    found = {a.title: a for a in alerts}
    assert set(found) == {"checkout_payment_error", "parcel_locker_code"}, alerts
    assert found["parcel_locker_code"].kind == "new"
    spike = found["checkout_payment_error"]
    # The rise began 17 days before the end: a longer window sees it whole.
    assert spike.kind == "spike" and spike.window_days in (14, 21) and spike.ratio >= 2.5
    # Before the checkout release nothing is flagged; the fixed password theme never is.
    assert find_alerts(_demo_gold_volumes(date(2026, 10, 29), 77), date(2026, 10, 29)) == []


def _reference_alerts(session: Session, as_of: date | None = None) -> list[tuple[Any, ...]]:
    """Alerts computed the plain way: every themed contact loaded, one theme and window at a
    time, through the public one-test helpers. (theme, kind, p-value, window p-values)."""
    from scipy import stats as sps

    rows = session.execute(
        sa.select(ThemeMembership.theme_id, Interaction.created_at)
        .join(Interaction, Interaction.id == ThemeMembership.interaction_id)
        .join(Theme, Theme.id == ThemeMembership.theme_id)
        .where(Theme.status.in_(["active", "proposed"]), Interaction.created_at.is_not(None))
    ).all()
    days_of: dict[int, list[date]] = {}
    for tid, at in rows:
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        days_of.setdefault(tid, []).append(at.date())
    as_of = as_of or max(d for ds in days_of.values() for d in ds)
    windows, n_weeks, alpha = (7, 14, 21), 8, 0.05
    out: list[tuple[Any, ...]] = []
    cases = []  # (theme, window, recent, baseline weeks newest first)
    for tid in sorted(days_of):
        first, ds = min(days_of[tid]), days_of[tid]
        age = (as_of - first).days
        if 0 <= age < 14:
            count = sum(1 for d in ds if first <= d <= as_of)
            if count >= 5:
                out.append((tid, "new", float(sps.poisson.sf(count - 1, (age + 1) / 7)), ()))
            continue
        span = max(windows) + 7 * n_weeks  # the days theme_alerts looks back over
        for window in windows:
            weeks = []
            for w in range(1, n_weeks + 1):
                back = window + 7 * w  # the week is the days back-7 .. back-1 before as_of
                if back > span or back - 1 > age:
                    break
                weeks.append(sum(1 for d in ds if back - 7 <= (as_of - d).days < back))
            if len(weeks) >= 2:
                recent = sum(1 for d in ds if 0 <= (as_of - d).days < window)
                cases.append((tid, window, recent, weeks))
    factors = {
        w: volume_factor([(c[2], c[3]) for c in cases if c[1] == w], w, 5.0) for w in windows
    }
    shared = shared_overdispersion(c[3] for c in cases if c[1] == max(windows))
    p_values = [
        spike_p_value(x, weeks, window_days=w, volume_factor=factors[w], shared_noise=shared)
        for _, w, x, weeks in cases
    ]
    thresholds = holm_thresholds(p_values, alpha)
    by_theme: dict[int, list[tuple[float, int, bool]]] = {}
    for (tid, w, x, weeks), p, threshold in zip(cases, p_values, thresholds, strict=True):
        expected = sum(weeks) / len(weeks) * w / 7 * factors[w]
        fired = threshold is not None and x >= 5 and x / max(expected, 0.5 * w / 7) >= 2.0
        by_theme.setdefault(tid, []).append((p, w, fired))
    for tid, tests in by_theme.items():
        if fired := [(p, w) for p, w, f in tests if f]:
            out.append((tid, "spike", min(fired)[0], tuple(p for p, _, _ in tests)))
    return out


def _generated_timeline(session: Session) -> None:
    """30 themes over 16 weeks to 2026-11-30: steady, noisy, rising, falling, young and new
    themes, contacts at any time of day, some after a historical ``as_of``; one archived."""
    rng = np.random.default_rng(11)
    themes = [
        Theme(title=f"g{i}", status="archived" if i == 29 else ("proposed" if i % 7 else "active"))
        for i in range(30)
    ]
    session.add_all(themes)
    session.flush()
    end = datetime(2026, 11, 30, tzinfo=UTC)
    contacts = []
    for i, theme in enumerate(themes):
        lam = np.full(112, rng.uniform(0.3, 6.0))
        lam *= rng.gamma(10.0, 0.1, size=16).repeat(7)
        if i in (3, 4):
            lam[-10 - i :] *= 4  # rises over the last two weeks
        if i == 5:
            lam[-30:] *= 0.1
        if i in (6, 7):
            lam[:-i] = 0  # new themes, 6 and 7 days old
            lam[-i:] = 2.0
        if i == 8:
            lam[:-30] = 0  # young: 30 days old
        for day, n in enumerate(rng.poisson(lam)):
            for _ in range(n):
                seconds = int(rng.integers(0, 86_400))
                contacts.append((theme.id, end - timedelta(days=111 - day, seconds=-seconds)))
    session.execute(
        sa.insert(Interaction),
        [
            {
                "source": "gen",
                "external_id": str(k),
                "body_raw": "x",
                "body_clean": "x",
                "created_at": at,
                "content_hash": f"{k:064d}",
                "tags": [],
                "extra": {},
            }
            for k, (_, at) in enumerate(contacts)
        ],
    )
    ids = dict(
        session.execute(
            sa.select(Interaction.external_id, Interaction.id).where(Interaction.source == "gen")
        ).all()
    )
    session.execute(
        sa.insert(ThemeMembership),
        [
            {"interaction_id": ids[str(k)], "theme_id": tid, "source": "auto"}
            for k, (tid, _) in enumerate(contacts)
        ],
    )


@pytest.mark.parametrize("as_of", [None, date(2026, 11, 21), date(2026, 10, 2)])
def test_alerts_from_the_database_match_a_plain_reference_computation(
    session: Session, as_of: date | None
) -> None:
    _generated_timeline(session)
    expected = _reference_alerts(session, as_of)
    found = theme_alerts(session, as_of=as_of)
    if as_of is None:  # the timeline has both kinds, so both paths are compared
        assert {a[1] for a in expected} == {"new", "spike"}
    assert sorted((a.theme_id, a.kind) for a in found) == sorted(a[:2] for a in expected)
    by_id = {a.theme_id: a for a in found}
    for tid, _, p, window_ps in expected:
        assert by_id[tid].p_value == pytest.approx(p, rel=1e-12, abs=1e-300)
        assert [w.p_value for w in by_id[tid].windows] == pytest.approx(window_ps, rel=1e-12)
