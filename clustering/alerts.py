"""Emerging and spiking themes: which themes grow faster than their own past says they should.

The test, per theme, on counts of contacts by ``Interaction.created_at``:

- **Windows.** The recent window is the 7 days ending on ``as_of`` (inclusive). The baseline is
  up to ``baseline_weeks`` (8) whole 7-day weeks before it, counting only weeks that start on
  or after the theme's first contact, so a young theme is not compared with weeks in which it
  did not exist. A theme needs at least 2 baseline weeks to be tested.
- **Spike.** With ``x`` contacts in the recent week and ``S`` in ``k`` baseline weeks, the
  null hypothesis is that the recent weekly rate is at most ``null_ratio`` (default 1: no
  rise at all) times the baseline rate. Conditional on the total ``n = x + S``, ``x`` is then binomial with
  ``p0 = null_ratio / (k + null_ratio)`` (the exact test for comparing two Poisson rates,
  which also accounts for the baseline being an estimate). Week-to-week noise beyond Poisson
  is allowed for quasi-Poisson style: when the baseline weeks' variance ``v`` exceeds their
  mean ``m``, ``x`` and ``n`` are divided by ``v / m`` first. The one-sided p-value is
  ``P(X >= x)``. A theme is flagged when ``p <= alpha / n_tested`` (Bonferroni over the themes
  tested in the run, so the chance of any false alarm in a run is at most ``alpha`` = 5%),
  and the rise is material: ``x`` is at least ``min_ratio`` (2x) the baseline mean and at
  least ``min_count`` (5) contacts.
- **New.** A theme whose first contact is within ``new_days`` (14) of ``as_of`` and that has at
  least ``min_count`` contacts is new. It has no baseline, so its p-value is ``P(X >= x)`` for
  a Poisson with one contact a week over its age: how unlikely its volume would be for a
  theme that barely exists.
- **Score.** ``-log10(p)`` for both kinds, so alerts sort strongest first on one scale.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.models import Theme, ThemeMembership
from rootline.ingest.models import Interaction

__all__ = [
    "Alert",
    "ThemeVolume",
    "find_alerts",
    "latest_contact_day",
    "spike_p_value",
    "theme_alerts",
    "theme_volumes",
]

_WATCHED = ("active", "proposed")
#: The p-values are floored here so a score stays finite and readable.
_MIN_P = 1e-300


@dataclass(frozen=True)
class ThemeVolume:
    """Daily contact counts of one theme, oldest first; the last day is ``as_of``."""

    theme_id: int
    title: str
    status: str
    daily: np.ndarray
    first_seen: date


@dataclass(frozen=True)
class Alert:
    """One emerging (``new``) or spiking (``spike``) theme and the figures behind the call."""

    theme_id: int
    title: str
    kind: str
    score: float
    recent_count: int
    baseline_mean: float
    baseline_weeks: int
    ratio: float | None
    p_value: float
    threshold: float
    first_seen: date

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["first_seen"] = self.first_seen.isoformat()
        return out


def spike_p_value(recent: int, baseline: Sequence[int], null_ratio: float = 1.0) -> float:
    """One-sided p-value that ``recent`` exceeds ``null_ratio`` times the baseline weekly rate.

    The conditional binomial test of two Poisson rates, with quasi-Poisson scaling when the
    baseline weeks are overdispersed (see the module docstring).
    """
    from scipy import stats

    k = len(baseline)
    total = recent + int(sum(baseline))
    mean = float(np.mean(baseline)) if k else 0.0
    var = float(np.var(baseline, ddof=1)) if k > 1 else mean
    phi = var / mean if mean > 0 and var > mean else 1.0
    x, n = round(recent / phi), round(total / phi)
    if x <= 0:
        return 1.0
    return float(stats.binom.sf(x - 1, n, null_ratio / (k + null_ratio)))


def _score(p: float) -> float:
    return round(-math.log10(max(p, _MIN_P)), 3)


def find_alerts(
    volumes: Iterable[ThemeVolume],
    as_of: date,
    *,
    alpha: float = 0.05,
    min_ratio: float = 2.0,
    null_ratio: float = 1.0,
    min_count: int = 5,
    new_days: int = 14,
    baseline_weeks: int = 8,
) -> list[Alert]:
    """Emerging and spiking themes, strongest first (the test is in the module docstring)."""
    from scipy import stats

    tested: list[tuple[ThemeVolume, int, list[int]]] = []
    alerts: list[Alert] = []
    for vol in volumes:
        recent = int(vol.daily[-7:].sum())
        age = (as_of - vol.first_seen).days
        if 0 <= age < new_days:
            count = int(vol.daily[-(age + 1):].sum())
            if count >= min_count:
                p = float(stats.poisson.sf(count - 1, (age + 1) / 7))
                alerts.append(Alert(vol.theme_id, vol.title, "new", _score(p), count, 0.0, 0,
                                    None, p, alpha, vol.first_seen))
            continue
        weeks = []
        for w in range(1, baseline_weeks + 1):
            end = len(vol.daily) - 7 * w
            start = end - 7
            if start < 0 or as_of - timedelta(days=7 * w + 6) < vol.first_seen:
                break
            weeks.append(int(vol.daily[start:end].sum()))
        if len(weeks) >= 2:
            tested.append((vol, recent, weeks))
    threshold = alpha / max(len(tested), 1)
    for vol, recent, weeks in tested:
        mean = float(np.mean(weeks))
        ratio = recent / max(mean, 0.5)
        if recent < min_count or ratio < min_ratio:
            continue
        p = spike_p_value(recent, weeks, null_ratio)
        if p <= threshold:
            alerts.append(Alert(vol.theme_id, vol.title, "spike", _score(p), recent,
                                round(mean, 3), len(weeks), round(ratio, 3), p, threshold,
                                vol.first_seen))
    return sorted(alerts, key=lambda a: (-a.score, a.theme_id))


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def theme_volumes(session: Session, as_of: date, days: int) -> list[ThemeVolume]:
    """Daily contact counts of active and proposed themes over ``days`` days ending ``as_of``."""
    start = as_of - timedelta(days=days - 1)
    themes = {t.id: t for t in session.scalars(sa.select(Theme).where(Theme.status.in_(_WATCHED)))}
    if not themes:
        return []
    member = (sa.select(ThemeMembership.theme_id, Interaction.created_at)
              .join(Interaction, Interaction.id == ThemeMembership.interaction_id)
              .where(ThemeMembership.theme_id.in_(list(themes)),
                     Interaction.created_at.is_not(None)))
    first = dict(session.execute(
        sa.select(ThemeMembership.theme_id, sa.func.min(Interaction.created_at))
        .join(Interaction, Interaction.id == ThemeMembership.interaction_id)
        .where(ThemeMembership.theme_id.in_(list(themes)), Interaction.created_at.is_not(None))
        .group_by(ThemeMembership.theme_id)).all())
    daily: dict[int, np.ndarray] = defaultdict(lambda: np.zeros(days, dtype=np.int64))
    rows = session.execute(member.where(
        Interaction.created_at >= _day_start(start),
        Interaction.created_at < _day_start(as_of + timedelta(days=1)),
    ).execution_options(yield_per=5000))
    for tid, at in rows:
        daily[tid][(_as_utc(at).date() - start).days] += 1
    return [
        ThemeVolume(tid, t.title, t.status, daily[tid], _as_utc(first[tid]).date())
        for tid, t in themes.items() if tid in first
    ]


def _as_utc(at: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were stored as UTC.
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def latest_contact_day(session: Session) -> date | None:
    """The day of the newest contact that belongs to a theme, the default ``as_of``."""
    at = session.scalar(sa.select(sa.func.max(Interaction.created_at))
                        .join(ThemeMembership, ThemeMembership.interaction_id == Interaction.id))
    return None if at is None else _as_utc(at).date()


def theme_alerts(session: Session, as_of: date | None = None, **options: Any) -> list[Alert]:
    """Emerging and spiking themes as of a day (default: the newest themed contact's day).

    ``options`` go to ``find_alerts`` (alpha, min_ratio, null_ratio, min_count, new_days,
    baseline_weeks).
    """
    as_of = as_of or latest_contact_day(session) or datetime.now(UTC).date()
    weeks = int(options.get("baseline_weeks", 8))
    return find_alerts(theme_volumes(session, as_of, 7 * (weeks + 1)), as_of, **options)
