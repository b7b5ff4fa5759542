"""What a problem's page says about its fix: the verdict in words a reader can act on, when
the verdict becomes final, and the theme's weekly contact rate around the fix date.

:func:`rootline.rootcause.verification.verify_problem` judges; this module only words the
judgement and draws its evidence. The verification worker reopens a problem only after a full
``MAX_WINDOW_DAYS`` window, so a "failed" verdict before then is shown as provisional, and
"not yet" says when the data will be enough.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.models import ThemeMembership
from rootline.ingest.models import Interaction
from rootline.rootcause.models import Problem
from rootline.rootcause.verification import (
    MAX_WINDOW_DAYS,
    MIN_EXPECTED,
    MIN_WINDOW_DAYS,
    Verification,
)

__all__ = [
    "FixWeek",
    "RateChart",
    "VerificationView",
    "fix_weeks",
    "rate_chart",
    "verification_view",
]

#: Weeks drawn before the fix, and at most after it.
WEEKS_BEFORE, WEEKS_AFTER = 8, 8


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


@dataclass(frozen=True)
class FixWeek:
    """Seven days counted from the fix date (negative ``offset``: before it)."""

    offset: int
    start: datetime
    end: datetime
    theme_contacts: int
    all_contacts: int
    #: The data ends inside this week.
    partial: bool = False

    @property
    def share(self) -> float | None:
        """Theme contacts as a share (0..1) of all contacts that week; None without any."""
        return self.theme_contacts / self.all_contacts if self.all_contacts else None

    @property
    def label(self) -> str:
        """ "2026-09-07 to 2026-09-13" (the last day shown is the one before ``end``)."""
        last = (self.end - timedelta(microseconds=1)).date()
        return f"{self.start.date().isoformat()} to {last.isoformat()}"

    @property
    def words(self) -> str:
        """The week in a sentence, for the hover text and the table."""
        share = f"{self.share:.1%}" if self.share is not None else "no contacts at all"
        when = f"week {abs(self.offset) + (0 if self.offset < 0 else 1)} " + (
            "before the fix" if self.offset < 0 else "after the fix"
        )
        part = " (data ends inside this week)" if self.partial else ""
        return (
            f"{self.label}, {when}: {self.theme_contacts} of {self.all_contacts} contacts "
            f"({share}){part}"
        )


def fix_weeks(
    session: Session, theme_ids: list[int], fixed_at: datetime, data_end: datetime
) -> list[FixWeek]:
    """Theme and all contacts in 7-day spans counted from the fix: up to ``WEEKS_BEFORE``
    before it and ``WEEKS_AFTER`` after, the last ending with the data. Two queries, each
    counting every span at once (the spans start at the fix's time of day, not at midnight,
    so they match the verification's windows exactly)."""
    fixed = _aware(fixed_at)
    end = _aware(data_end)
    after = max(0, min(WEEKS_AFTER, math.ceil((end - fixed).total_seconds() / (7 * 86400))))
    spans = []
    for k in range(-WEEKS_BEFORE, after):
        start = fixed + timedelta(weeks=k)
        stop = start + timedelta(weeks=1)
        spans.append((k, start, min(stop, end) if k >= 0 else stop, k >= 0 and stop > end))
    if not spans:
        return []

    def counts(stmt: Any) -> list[int]:
        columns = [
            sa.func.coalesce(
                sa.func.sum(
                    sa.case(
                        (sa.and_(Interaction.created_at >= a, Interaction.created_at < b), 1),
                        else_=0,
                    )
                ),
                0,
            )
            for _, a, b, _ in spans
        ]
        row = session.execute(
            stmt.with_only_columns(*columns).where(
                Interaction.created_at >= spans[0][1], Interaction.created_at < spans[-1][2]
            )
        ).one()
        return [int(v) for v in row]

    everything = counts(sa.select(Interaction.id))
    # A contact in two of the problem's themes counts once, as the verification counts it.
    themed = counts(
        sa.select(Interaction.id).where(
            Interaction.id.in_(
                sa.select(ThemeMembership.interaction_id).where(
                    ThemeMembership.theme_id.in_(theme_ids)
                )
            )
        )
    )
    return [
        FixWeek(k, a, b, x, n, partial)
        for (k, a, b, partial), x, n in zip(spans, themed, everything, strict=True)
    ]


@dataclass(frozen=True)
class RateBar:
    """One week's bar: the theme's share of all contacts that week."""

    week: FixWeek
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Level:
    """The rate the test compared, drawn across the weeks of its window."""

    label: str
    rate: float
    x1: float
    x2: float
    y: float


@dataclass(frozen=True)
class RateChart:
    """Weekly theme share of all contacts around the fix, with the fix date and the before and
    after levels of the test."""

    width: int
    height: int
    left: float
    top: float
    baseline: float
    peak: float
    bars: list[RateBar]
    fix_x: float
    levels: list[Level]
    y_ticks: list[tuple[float, str]]

    @property
    def summary(self) -> str:
        """The chart in words."""
        before = [b for b in self.bars if b.week.offset < 0]
        after = [b for b in self.bars if b.week.offset >= 0]
        words = [
            f"Theme contacts as a share of all contacts, {len(before)} weeks before the fix "
            f"and {len(after)} after"
        ]
        words += [f"{lv.label} {lv.rate:.1%}" for lv in self.levels]
        return "; ".join(words) + "."


def _nice_share(value: float) -> float:
    """A round share (1, 2 or 5 times a power of ten) at or above ``value``."""
    if value <= 0:
        return 0.01
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value - 1e-12:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def rate_chart(
    weeks: list[FixWeek],
    verification: Verification | None,
    *,
    width: int = 640,
    height: int = 200,
) -> RateChart | None:
    """Lay out the weekly shares, the fix line and the test's levels (None without weeks)."""
    if not weeks:
        return None
    wanted: list[tuple[str, float]] = []
    window_weeks = (verification.window_days / 7) if verification else 0
    if verification and window_weeks:
        if verification.before_rate is not None:
            wanted.append(("before", verification.before_rate))
        if verification.after_rate is not None:
            wanted.append(("after", verification.after_rate))
    shares = [w.share or 0.0 for w in weeks]
    highest = max([*shares, *(r for _, r in wanted)])
    # Gridlines at round shares: a round step a quarter of the highest share or more.
    step = _nice_share(highest / 4)
    peak = step * max(1, math.ceil(highest / step - 1e-9))
    left, top, axis = 44.0, 14.0, 22.0
    baseline = height - axis
    plot = baseline - top
    slot = (width - left) / len(weeks)
    first = weeks[0].offset
    bars = []
    for i, week in enumerate(weeks):
        h = plot * (week.share or 0.0) / peak
        h = max(h, 1.0) if week.all_contacts else 0.0
        bars.append(
            RateBar(
                week,
                round(left + i * slot + 2, 2),
                round(baseline - h, 2),
                round(max(slot - 4, 1.0), 2),
                round(h, 2),
            )
        )
    fix_x = round(left + (0 - first) * slot, 2)
    levels = []
    for side, rate in wanted:
        span = window_weeks * slot
        x1, x2 = (fix_x - span, fix_x) if side == "before" else (fix_x, fix_x + span)
        levels.append(
            Level(
                f"{side} the fix",
                rate,
                round(max(x1, left), 2),
                round(min(x2, float(width)), 2),
                round(baseline - plot * rate / peak, 2),
            )
        )
    ticks = [(round(baseline - plot * f, 2), f"{peak * f:.1%}") for f in (0.0, 0.5, 1.0)]
    return RateChart(width, height, left, top, baseline, peak, bars, fix_x, levels, ticks)


@dataclass(frozen=True)
class VerificationView:
    """The verdict as the problem page words it."""

    #: verified, failed, provisional (failed, before the full window), too_early, too_quiet
    kind: str
    headline: str
    text: str
    #: The day the worker gives its final verdict (the full window is in).
    final_on: date
    #: The last day of data the verdict reads.
    data_through: date
    chart: RateChart | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready words (the figures are the verification's own)."""
        return {
            "kind": self.kind,
            "headline": self.headline,
            "text": self.text,
            "final_on": self.final_on.isoformat(),
            "data_through": self.data_through.isoformat(),
        }


def _words(result: Verification, fixed: datetime, final_on: date) -> tuple[str, str, str]:
    window = result.window_days
    if result.verdict == "verified":
        return "verified", "Fix verified", f"The {result.reason}."
    if result.verdict == "failed":
        if window >= MAX_WINDOW_DAYS:
            return (
                "failed",
                "The fix did not reduce contacts",
                f"Over the full {window}-day windows the {result.reason}.",
            )
        return (
            "provisional",
            "No clear drop yet",
            f"After {window} days the {result.reason}. This is provisional: the verdict is "
            f"final when the full {MAX_WINDOW_DAYS}-day windows are in, on {final_on}; the "
            "problem is not reopened before then.",
        )
    if window < MIN_WINDOW_DAYS:
        first = (fixed + timedelta(days=MIN_WINDOW_DAYS)).date()
        return (
            "too_early",
            "Too early to tell",
            f"Only {window} full day(s) of data since the fix. A first reading is possible "
            f"on {first}; the verdict is final on {final_on}.",
        )
    expected = result.expected_after or 0.0
    if window >= MAX_WINDOW_DAYS:
        return (
            "too_quiet",
            "Too few contacts to tell",
            f"At the old rate only {expected:.1f} theme contacts were expected in the "
            f"{window} days after the fix, and the test needs {MIN_EXPECTED:.0f}: this theme "
            "is too quiet to judge a fix by its contacts. A lead may accept the fix without "
            "data evidence, with a reason.",
        )
    if expected > 0:
        needed = math.ceil(MIN_EXPECTED * window / expected)
        when = (
            f"at this rate there should be enough by about "
            f"{(fixed + timedelta(days=needed)).date()}"
            if needed <= MAX_WINDOW_DAYS
            else f"even the full {MAX_WINDOW_DAYS}-day windows, in on {final_on}, may hold too few"
        )
    else:
        when = "no theme contacts were seen before the fix to compare with"
    return (
        "too_early",
        "Too early to tell",
        f"At the old rate only {expected:.1f} theme contacts were expected in the {window} "
        f"days since the fix, and the test needs {MIN_EXPECTED:.0f}; {when}. The verdict is "
        f"final on {final_on}.",
    )


def verification_view(
    session: Session, problem: Problem, result: Verification | None
) -> VerificationView | None:
    """The verdict in words and the weekly chart, or None when no fix is recorded."""
    if result is None or problem.fixed_at is None:
        return None
    fixed = _aware(problem.fixed_at)
    data_end = datetime.fromisoformat(result.as_of)
    final_on = (fixed + timedelta(days=MAX_WINDOW_DAYS)).date()
    kind, headline, text = _words(result, fixed, final_on)
    weeks = fix_weeks(session, list(problem.theme_ids), fixed, data_end)
    return VerificationView(
        kind,
        headline,
        text,
        final_on,
        (_aware(data_end) - timedelta(microseconds=1)).date(),
        rate_chart(weeks, result),
    )
