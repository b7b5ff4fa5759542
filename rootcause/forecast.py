"""Expected contacts per week: additive Holt-Winters, chosen by a back-test, with an interval.

``forecast_series`` works on a plain list of weekly counts, so it is tested without a
database; ``theme_forecasts`` reads each theme's weekly counts in one query and calls it.

The method, in words:

- Candidate models are exponential smoothing of the level, with or without a trend, and with
  or without a seasonal pattern of 4, 13 or 52 weeks (a season is a candidate only when the
  history before the back-test holds at least two of them).
- Each candidate's smoothing weights are chosen on the history before the back-test (least
  squares of one-week-ahead errors over a small grid), then it forecasts 1-4 weeks ahead from
  each of the last ``BACKTEST_ORIGINS`` weeks it has not seen; the candidate with the smallest
  mean absolute error wins. The same back-test scores a naive forecast (the mean of the 4
  weeks before), so the report shows whether the model beats it.
- The winner is refitted on the whole history. Its interval is the normal one of the
  additive model (ETS(A,A,A) variance of an h-week-ahead forecast), never narrower than the
  Poisson spread of a count, cut at 0.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.models import ThemeMembership
from rootline.clustering.stats import as_date, contact_day
from rootline.ingest.models import Interaction

__all__ = [
    "BACKTEST_ORIGINS",
    "HORIZON",
    "INTERVAL_LEVEL",
    "MIN_WEEKS",
    "Backtest",
    "Forecast",
    "ForecastWeek",
    "forecast_series",
    "last_complete_week",
    "theme_forecasts",
    "weekly_series",
]

#: Weeks ahead that are forecast.
HORIZON = 4
#: Weeks of history below which no forecast is made.
MIN_WEEKS = 8
#: The last weeks from which the back-test forecasts (each 1 to ``HORIZON`` weeks ahead).
BACKTEST_ORIGINS = 8
#: Probability that a week's count falls inside its interval, if the model is right.
INTERVAL_LEVEL = 0.9
#: Seasons (in weeks) tried: about a month, a quarter, a year.
SEASONS = (4, 13, 52)

_ALPHAS = (0.1, 0.2, 0.35, 0.5, 0.7, 0.9)
_BETAS = (0.02, 0.1)
_GAMMAS = (0.0, 0.1, 0.3)


@dataclass(frozen=True)
class ForecastWeek:
    """Expected contacts in the week that starts on Monday ``week_start``."""

    week_start: date
    expected: float
    low: float
    high: float


@dataclass(frozen=True)
class Backtest:
    """How well the chosen model forecast the weeks it had not seen.

    ``mae`` and ``naive_mae`` are mean absolute errors in contacts per week over every
    (origin, weeks ahead) pair; ``wape`` is the summed absolute error over the summed actual
    contacts; ``coverage`` the share of actual weeks inside their interval.
    """

    origins: int
    forecasts: int
    mae: float
    wape: float | None
    coverage: float
    naive_mae: float


@dataclass(frozen=True)
class Forecast:
    """A theme's next weeks, the model behind them and its back-test."""

    method: str
    season_weeks: int | None
    trend: bool
    level: float
    history_weeks: int
    weeks: list[ForecastWeek]
    backtest: Backtest | None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready forecast (dates as ISO strings)."""
        data = asdict(self)
        for w in data["weeks"]:
            w["week_start"] = w["week_start"].isoformat()
        return data


@dataclass(frozen=True)
class _Model:
    season: int | None
    trend: bool
    alpha: float = 0.0
    beta: float = 0.0
    gamma: float = 0.0

    @property
    def name(self) -> str:
        parts = ["level"] + (["trend"] if self.trend else [])
        if self.season:
            parts.append(f"{self.season}-week season")
        return "exponential smoothing: " + " + ".join(parts)


@dataclass(frozen=True)
class _Fit:
    level: float
    slope: float
    seasonal: list[float]
    errors: list[float]
    # Index of the next week within the season.
    phase: int


def _initial(y: Sequence[float], model: _Model) -> tuple[float, float, list[float]]:
    """Level and slope just before the first week, and the seasonal offsets."""
    m = model.season
    if m:
        first = statistics.fmean(y[:m])
        slope = (statistics.fmean(y[m : 2 * m]) - first) / m if model.trend else 0.0
        seasons = len(y) // m
        seasonal = [
            statistics.fmean(
                y[k * m + i] - statistics.fmean(y[k * m : (k + 1) * m]) for k in range(seasons)
            )
            for i in range(m)
        ]
        # The first season's mean sits at its middle week; step back to before week 0.
        return first - slope * ((m - 1) / 2 + 1), slope, seasonal
    k = min(4, len(y))
    first = statistics.fmean(y[:k])
    slope = 0.0
    if model.trend and len(y) >= 2 * k:
        slope = (statistics.fmean(y[k : 2 * k]) - first) / k
    return first - slope * ((k - 1) / 2 + 1), slope, []


def _fit(y: Sequence[float], model: _Model) -> _Fit:
    """Run the error-correction form of additive Holt-Winters through ``y``."""
    level, slope, seasonal = _initial(y, model)
    seasonal = list(seasonal)
    m = model.season or 0
    errors = []
    for t, value in enumerate(y):
        s = seasonal[t % m] if m else 0.0
        error = value - (level + slope + s)
        errors.append(error)
        level = level + slope + model.alpha * error
        slope = slope + model.beta * error
        if m:
            seasonal[t % m] = s + model.gamma * error
    return _Fit(level, slope, seasonal, errors, len(y) % m if m else 0)


def _predict(fit: _Fit, model: _Model, horizon: int) -> list[float]:
    m = model.season or 0
    return [
        fit.level + h * fit.slope + (fit.seasonal[(fit.phase + h - 1) % m] if m else 0.0)
        for h in range(1, horizon + 1)
    ]


def _warmup(model: _Model) -> int:
    return model.season or 4


def _tuned(y: Sequence[float], model: _Model) -> _Model:
    """``model`` with the grid's smoothing weights of least one-week-ahead squared error."""
    best: tuple[float, _Model] | None = None
    warm = _warmup(model)
    for alpha in _ALPHAS:
        for beta in _BETAS if model.trend else (0.0,):
            for gamma in _GAMMAS if model.season else (0.0,):
                if beta > alpha or gamma > 1 - alpha:
                    continue
                trial = _Model(model.season, model.trend, alpha, beta, gamma)
                sse = sum(e * e for e in _fit(y, trial).errors[warm:])
                if best is None or sse < best[0] - 1e-9:
                    best = (sse, trial)
    assert best is not None
    return best[1]


def _spread(fit: _Fit, model: _Model, expected: list[float], z: float) -> list[float]:
    """Half-width of each week's interval: ETS(A,A,A) forecast variance, at least Poisson."""
    errors = fit.errors[_warmup(model) :]
    params = 1 + (1 if model.trend else 0) + (1 if model.season else 0)
    dof = max(len(errors) - params, 1)
    sigma2 = sum(e * e for e in errors) / dof
    m = model.season or 0
    out = []
    for h, mean in enumerate(expected, start=1):
        total = 1.0
        for j in range(1, h):
            c = model.alpha + model.beta * j + (model.gamma if m and j % m == 0 else 0.0)
            total += c * c
        out.append(z * math.sqrt(max(sigma2 * total, max(mean, 0.0))))
    return out


def _candidates(train_weeks: int) -> list[_Model]:
    models = [_Model(None, False), _Model(None, True)]
    for m in SEASONS:
        if train_weeks >= 2 * m:
            models += [_Model(m, False), _Model(m, True)]
    return models


def forecast_series(
    counts: Sequence[float],
    *,
    last_week: date | None = None,
    horizon: int = HORIZON,
    level: float = INTERVAL_LEVEL,
) -> Forecast | None:
    """Forecast the weeks after a series of weekly counts, oldest first.

    Args:
        counts: contacts per week, consecutive, oldest first, the last one complete.
        last_week: the Monday of the last week in ``counts``; forecast weeks follow it
            (default: weeks are numbered from 1970-01-05, a Monday).
        horizon: weeks to forecast.
        level: probability of the interval.

    Returns:
        The forecast, or None with fewer than ``MIN_WEEKS`` weeks of history.
    """
    y = [float(c) for c in counts]
    n = len(y)
    if n < MIN_WEEKS:
        return None
    z = statistics.NormalDist().inv_cdf(0.5 + level / 2)
    # The last origins whose every week ahead is known, the same for every model.
    first = max(n - horizon - BACKTEST_ORIGINS + 1, MIN_WEEKS // 2)
    origins = list(range(first, n - horizon + 1))
    first_origin = origins[0] if origins else n
    best: tuple[float, _Model, Backtest] | None = None
    for base in _candidates(first_origin):
        model = _tuned(y[:first_origin], base)
        errors, naive, covered, actual = [], [], 0, 0.0
        for o in origins:
            train = y[:o]
            fit = _fit(train, model)
            expected = _predict(fit, model, horizon)
            spread = _spread(fit, model, expected, z)
            mean4 = statistics.fmean(train[-4:])
            for h in range(horizon):
                truth = y[o + h]
                errors.append(abs(truth - expected[h]))
                naive.append(abs(truth - mean4))
                covered += max(expected[h] - spread[h], 0.0) <= truth <= expected[h] + spread[h]
                actual += truth
        if not errors:
            continue
        mae = statistics.fmean(errors)
        report = Backtest(
            origins=len(origins),
            forecasts=len(errors),
            mae=round(mae, 3),
            wape=round(sum(errors) / actual, 4) if actual else None,
            coverage=round(covered / len(errors), 4),
            naive_mae=round(statistics.fmean(naive), 3),
        )
        # A richer model must do strictly better to be chosen.
        if best is None or mae < best[0] - 1e-9:
            best = (mae, base, report)
    if best is None:
        return None
    _, base, report = best
    model = _tuned(y, base)
    fit = _fit(y, model)
    expected = _predict(fit, model, horizon)
    spread = _spread(fit, model, expected, z)
    start = last_week or date(1970, 1, 5) + timedelta(weeks=n - 1)
    weeks = [
        ForecastWeek(
            week_start=start + timedelta(weeks=h + 1),
            expected=round(max(e, 0.0), 2),
            low=round(max(e - s, 0.0), 2),
            high=round(max(e + s, 0.0), 2),
        )
        for h, (e, s) in enumerate(zip(expected, spread, strict=True))
    ]
    return Forecast(
        method=model.name,
        season_weeks=model.season,
        trend=model.trend,
        level=level,
        history_weeks=n,
        weeks=weeks,
        backtest=report,
    )


def last_complete_week(newest: datetime) -> date:
    """The Monday of the last whole week of data: the newest contact's week if that contact
    is on its Sunday, else the week before (a week still running would read as a drop)."""
    monday = newest.date() - timedelta(days=newest.weekday())
    return monday if newest.weekday() == 6 else monday - timedelta(weeks=1)


def weekly_series(
    session: Session, theme_ids: Iterable[int], *, last_week: date | None = None
) -> dict[int, tuple[date, list[int]]]:
    """Each theme's contacts per week, from the week of its first contact to ``last_week``
    (default: the last complete week of all data), keyed by theme: (first Monday, counts).

    Themes without dated contacts up to then are left out.
    """
    ids = list(dict.fromkeys(int(t) for t in theme_ids))
    if not ids:
        return {}
    if last_week is None:
        newest = session.scalar(sa.select(sa.func.max(Interaction.created_at)))
        if newest is None:
            return {}
        last_week = last_complete_week(newest)
    day = contact_day(session)
    rows = session.execute(
        sa.select(ThemeMembership.theme_id, day, sa.func.count())
        .select_from(ThemeMembership)
        .join(Interaction, Interaction.id == ThemeMembership.interaction_id)
        .where(ThemeMembership.theme_id.in_(ids), Interaction.created_at.is_not(None))
        .group_by(ThemeMembership.theme_id, day)
    )
    per_week: dict[int, Counter[date]] = defaultdict(Counter)
    for tid, value, count in rows:
        d = as_date(value)
        monday = d - timedelta(days=d.weekday())
        if monday <= last_week:
            per_week[int(tid)][monday] += int(count)
    out = {}
    for tid, weeks in per_week.items():
        first = min(weeks)
        n = (last_week - first).days // 7 + 1
        out[tid] = (first, [weeks.get(first + timedelta(weeks=i), 0) for i in range(n)])
    return out


def theme_forecasts(
    session: Session, theme_ids: Iterable[int], *, horizon: int = HORIZON
) -> dict[int, Forecast | None]:
    """Each theme's forecast for the ``horizon`` weeks after the last complete week of data
    (None: under ``MIN_WEEKS`` weeks of history)."""
    ids = list(dict.fromkeys(int(t) for t in theme_ids))
    newest = session.scalar(sa.select(sa.func.max(Interaction.created_at)))
    if newest is None:
        return dict.fromkeys(ids)
    last = last_complete_week(newest)
    series = weekly_series(session, ids, last_week=last)
    out: dict[int, Forecast | None] = {}
    for tid in ids:
        if tid not in series:
            out[tid] = None
            continue
        _, counts = series[tid]
        out[tid] = forecast_series(counts, last_week=last, horizon=horizon)
    return out
