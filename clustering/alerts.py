"""Emerging and spiking themes: which themes grow faster than their own past says they should.

The test, per theme, on counts of contacts by ``Interaction.created_at`` (whole UTC days):

- **Windows.** Each theme is tested over several recent windows, by default the last 7, 14 and
  21 days ending on ``as_of`` (whole weeks, so the weekday pattern cancels out), so a rise that
  started two or three weeks ago is seen in full rather than diluted. Each window has its own
  baseline, taken strictly before it: up to ``baseline_weeks`` (8) whole 7-day weeks ending the
  day before the window starts, counting only weeks that start on or after the theme's first
  contact (a young theme is not compared with weeks in which it did not exist). A window is
  tested when it has at least 2 baseline weeks.
- **Spike test.** With ``x`` contacts in a window of ``w`` days and ``S`` in ``k`` baseline
  weeks, the null hypothesis is that the window's rate is at most ``null_ratio`` (1: no rise)
  times ``f`` times the baseline rate, where ``f`` is the change in overall contact volume (see
  below). Conditional on ``n = x + S``, ``x`` is then binomial with
  ``p0 = e / (e + k)``, ``e = null_ratio * f * w / 7`` (the exact conditional test for two
  Poisson rates, which also accounts for the baseline being an estimate). The one-sided p-value
  is ``P(X >= x)``.
- **Week-to-week noise.** Real weekly volumes vary more than Poisson: ``var = m + a * m**2``
  (each week's rate gamma-distributed with shape ``1 / a``). Then, given ``n``, ``x`` is
  beta-binomial with shapes ``e / a`` and ``k / a`` (the same conditional test for gamma-Poisson
  counts). ``a`` is the larger of the theme's own estimate from its baseline weeks and the
  noise shared by all themes: the median estimate over the themes (at least 10) with at least
  5 contacts a week, on the weeks before the longest window. Eight weeks cannot measure one
  theme's noise, and an underestimate means false alarms across many themes.
- **Volume normalisation.** ``f`` is how much all contacts rose in the window against its
  baseline: the pooled ratio (window count over the count the baseline predicts) of the themes
  whose own ratio is in the interquartile range, among the themes (at least 10) with at least
  ``min_count`` contacts predicted, and never below 1. It follows a rise of all contacts (a
  seasonal peak, growth) and ignores the few themes that spike, appear or get fixed, which would
  move a plain total; the floor at 1 means normalising can only make the test stricter, never
  raise false alarms when volume falls. Pass ``normalise=False`` to compare raw rates.
- **False alarms.** All (theme, window) tests of a run form one family, controlled by Holm's
  step-down procedure at ``alpha`` = 5%: sorted by p-value, the i-th smallest (from 0) is
  rejected while ``p <= alpha / (m - i)``, with ``m`` the number of tests. The chance that any
  theme whose rate did not rise is flagged in a run is at most ``alpha`` (family-wise), however
  the windows overlap. A rejected window is an alert when the rise is also material: ``x`` is at
  least ``min_ratio`` (2x) the count the baseline predicts and at least ``min_count`` (5).
  A theme is reported once, with its strongest window (smallest p-value).
- **New.** A theme whose first contact is within ``new_days`` (14) of ``as_of`` and that has at
  least ``min_count`` contacts is new. It has no baseline, so its p-value is ``P(X >= x)`` for
  a Poisson with one contact a week over its age: how unlikely its volume would be for a
  theme that barely exists.
- **Score.** ``-log10(p)`` for both kinds, so alerts sort strongest first on one scale.
- **Parent groups.** A clusterer that splits one intent over several sibling themes spreads
  its rise too: each sibling may stay below the test while their sum would not. Each parent
  group of at least two themes (``groups``: theme id to group, from the last full run) is
  tested as one more series in the same family, the sum of its themes' counts. A group that
  fires while none of its themes fired alone is an alert of kind ``group``: its ``theme_id``
  is the member with the most recent contacts and ``members`` lists every member.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.models import Theme, ThemeMembership
from rootline.clustering.stats import as_date, contact_day, last_full_run
from rootline.ingest.models import Interaction

__all__ = [
    "DEFAULT_WINDOWS",
    "Alert",
    "ThemeVolume",
    "WindowTest",
    "find_alerts",
    "group_volumes",
    "holm_thresholds",
    "latest_contact_day",
    "shared_overdispersion",
    "spike_p_value",
    "theme_alerts",
    "theme_groups",
    "theme_volumes",
    "volume_factor",
]

_WATCHED = ("active", "proposed")
#: The p-values are floored here so a score stays finite and readable.
_MIN_P = 1e-300
#: Recent windows tested by default, in days (whole weeks).
DEFAULT_WINDOWS: tuple[int, ...] = (7, 14, 21)
#: Themes needed to estimate the overall volume change; with fewer, it is taken as 1.
_MIN_REFERENCE_THEMES = 10


@dataclass(frozen=True)
class ThemeVolume:
    """Daily contact counts of one theme, oldest first; the last day is ``as_of``."""

    theme_id: int
    title: str
    status: str
    daily: np.ndarray
    first_seen: date


@dataclass(frozen=True)
class WindowTest:
    """One recent window of one theme tested against the baseline weeks just before it.

    ``baseline_mean`` is the count the baseline predicts for a window this long (times the
    volume factor), so ``ratio = recent_count / baseline_mean``. ``threshold`` is the Holm
    threshold the p-value met, None when the test was not rejected.
    """

    days: int
    recent_count: int
    baseline_count: int
    baseline_weeks: int
    baseline_mean: float
    volume_factor: float
    ratio: float
    p_value: float
    threshold: float | None
    fired: bool


@dataclass(frozen=True)
class Alert:
    """One emerging (``new``) or spiking (``spike``) theme and the figures behind the call.

    For a spike the figures are those of the window that fired (``window_days``); ``windows``
    holds every window tested for the theme. ``tests`` is the size of the family the false-alarm
    rate is controlled over and ``method`` how (``holm``). A new theme's window is its age in
    days; it is judged by a rule, not in the family, so its ``tests`` is 0.
    """

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
    window_days: int = 7
    baseline_count: int = 0
    volume_factor: float = 1.0
    tests: int = 0
    method: str = "holm"
    windows: tuple[WindowTest, ...] = ()
    members: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The alert as JSON-ready data (``rootline alerts --json``)."""
        out = asdict(self)
        out["first_seen"] = self.first_seen.isoformat()
        out["windows"] = [asdict(w) for w in self.windows]
        return out


def _p_values(
    recent: np.ndarray,
    total: np.ndarray,
    exposure: np.ndarray,
    weeks: np.ndarray,
    noise: np.ndarray,
) -> np.ndarray:
    """``P(X >= recent)`` given ``total``: beta-binomial where ``noise > 0``, else binomial."""
    from scipy import stats

    with np.errstate(divide="ignore", invalid="ignore"):
        shape = np.where(noise > 0, 1 / np.where(noise > 0, noise, 1.0), 1.0)
        overdispersed = stats.betabinom.sf(recent - 1, total, exposure * shape, weeks * shape)
    poisson = stats.binom.sf(recent - 1, total, exposure / (exposure + weeks))
    p = np.where(noise > 0, overdispersed, poisson)
    return np.where(recent <= 0, 1.0, np.clip(p, 0.0, 1.0))


def _own_noise(baseline: Sequence[int]) -> float:
    """``a`` in ``var = m + a * m**2`` from one theme's baseline weeks, never below 0."""
    k = len(baseline)
    mean = sum(baseline) / k if k else 0.0
    if k < 2 or mean <= 0:
        return 0.0
    var = sum((c - mean) ** 2 for c in baseline) / (k - 1)
    return max(0.0, (var - mean) / mean**2)


def shared_overdispersion(
    baselines: Iterable[Sequence[int]], min_mean: float = 5.0, min_weeks: int = 4
) -> float:
    """The week-to-week noise themes share beyond Poisson: ``a`` in ``var = m + a * m**2``.

    The median over themes (with at least ``min_weeks`` baseline weeks averaging ``min_mean``
    contacts) of ``(v / c - m) / m**2``, never below 0; 0 with fewer than 10 such themes. ``c``
    is the median of a chi-square over its degrees of freedom (Wilson-Hilferty), so the median
    estimates the mean. Eight weeks are too few to measure one theme's noise, and too low an
    estimate means false alarms; the median over many themes is steady and ignores the few
    whose baseline holds a real change.
    """
    estimates = []
    for weeks in baselines:
        k = len(weeks)
        mean = sum(weeks) / k if k else 0.0
        if k >= min_weeks and mean >= min_mean:
            var = sum((c - mean) ** 2 for c in weeks) / (k - 1)
            median_share = (1 - 2 / (9 * (k - 1))) ** 3
            estimates.append((var / median_share - mean) / mean**2)
    if len(estimates) < _MIN_REFERENCE_THEMES:
        return 0.0
    return max(0.0, float(np.median(estimates)))


def spike_p_value(
    recent: int,
    baseline: Sequence[int],
    null_ratio: float = 1.0,
    *,
    window_days: int = 7,
    volume_factor: float = 1.0,
    shared_noise: float = 0.0,
) -> float:
    """One-sided p-value that ``recent`` exceeds the rate the baseline weeks predict.

    ``recent`` is the count of a ``window_days`` window and ``baseline`` the weekly counts
    before it. The exact conditional test of two Poisson rates (binomial), or of two
    gamma-Poisson rates (beta-binomial) when the weeks vary more than Poisson allows, by their
    own variance or by ``shared_noise`` (see the module docstring).
    """
    noise = max(_own_noise(baseline), shared_noise)
    exposure = null_ratio * volume_factor * window_days / 7
    total = recent + int(sum(baseline))
    return float(
        _p_values(
            np.array([recent]),
            np.array([total]),
            np.array([exposure]),
            np.array([len(baseline)]),
            np.array([noise]),
        )[0]
    )


def holm_thresholds(p_values: Sequence[float], alpha: float) -> list[float | None]:
    """Holm's step-down procedure: the threshold each p-value met, or None if not rejected.

    Sorted ascending, the i-th p-value (from 0) of ``m`` is rejected while it is at most
    ``alpha / (m - i)``; the first one above its threshold stops the procedure.
    """
    m = len(p_values)
    out: list[float | None] = [None] * m
    for rank, i in enumerate(np.argsort(np.asarray(p_values, dtype=float), kind="stable")):
        threshold = alpha / (m - rank)
        if p_values[i] > threshold:
            break
        out[int(i)] = threshold
    return out


def _score(p: float) -> float:
    return round(-math.log10(max(p, _MIN_P)), 3)


def _baseline_weeks(cumulative: Sequence[int], age: int, window: int, weeks: int) -> list[int]:
    """Whole weeks just before the window, newest first, none before the theme's first day.

    ``cumulative`` is the running total of the daily counts with a leading 0; ``age`` is the
    number of days from the first contact to ``as_of``.
    """
    out = []
    days = len(cumulative) - 1
    for w in range(1, weeks + 1):
        end = days - window - 7 * (w - 1)
        start = end - 7
        if start < 0 or window + 7 * w - 1 > age:
            break
        out.append(cumulative[end] - cumulative[start])
    return out


def volume_factor(
    pairs: Iterable[tuple[int, Sequence[int]]], window: int, min_expected: float = 5.0
) -> float:
    """How much overall contact volume rose in a window, never below 1.

    ``pairs`` are (window count, baseline weekly counts) of the themes; only themes whose
    baseline predicts at least ``min_expected`` contacts in the window take part, and at least
    ``_MIN_REFERENCE_THEMES`` of them are needed (with fewer a tide cannot be told from noise).
    The factor is the pooled ratio (window count over predicted count) of the themes whose own
    ratio lies in the interquartile range, so the few themes that spike, appear or get fixed do
    not move it, and larger themes, whose ratios are less noisy, weigh more.
    """
    recent, expected = [], []
    for count, baseline in pairs:
        predicted = sum(baseline) / len(baseline) * window / 7 if len(baseline) else 0.0
        if predicted >= min_expected:
            recent.append(count)
            expected.append(predicted)
    if len(recent) < _MIN_REFERENCE_THEMES:
        return 1.0
    counts, predicted_counts = np.array(recent, dtype=float), np.array(expected)
    ratios = counts / predicted_counts
    low, high = np.quantile(ratios, [0.25, 0.75])
    middle = (ratios >= low) & (ratios <= high)
    return max(1.0, float(counts[middle].sum() / predicted_counts[middle].sum()))


def _new_alert(vol: ThemeVolume, age: int, alpha: float, min_count: int) -> Alert | None:
    from scipy import stats

    count = int(vol.daily[-(age + 1) :].sum())
    if count < min_count:
        return None
    p = float(stats.poisson.sf(count - 1, (age + 1) / 7))
    return Alert(
        vol.theme_id,
        vol.title,
        "new",
        _score(p),
        count,
        0.0,
        0,
        None,
        p,
        alpha,
        vol.first_seen,
        window_days=age + 1,
    )


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
    windows: Sequence[int] = DEFAULT_WINDOWS,
    normalise: bool = True,
    groups: Mapping[int, int] | None = None,
) -> list[Alert]:
    """Emerging and spiking themes, strongest first (the test is in the module docstring).

    Each volume's ``daily`` must cover ``max(windows) + 7 * baseline_weeks`` days for every
    baseline week to count; shorter series are tested on the weeks they have. ``groups`` maps
    theme ids to parent groups; each group of two or more themes is tested as well.
    """
    alerts: list[Alert] = []
    spiking: list[ThemeVolume] = []
    for vol in volumes:
        age = (as_of - vol.first_seen).days
        if 0 <= age < new_days:
            if (alert := _new_alert(vol, age, alpha, min_count)) is not None:
                alerts.append(alert)
        else:
            spiking.append(vol)
    singles = len(spiking)
    members = group_volumes(spiking, groups or {})
    spiking.extend(vol for vol, _ids in members)
    # The volume factor follows themes, not groups: a group counts its themes' contacts again.
    in_factor = set(range(singles))

    # (theme index, window, recent, baseline weeks) of every test in the family
    cases: list[tuple[int, int, int, list[int]]] = []
    factors: dict[int, float] = {}
    cumulative = [[0, *np.cumsum(vol.daily).tolist()] for vol in spiking]
    ages = [(as_of - vol.first_seen).days for vol in spiking]
    for window in windows:
        found = []
        for i, running in enumerate(cumulative):
            weeks = _baseline_weeks(running, ages[i], window, baseline_weeks)
            if len(weeks) >= 2:
                found.append((i, window, running[-1] - running[-1 - window], weeks))
        cases.extend(found)
        factors[window] = (
            volume_factor(((c[2], c[3]) for c in found if c[0] in in_factor), window, min_count)
            if normalise
            else 1.0
        )
    if not cases:
        return sorted(alerts, key=lambda a: (-a.score, a.theme_id))

    # Noise is measured on the weeks before the longest window, clear of any recent change.
    shared = shared_overdispersion(
        c[3] for c in cases if c[1] == max(windows) and c[0] in in_factor
    )
    recent = np.array([c[2] for c in cases])
    total = recent + np.array([sum(c[3]) for c in cases])
    exposure = np.array([null_ratio * factors[c[1]] * c[1] / 7 for c in cases])
    k = np.array([len(c[3]) for c in cases], dtype=float)
    noise = np.array([max(_own_noise(c[3]), shared) for c in cases])
    p_values = _p_values(recent, total, exposure, k, noise)
    thresholds = holm_thresholds(list(p_values), alpha)

    per_theme: dict[int, list[WindowTest]] = defaultdict(list)
    for (i, window, x, weeks), p, threshold in zip(cases, p_values, thresholds, strict=True):
        expected = sum(weeks) / len(weeks) * window / 7 * factors[window]
        ratio = x / max(expected, 0.5 * window / 7)
        fired = threshold is not None and x >= min_count and ratio >= min_ratio
        per_theme[i].append(
            WindowTest(
                window,
                x,
                int(sum(weeks)),
                len(weeks),
                round(expected, 3),
                round(factors[window], 3),
                round(ratio, 3),
                float(p),
                threshold,
                fired,
            )
        )
    fired_themes = {
        spiking[i].theme_id
        for i, tests in per_theme.items()
        if i < singles and any(t.fired for t in tests)
    }
    for i, tests in per_theme.items():
        fired_windows = [t for t in tests if t.fired]
        if not fired_windows:
            continue
        ids: tuple[int, ...] = ()
        if i >= singles:
            ids = members[i - singles][1]
            if fired_themes & set(ids):
                continue  # a member's own alert already tells this rise
        best = min(fired_windows, key=lambda t: (t.p_value, t.days))
        vol = spiking[i]
        alerts.append(
            Alert(
                vol.theme_id,
                vol.title,
                "group" if ids else "spike",
                _score(best.p_value),
                best.recent_count,
                best.baseline_mean,
                best.baseline_weeks,
                best.ratio,
                best.p_value,
                float(best.threshold or 0.0),
                vol.first_seen,
                window_days=best.days,
                baseline_count=best.baseline_count,
                volume_factor=best.volume_factor,
                tests=len(cases),
                windows=tuple(tests),
                members=ids,
            )
        )
    return sorted(alerts, key=lambda a: (-a.score, a.theme_id))


def group_volumes(
    volumes: Sequence[ThemeVolume], groups: Mapping[int, int]
) -> list[tuple[ThemeVolume, tuple[int, ...]]]:
    """One summed series per parent group of two or more themes, with its member ids.

    The group's series is named after the member with the most contacts in the last week,
    and starts when its oldest member does.
    """
    by_group: dict[int, list[ThemeVolume]] = defaultdict(list)
    for vol in volumes:
        if vol.theme_id in groups:
            by_group[groups[vol.theme_id]].append(vol)
    out = []
    for group in sorted(by_group):
        vols = by_group[group]
        if len(vols) < 2:
            continue
        lead = max(vols, key=lambda v: (int(v.daily[-7:].sum()), int(v.daily.sum()), -v.theme_id))
        others = len(vols) - 1
        title = f"{lead.title} (and {others} related theme{'s' if others > 1 else ''})"
        daily = np.sum([v.daily for v in vols], axis=0)
        first = min(v.first_seen for v in vols)
        ids = tuple(sorted(v.theme_id for v in vols))
        out.append((ThemeVolume(lead.theme_id, title, lead.status, daily, first), ids))
    return out


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def theme_volumes(session: Session, as_of: date, days: int) -> list[ThemeVolume]:
    """Daily contact counts of active and proposed themes over ``days`` days ending ``as_of``.

    Two aggregate queries: contacts per (theme, UTC day) in the range, and each theme's first
    contact over all time; no contact row is loaded.
    """
    start = as_of - timedelta(days=days - 1)
    themes = session.execute(
        sa.select(Theme.id, Theme.title, Theme.status)
        .where(Theme.status.in_(_WATCHED))
        .order_by(Theme.id)
    ).all()
    if not themes:
        return []
    ids = [t.id for t in themes]
    first: dict[int, datetime] = dict(
        session.execute(
            sa.select(ThemeMembership.theme_id, sa.func.min(Interaction.created_at))
            .join(Interaction, Interaction.id == ThemeMembership.interaction_id)
            .where(ThemeMembership.theme_id.in_(ids), Interaction.created_at.is_not(None))
            .group_by(ThemeMembership.theme_id)
        ).all()
    )
    day = contact_day(session)
    # Core rows straight from the connection: no ORM row processing for thousands of rows.
    per_day = (
        session.connection()
        .execute(
            sa.select(ThemeMembership.theme_id, day, sa.func.count())
            .join(Interaction, Interaction.id == ThemeMembership.interaction_id)
            .where(
                ThemeMembership.theme_id.in_(ids),
                Interaction.created_at >= _day_start(start),
                Interaction.created_at < _day_start(as_of + timedelta(days=1)),
            )
            .group_by(ThemeMembership.theme_id, day)
        )
        .all()
    )
    row_of = {tid: r for r, tid in enumerate(ids)}
    daily = np.zeros((len(ids), days), dtype=np.int64)
    if per_day:
        tids, values, counts = zip(*per_day, strict=True)
        offsets = {value: (as_date(value) - start).days for value in set(values)}
        np.add.at(
            daily,
            (
                np.fromiter((row_of[t] for t in tids), dtype=np.intp, count=len(tids)),
                np.fromiter((offsets[v] for v in values), dtype=np.intp, count=len(values)),
            ),
            np.asarray(counts, dtype=np.int64),
        )
    return [
        ThemeVolume(t.id, t.title, t.status, daily[row_of[t.id]], _as_utc(first[t.id]).date())
        for t in themes
        if t.id in first
    ]


def _as_utc(at: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were stored as UTC.
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def latest_contact_day(session: Session) -> date | None:
    """The day of the newest contact that belongs to a theme, the default ``as_of``."""
    # Newest first with a limit, not max() over the join: both databases then walk the
    # created_at index backwards and stop at the first themed contact.
    at = session.scalar(
        sa.select(Interaction.created_at)
        .join(ThemeMembership, ThemeMembership.interaction_id == Interaction.id)
        .where(Interaction.created_at.is_not(None))
        .order_by(Interaction.created_at.desc())
        .limit(1)
    )
    return None if at is None else _as_utc(at).date()


def theme_alerts(session: Session, as_of: date | None = None, **options: Any) -> list[Alert]:
    """Emerging and spiking themes as of a day (default: the newest themed contact's day).

    ``options`` go to ``find_alerts`` (alpha, min_ratio, null_ratio, min_count, new_days,
    baseline_weeks, windows, normalise).
    """
    as_of = as_of or latest_contact_day(session) or datetime.now(UTC).date()
    weeks = int(options.get("baseline_weeks", 8))
    longest = max(options.get("windows", DEFAULT_WINDOWS))
    options.setdefault("groups", theme_groups(session))
    return find_alerts(theme_volumes(session, as_of, longest + 7 * weeks), as_of, **options)


def theme_groups(session: Session) -> dict[int, int]:
    """Parent group of each theme, as the last successful full run left them."""
    run = last_full_run(session)
    stored = (run.params if run else {}).get("theme_groups") or {}
    return {int(tid): int(group) for tid, group in stored.items()}
