"""Emerging and spiking themes: the spike is found, stable themes are left alone."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.alerts import ThemeVolume, find_alerts, spike_p_value, theme_alerts
from rootline.clustering.models import Theme, ThemeMembership
from rootline.ingest.models import Interaction

AS_OF = date(2026, 11, 30)


def _volumes(seed: int, spike_factor: float = 3.0, dispersion: float | None = None) -> list[ThemeVolume]:
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
        out.append(ThemeVolume(tid, f"t{tid}", "active", rng.poisson(lam),
                               AS_OF - timedelta(days=200)))
    return out


@pytest.mark.parametrize("dispersion", [None, 20.0])
def test_tripled_theme_is_the_top_alert_and_nothing_else_is_flagged(dispersion: float | None) -> None:
    for seed in range(10):
        alerts = find_alerts(_volumes(seed, dispersion=dispersion), AS_OF)
        assert [a.theme_id for a in alerts] == [3], f"seed {seed}: {alerts}"
        top = alerts[0]
        assert top.kind == "spike" and top.ratio is not None and top.ratio >= 2
        assert top.p_value <= top.threshold == pytest.approx(0.05 / 8)


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
    assert spike_p_value(0, [10, 10]) == 1.0


def test_new_theme_is_flagged_and_young_themes_are_not_spikes() -> None:
    daily = np.zeros(63, dtype=np.int64)
    daily[-5:] = 3
    young = np.zeros(63, dtype=np.int64)
    young[-20:] = 2  # 20 days old: too young for two baseline weeks, too old to be new
    alerts = find_alerts([
        ThemeVolume(1, "new", "proposed", daily, AS_OF - timedelta(days=4)),
        ThemeVolume(2, "young", "active", young, AS_OF - timedelta(days=19)),
    ], AS_OF)
    assert [(a.theme_id, a.kind, a.recent_count) for a in alerts] == [(1, "new", 15)]


def test_alerts_from_the_database_on_a_12_week_timeline(session: Session) -> None:
    from tests.factories import timeline_texts

    themes = {}
    for name in ["password_reset", "card_declined", "late_delivery", "refund_missing",
                 "app_crash", "promo_code"]:
        themes[name] = Theme(title=name, status="active")
        session.add(themes[name])
    session.flush()
    rows = timeline_texts(seed=1)
    session.execute(sa.insert(Interaction), [
        {"source": "t", "external_id": str(i), "body_raw": text, "body_clean": text,
         "created_at": at, "content_hash": f"{i:064d}", "tags": [], "extra": {}}
        for i, (text, _, at) in enumerate(rows)
    ])
    ids = dict(session.execute(sa.select(Interaction.external_id, Interaction.id)
                               .where(Interaction.source == "t")).all())
    session.execute(sa.insert(ThemeMembership), [
        {"interaction_id": ids[str(i)], "theme_id": themes[theme].id, "source": "auto"}
        for i, (_, theme, _) in enumerate(rows)
    ])
    alerts = theme_alerts(session)
    assert [a.theme_id for a in alerts] == [themes["password_reset"].id]
    assert alerts[0].as_dict()["first_seen"] < "2026-09-10"
    assert theme_alerts(session, as_of=date(2026, 11, 20)) == []
