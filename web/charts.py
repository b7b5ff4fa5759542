"""Server-side charts: geometry for small inline SVG bar charts, drawn by the templates.

No JavaScript and nothing fetched: the page carries the whole chart, so it works offline,
without scripts and in print.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rootline.clustering.stats import WeekCount
from rootline.rootcause.impact import ScoreBreakdown, ScorePart

__all__ = ["Bar", "BarChart", "ScoreBar", "score_bar", "weekly_bar_chart"]


@dataclass(frozen=True)
class Bar:
    """One bar, in SVG user units, with the figures it stands for."""

    x: float
    y: float
    width: float
    height: float
    label: str
    count: int


@dataclass(frozen=True)
class BarChart:
    """Everything a template needs to draw a bar chart and describe it in words."""

    width: int
    height: int
    baseline: float
    bars: list[Bar]
    peak: int
    total: int
    first_label: str
    last_label: str

    @property
    def summary(self) -> str:
        """A one-sentence description for screen readers."""
        return (
            f"{self.total} contacts over {len(self.bars)} weeks from {self.first_label} "
            f"to {self.last_label}; the busiest week had {self.peak}."
        )


def weekly_bar_chart(
    weeks: Sequence[WeekCount], *, width: int = 560, height: int = 140, gap: float = 2.0
) -> BarChart | None:
    """Lay out one bar per week, scaled so the busiest week fills the plot height.

    Args:
        weeks: Consecutive weeks, oldest first.
        width: Width of the drawing in SVG user units.
        height: Height of the drawing, including a strip for the axis labels.
        gap: Space between bars.

    Returns:
        The chart, or None when there are no weeks to draw.
    """
    if not weeks:
        return None
    top, axis = 18.0, 20.0
    plot_height = height - top - axis
    baseline = top + plot_height
    peak = max(w.count for w in weeks)
    slot = width / len(weeks)
    bars = []
    for i, week in enumerate(weeks):
        h = plot_height * week.count / peak if peak else 0.0
        # A hairline for empty weeks, so the reader sees a zero rather than a missing week.
        h = max(h, 1.0)
        bars.append(
            Bar(
                x=round(i * slot + gap / 2, 2),
                y=round(baseline - h, 2),
                width=round(max(slot - gap, 1.0), 2),
                height=round(h, 2),
                label=week.week_start.isoformat(),
                count=week.count,
            )
        )
    return BarChart(
        width=width,
        height=height,
        baseline=baseline,
        bars=bars,
        peak=peak,
        total=sum(w.count for w in weeks),
        first_label=weeks[0].week_start.isoformat(),
        last_label=weeks[-1].week_start.isoformat(),
    )


@dataclass(frozen=True)
class Sparkline:
    """A tiny trend line: SVG points and the figures for a text alternative."""

    width: int
    height: int
    points: str
    counts: list[int]

    @property
    def summary(self) -> str:
        """Words for screen readers: first, last and busiest week."""
        if not self.counts:
            return "no contacts"
        return (
            f"{len(self.counts)} weeks: {self.counts[0]} contacts in the first, "
            f"{self.counts[-1]} in the last, {max(self.counts)} at most"
        )


def sparkline(counts: Sequence[int], *, width: int = 120, height: int = 28) -> Sparkline:
    """A polyline through weekly counts, scaled to the busiest week (flat at the bottom when
    every week is empty)."""
    counts = list(counts)
    if not counts:
        return Sparkline(width, height, "", [])
    peak = max(counts) or 1
    step = width / max(len(counts) - 1, 1)
    pad = 2.0
    points = " ".join(
        f"{i * step:.1f},{pad + (height - 2 * pad) * (1 - c / peak):.1f}"
        for i, c in enumerate(counts)
    )
    return Sparkline(width, height, points, counts)


@dataclass(frozen=True)
class RateBar:
    """One bar of a before/after chart."""

    label: str
    x: float
    y: float
    width: float
    height: float
    value: float
    text: str


def before_after_chart(
    before: float | None, after: float | None, *, width: int = 320, height: int = 160
) -> list[RateBar]:
    """Two bars, contacts per day before and after a fix, on one scale (empty without data)."""
    if before is None or after is None:
        return []
    top, axis = 18.0, 22.0
    plot = height - top - axis
    peak = max(before, after) or 1.0
    slot = width / 2
    bars = []
    for i, (label, value) in enumerate((("before the fix", before), ("after the fix", after))):
        h = max(plot * value / peak, 1.0)
        bars.append(
            RateBar(
                label=label,
                x=round(i * slot + slot * 0.2, 1),
                y=round(top + plot - h, 1),
                width=round(slot * 0.6, 1),
                height=round(h, 1),
                value=value,
                text=f"{value:.2f}/day",
            )
        )
    return bars


@dataclass(frozen=True)
class ScoreSegment:
    """One component's stretch of a score bar, in units of score points (the bar is 100)."""

    part: ScorePart
    x: float
    width: float


@dataclass(frozen=True)
class ScoreBar:
    """An impact score drawn as its components side by side on a 0-100 track."""

    breakdown: ScoreBreakdown
    segments: list[ScoreSegment]

    @property
    def summary(self) -> str:
        """The bar in words: "Impact 74 of 100: contacts 31 + customers 22 + ... = 74"."""
        return f"Impact {self.breakdown.total} of 100: {self.breakdown.sentence}"


def score_bar(breakdown: ScoreBreakdown) -> ScoreBar:
    """Lay the components out end to end, each as wide as the points it adds to the score."""
    segments, x = [], 0.0
    for part in breakdown.parts:
        if part.points > 0:
            segments.append(ScoreSegment(part, round(x, 2), round(part.points, 2)))
            x += part.points
    return ScoreBar(breakdown, segments)
