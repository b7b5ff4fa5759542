"""Loaders and page contexts of the impact pages: figures by dimension, forecasts, service
quality and account books, shared by each page, its CSV and its JSON twin; and the geometry
of their inline SVG charts (bars that compare groups, a weekly line, the forecast band).

Costly figures are kept in the app's figure cache, keyed by the data fingerprint, so an
ingest, a run or an edit shows at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import Query, Request
from sqlalchemy.orm import Session

from rootline.errors import InputError
from rootline.rootcause.accounts import AccountBook, OwnerSummary, account_book, account_owners
from rootline.rootcause.breakdown import BUILTIN_DIMENSIONS, Breakdown, breakdown
from rootline.rootcause.forecast import Forecast, theme_forecasts, weekly_series
from rootline.rootcause.surveys import QualityRank, service_quality
from rootline.web.cache import data_fingerprint
from rootline.web.deps import get_figures

__all__ = [
    "DIMENSIONS",
    "BandChart",
    "Window",
    "bars",
    "cached_book",
    "cached_breakdown",
    "cached_forecasts",
    "cached_quality",
    "forecast_chart",
    "owners",
    "window",
]

#: The dimensions the page offers; any extra field's name works in the query string too.
DIMENSIONS = (*BUILTIN_DIMENSIONS, "product", "region", "team", "branch", "queue")


@dataclass(frozen=True)
class Window:
    """A window of contact days, both ends included; None: open."""

    date_from: date | None = None
    date_to: date | None = None

    @property
    def since(self) -> datetime | None:
        return datetime.combine(self.date_from, time(), UTC) if self.date_from else None

    @property
    def until(self) -> datetime | None:
        if self.date_to is None:
            return None
        return datetime.combine(self.date_to + timedelta(days=1), time(), UTC)

    def params(self) -> dict[str, str]:
        return {
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
        }


def _day(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{value!r} is not a date (YYYY-MM-DD)", field=name) from None


def window(
    date_from: Annotated[
        str, Query(max_length=10, description="First day, YYYY-MM-DD (UTC).")
    ] = "",
    date_to: Annotated[
        str, Query(max_length=10, description="Last day, YYYY-MM-DD, included.")
    ] = "",
) -> Window:
    """The window from the query string (shared by the pages and the API)."""
    found = Window(_day(date_from, "date_from"), _day(date_to, "date_to"))
    if found.date_from and found.date_to and found.date_to < found.date_from:
        raise InputError("date_to is before date_from", field="date_to")
    return found


def _costs(request: Request) -> dict[str, float]:
    return dict(request.app.state.settings.contact_costs)


def cached_breakdown(
    request: Request,
    session: Session,
    by: str,
    win: Window,
    theme_ids: Sequence[int] | None = None,
) -> Breakdown:
    """``breakdown`` of the window, from the cache while the data is unchanged."""
    ids = tuple(theme_ids) if theme_ids else None
    key = ("breakdown", data_fingerprint(session), by, win, ids)
    return get_figures(request).get(
        key,
        lambda: breakdown(
            session,
            by,
            since=win.since,
            until=win.until,
            theme_ids=ids,
            costs=_costs(request),
        ),
    )


def cached_forecasts(
    request: Request, session: Session, theme_ids: Sequence[int]
) -> dict[int, Forecast | None]:
    """Each theme's forecast, from the cache while the data is unchanged."""
    key = ("forecast", data_fingerprint(session), tuple(theme_ids))
    return get_figures(request).get(key, lambda: theme_forecasts(session, theme_ids))


def cached_quality(
    request: Request, session: Session, by: str, win: Window, min_answers: int
) -> list[QualityRank]:
    """``service_quality`` of the window, from the cache while the data is unchanged."""
    key = ("quality", data_fingerprint(session), by, win, min_answers)
    return get_figures(request).get(
        key,
        lambda: service_quality(
            session, by, since=win.since, until=win.until, min_answers=min_answers
        ),
    )


def owners(session: Session) -> list[OwnerSummary]:
    """Every account owner with the size and value of their book."""
    return account_owners(session)


def cached_book(request: Request, session: Session, owner: str, win: Window) -> AccountBook | None:
    """An owner's book over the window, from the cache while the data is unchanged."""
    key = ("book", data_fingerprint(session), owner.lower(), win)
    return get_figures(request).get(
        key,
        lambda: account_book(
            session, owner, since=win.since, until=win.until, costs=_costs(request)
        ),
    )


@dataclass(frozen=True)
class Bar:
    """A bar's length as a percentage of the longest, for a CSS or SVG bar."""

    label: str
    value: float
    percent: float


def bars(values: Sequence[tuple[str, float | None]]) -> list[Bar]:
    """Bars scaled so the largest value fills the track (missing values: empty bars)."""
    peak = max((v for _, v in values if v is not None and v > 0), default=0.0)
    return [
        Bar(label, v or 0.0, round(100 * (v or 0.0) / peak, 1) if peak and v and v > 0 else 0.0)
        for label, v in values
    ]


@dataclass(frozen=True)
class BandChart:
    """A weekly line of actual contacts followed by the forecast and its band, in SVG units."""

    width: int
    height: int
    baseline: float
    history: str
    expected: str
    band: str
    split_x: float
    peak: float
    first_label: str
    last_label: str
    ticks: list[tuple[float, str]] = field(default_factory=list)
    summary: str = ""


def forecast_chart(
    weeks: Sequence[tuple[date, int]],
    forecast: Forecast,
    *,
    width: int = 560,
    height: int = 160,
) -> BandChart:
    """Lay out the last weeks of contacts and the forecast band on one scale.

    Args:
        weeks: (Monday, contacts) of the weeks shown, oldest first, ending with the last
            week the forecast starts from.
        forecast: the theme's forecast.
        width: width of the drawing.
        height: height of the drawing, with a strip for the axis labels.
    """
    top, axis = 12.0, 18.0
    plot = height - top - axis
    baseline = top + plot
    slots = len(weeks) + len(forecast.weeks)
    step = width / max(slots - 1, 1)
    peak = max([float(c) for _, c in weeks] + [w.high for w in forecast.weeks] + [1.0])

    def y(v: float) -> float:
        return round(baseline - plot * v / peak, 1)

    history = " ".join(f"{i * step:.1f},{y(c)}" for i, (_, c) in enumerate(weeks))
    start = len(weeks) - 1
    last = weeks[-1][1] if weeks else 0
    points = [(start * step, float(last), float(last), float(last))] + [
        ((start + 1 + i) * step, w.expected, w.low, w.high) for i, w in enumerate(forecast.weeks)
    ]
    expected = " ".join(f"{x:.1f},{y(e)}" for x, e, _, _ in points)
    band = " ".join(
        [f"{x:.1f},{y(h)}" for x, _, _, h in points]
        + [f"{x:.1f},{y(lo)}" for x, _, lo, _ in reversed(points)]
    )
    labels = [d for d, _ in weeks] + [w.week_start for w in forecast.weeks]
    ticks = [(round(i * step, 1), d.strftime("%d %b")) for i, d in enumerate(labels) if i % 4 == 0]
    words = "; ".join(
        f"week of {w.week_start:%d %b}: {w.expected:.0f} expected ({w.low:.0f} to {w.high:.0f})"
        for w in forecast.weeks
    )
    return BandChart(
        width=width,
        height=height,
        baseline=baseline,
        history=history,
        expected=expected,
        band=band,
        split_x=round(start * step, 1),
        peak=peak,
        first_label=labels[0].isoformat() if labels else "",
        last_label=labels[-1].isoformat() if labels else "",
        ticks=ticks,
        summary=f"{len(weeks)} weeks of contacts, then the forecast: {words}.",
    )


def recent_weeks(
    session: Session, theme_id: int, forecast: Forecast, weeks: int = 16
) -> list[tuple[date, int]]:
    """The theme's last ``weeks`` weekly counts up to the week the forecast starts from."""
    if not forecast.weeks:
        return []
    last = forecast.weeks[0].week_start - timedelta(weeks=1)
    series = weekly_series(session, [theme_id], last_week=last).get(theme_id)
    if series is None:
        return []
    first, counts = series
    pairs = [(first + timedelta(weeks=i), c) for i, c in enumerate(counts)]
    return pairs[-weeks:]


def theme_ids_of(value: str) -> list[int]:
    """Theme ids from a comma-separated query value."""
    try:
        ids = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{value!r} is not a list of theme ids", field="theme") from None
    if any(i < 1 or i > 2**63 - 1 for i in ids):
        raise InputError("theme ids are positive 64-bit numbers", field="theme")
    return ids


def dimension_choices(current: str) -> list[str]:
    """The dimensions the page's picker lists, with a custom one the URL asked for."""
    return list(DIMENSIONS) + ([current] if current not in DIMENSIONS else [])


def as_json(value: Any) -> Any:
    """Dataclass figures as plain JSON values (``as_dict`` where they have it)."""
    return value.as_dict() if hasattr(value, "as_dict") else value


#: Each figure of the impact pages: (field, heading, definition: window, denominator, what is
#: left out). The README's "Figures by dimension" table says the same.
DEFINITIONS: tuple[tuple[str, str, str], ...] = (
    (
        "contacts",
        "Contacts",
        "the group's contacts made in the window; undated contacts are left out",
    ),
    (
        "share",
        "Share",
        "contacts over all dated contacts in the window (every channel, themed or not)",
    ),
    (
        "unique_customers",
        "Customers",
        "distinct known customers among the contacts; anonymous contacts count as contacts only",
    ),
    (
        "contacts_per_customer",
        "Contacts per customer",
        "contacts of known customers and anonymous ones over the distinct customers: the contact rate",
    ),
    (
        "week_over_week",
        "Week over week",
        "contacts in the last 7 days of the window against the 7 days before (the window ends at its last day, or just after the newest contact); empty when the earlier week had none",
    ),
    (
        "repeat_contact_rate",
        "Repeat rate",
        "of the group's customers with a themed contact, the share who contacted about the same theme again within 7 days of an earlier contact, both in the window and in the group",
    ),
    (
        "first_contact_resolution",
        "First-contact resolution",
        "of the resolved themed contacts of known customers, the share not followed by another contact from the customer about the same theme within 7 days",
    ),
    (
        "csat",
        "CSAT",
        "mean satisfaction score of the rated contacts (unrated ones are left out); against the baseline: minus the mean of every rated contact in the window",
    ),
    (
        "median_hours_to_resolve",
        "Hours to resolve",
        "median hours from contact to resolution of the resolved contacts; open ones are left out",
    ),
    ("contact_cost", "Contact cost", "contacts priced by channel (ROOTLINE_CONTACT_COSTS), summed"),
    (
        "value_at_risk",
        "Value at risk",
        "summed customer value (the CRM's value) of the group's customers, each once; customers without a value are left out",
    ),
    (
        "churned_customers",
        "Churned",
        "customers with a cancellation 0-90 days after their first contact in the group and window; value lost: their summed value",
    ),
    (
        "baseline_churn_rate",
        "Churn of similar customers",
        "the cancellation rate (0-90 days after their first contact of the window) of the window's other contacting customers, segment by segment, weighted by the group's mix of segments",
    ),
    (
        "downgraded_customers",
        "Tier moves",
        "customers with a downgrade or upgrade event 0-90 days after their first contact in the group and window",
    ),
    (
        "top_box_rate",
        "Top box",
        "share of survey answers that are the best on their scale (yes, 5 of 5); 0-10 answers are left out and count as NPS",
    ),
    ("nps", "NPS", "share of 9-10 answers minus share of 0-6 answers to 0-10 questions, times 100"),
)
