"""Server-side charts: geometry for small inline SVG bar charts, drawn by the templates.

No JavaScript and nothing fetched: the page carries the whole chart, so it works offline,
without scripts and in print.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from rootline.clustering.stats import WeekCount
from rootline.rootcause.impact import ScoreBreakdown, ScorePart

__all__ = [
    "Bar",
    "BarChart",
    "ScoreBar",
    "Sparkline",
    "StackedChart",
    "score_bar",
    "sparkline",
    "volume_chart",
    "weekly_bar_chart",
]


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
class SparkWeek:
    """One week's strip of a sparkline: hovering it names the week and its count."""

    x: float
    width: float
    label: str
    count: int


@dataclass(frozen=True)
class Sparkline:
    """A tiny trend line: SVG points, a hover strip per week and a text alternative."""

    width: int
    height: int
    points: str
    counts: list[int]
    weeks: list[SparkWeek]
    last_x: float = 0.0
    last_y: float = 0.0

    @property
    def first_label(self) -> str:
        """Monday of the first week drawn ("" without dates)."""
        return self.weeks[0].label if self.weeks else ""

    @property
    def last_label(self) -> str:
        """Monday of the last week drawn ("" without dates)."""
        return self.weeks[-1].label if self.weeks else ""

    @property
    def summary(self) -> str:
        """Words for screen readers: the weeks, then first, last and busiest week."""
        if not self.counts:
            return "no contacts"
        span = f" from {self.first_label} to {self.last_label}" if self.weeks else ""
        return (
            f"{len(self.counts)} weeks{span}: {self.counts[0]} contacts in the first, "
            f"{self.counts[-1]} in the last, {max(self.counts)} at most"
        )


def sparkline(
    counts: Sequence[int],
    week_starts: Sequence[date] = (),
    *,
    width: int = 120,
    height: int = 28,
) -> Sparkline:
    """A polyline through weekly counts, scaled to the busiest week (flat at the bottom when
    every week is empty), with one hover strip per week when ``week_starts`` name them."""
    counts = list(counts)
    if not counts:
        return Sparkline(width, height, "", [], [])
    peak = max(counts) or 1
    step = width / max(len(counts) - 1, 1)
    pad = 2.0
    xy = [(i * step, pad + (height - 2 * pad) * (1 - c / peak)) for i, c in enumerate(counts)]
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    weeks = []
    if len(week_starts) == len(counts):
        # Each strip is centred on its point, so hovering near a point names that week.
        for i, (start, count) in enumerate(zip(week_starts, counts, strict=True)):
            left = max(0.0, i * step - step / 2)
            right = min(float(width), i * step + step / 2)
            weeks.append(
                SparkWeek(round(left, 1), round(right - left, 1), start.isoformat(), count)
            )
    return Sparkline(width, height, points, counts, weeks, round(xy[-1][0], 1), round(xy[-1][1], 1))


@dataclass(frozen=True)
class StackPart:
    """One series' stretch of one week's column."""

    series: int
    y: float
    height: float
    count: int


@dataclass(frozen=True)
class StackColumn:
    """One week of a stacked chart: its column of parts, bottom (first series) up."""

    label: str
    x: float
    width: float
    total: int
    parts: list[StackPart]


@dataclass(frozen=True)
class Series:
    """One layer of a stacked chart: a theme (with its id) or all other themes."""

    index: int
    label: str
    theme_id: int | None
    total: int
    counts: list[int]


@dataclass(frozen=True)
class Tick:
    """A labelled gridline (y axis) or a date under a column (x axis), in SVG units."""

    at: float
    label: str


@dataclass(frozen=True)
class StackedChart:
    """Contacts per week, the top themes stacked and the rest as one layer."""

    width: int
    height: int
    left: float
    top: float
    baseline: float
    peak: int
    series: list[Series]
    columns: list[StackColumn]
    y_ticks: list[Tick]
    x_ticks: list[Tick]

    @property
    def total(self) -> int:
        """Contacts drawn, over every week and layer."""
        return sum(c.total for c in self.columns)

    @property
    def summary(self) -> str:
        """The chart in a sentence, for screen readers and the caption."""
        busiest = max(self.columns, key=lambda c: c.total)
        named = [s for s in self.series if s.theme_id is not None]
        return (
            f"{self.total} contacts in {len(self.columns)} weeks from {self.columns[0].label} "
            f"to {self.columns[-1].label}, the top {len(named)} themes stacked"
            + (" with the other themes on top" if len(named) < len(self.series) else "")
            + f"; the busiest week, from {busiest.label}, had {busiest.total}."
        )


def _nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value`` (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return int(step * power)
    return int(10 * power)  # pragma: no cover - the loop always returns


def volume_chart(
    week_starts: Sequence[date],
    themes: Sequence[tuple[int, str, Sequence[int]]],
    *,
    top: int = 5,
    width: int = 720,
    height: int = 220,
) -> StackedChart | None:
    """Stack the weekly contacts of the first ``top`` themes, the others summed on top.

    Args:
        week_starts: Mondays of the weeks, oldest first.
        themes: (theme id, title, contacts per week) in the order to pick the top from
            (the dashboard passes them by impact).
        top: How many themes get a layer of their own.
        width: Width of the drawing in SVG user units.
        height: Height, including strips for the axis labels.

    Returns:
        The chart, or None when there are no weeks or no contact in them.
    """
    n = len(week_starts)
    if not n or not themes:
        return None
    named = [(i, t, list(c)) for i, t, c in themes[:top]]
    rest = [0] * n
    for _, _, counts in themes[top:]:
        for k, c in enumerate(counts):
            rest[k] += c
    layers = [
        Series(k, title, theme_id, sum(counts), counts)
        for k, (theme_id, title, counts) in enumerate(named)
    ]
    if any(rest):
        layers.append(Series(len(layers), "All other themes", None, sum(rest), rest))
    totals = [sum(s.counts[k] for s in layers) for k in range(n)]
    if not any(totals):
        return None
    left, top_pad, axis = 34.0, 10.0, 20.0
    baseline = height - axis
    plot = baseline - top_pad
    # Gridlines at round numbers: a round step a quarter of the busiest week or more.
    step = _nice_ceiling(math.ceil(max(totals) / 4))
    peak = step * math.ceil(max(totals) / step)
    slot = (width - left) / n
    columns = []
    for k, start in enumerate(week_starts):
        y, parts = baseline, []
        for s in layers:
            count = s.counts[k]
            if count:
                h = plot * count / peak
                y -= h
                parts.append(StackPart(s.index, round(y, 2), round(h, 2), count))
        columns.append(
            StackColumn(
                start.isoformat(),
                round(left + k * slot + 1.5, 2),
                round(max(slot - 3.0, 1.0), 2),
                totals[k],
                parts,
            )
        )
    y_ticks = [
        Tick(round(baseline - plot * f, 2), f"{peak * f:g}")
        for f in ((0.0, 0.5, 1.0) if peak > 1 else (0.0, 1.0))
    ]
    every = max(1, math.ceil(n / 6))
    x_ticks = [
        Tick(round(left + k * slot + slot / 2, 2), week_starts[k].strftime("%b %-d"))
        for k in range(0, n, every)
    ]
    return StackedChart(
        width, height, left, top_pad, baseline, peak, layers, columns, y_ticks, x_ticks
    )


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
