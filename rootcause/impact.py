"""Customer impact of a theme: how many, how often, how unhappy, how valuable, how fast growing.

``measure_impact`` works on plain contact records, so it is tested without a database;
``theme_impact`` and ``impact_by_theme`` load the records of themes and call it.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.models import ThemeMembership
from rootline.errors import InputError
from rootline.ingest.models import Customer, Interaction
from rootline.rootcause.audit import record
from rootline.rootcause.models import ImpactWeight

__all__ = [
    "COMPONENT_WORDS",
    "WEIGHTS",
    "Contact",
    "Impact",
    "ScoreBreakdown",
    "ScorePart",
    "contact_facts",
    "impact_by_theme",
    "impact_weights",
    "measure_impact",
    "priority_for_score",
    "set_impact_weights",
    "theme_impact",
]

#: How much each component counts in the 0-100 impact score; they add up to 1.
WEIGHTS: dict[str, float] = {
    "contacts": 0.30,
    "customers": 0.15,
    "repeat_rate": 0.15,
    "dissatisfaction": 0.15,
    "value_at_risk": 0.15,
    "trend": 0.10,
}
#: Each component in the words the score's breakdown shows, and how its 0-1 value is found.
COMPONENT_WORDS: dict[str, tuple[str, str]] = {
    "contacts": ("contacts", "log scale, full marks at 500 contacts"),
    "customers": ("customers", "log scale, full marks at 300 customers"),
    "repeat_rate": ("repeat", "share of customers who came back within 7 days"),
    "dissatisfaction": ("low CSAT", "share of rated contacts scored 1 or 2"),
    "value_at_risk": ("value at risk", "log scale, full marks at 100,000"),
    "trend": ("growth", "last 4 weeks against the 8 before, full marks at twice the rate"),
}
#: Where a count or amount reaches full marks; logarithmic below, so 10x matters, not +10.
_SATURATION = {"contacts": 500.0, "customers": 300.0, "value_at_risk": 100_000.0}
#: A customer's contact about a theme this soon after an earlier one about it is a repeat.
REPEAT_WINDOW = timedelta(days=7)
RECENT_WEEKS, PRIOR_WEEKS = 4, 8
#: Lowest impact score of each priority, highest first.
PRIORITY_FLOORS = (("P1", 75.0), ("P2", 50.0), ("P3", 25.0))


@dataclass(frozen=True)
class Contact:
    """The figures of one interaction that impact needs."""

    customer_id: int | None
    created_at: datetime | None
    resolved_at: datetime | None = None
    csat: float | None = None
    customer_value: float | None = None


@dataclass(frozen=True)
class ScorePart:
    """One component's share of the impact score."""

    name: str
    label: str
    basis: str
    value: float
    weight: float
    points: float
    whole: int


@dataclass(frozen=True)
class ScoreBreakdown:
    """The impact score as the sum of its components, in exact and in whole points.

    ``points`` are weight x normalised value x 100, as the score adds them; ``whole`` points
    are those rounded so that they add up to ``total``, the score as pages show it.
    """

    score: float
    total: int
    parts: list[ScorePart]

    @property
    def sentence(self) -> str:
        """The sum in words, e.g. "contacts 31 + customers 22 + repeat 12 = 65"."""
        terms = [f"{p.label} {p.whole}" for p in self.parts if p.whole]
        return f"{' + '.join(terms) or 'nothing'} = {self.total}"

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready breakdown."""
        return {"score": self.score, "total": self.total, "sentence": self.sentence} | {
            "parts": [asdict(p) for p in self.parts]
        }


def _whole_points(points: list[float], total: int) -> list[int]:
    """``points`` rounded to whole numbers that add up to ``total`` (largest remainders)."""
    whole = [math.floor(p) for p in points]
    by_remainder = sorted(range(len(points)), key=lambda i: (whole[i] - points[i], i))
    for i in by_remainder[: max(0, total - sum(whole))]:
        whole[i] += 1
    return whole


@dataclass
class Impact:
    """Impact figures of a theme (or a group of themes), with a self-explaining score."""

    contacts: int
    unique_customers: int
    repeat_contact_rate: float
    mean_csat: float | None
    low_csat_share: float | None
    median_hours_to_resolve: float | None
    value_at_risk: float
    recent_contacts: int
    prior_contacts: int
    trend: float | None
    score: float
    components: dict[str, dict[str, float]] = field(default_factory=dict)
    explanation: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready figures."""
        return asdict(self)

    def breakdown(self) -> ScoreBreakdown:
        """The score as the sum of its components, in the order of ``WEIGHTS``."""
        names = [n for n in WEIGHTS if n in self.components]
        points = [self.components[n]["points"] for n in names]
        # round() as "%.0f" rounds, so the whole parts add up to the score the pages print.
        total = round(self.score)
        whole = _whole_points(points, total)
        parts = [
            ScorePart(
                name=n,
                label=COMPONENT_WORDS[n][0],
                basis=COMPONENT_WORDS[n][1],
                value=self.components[n]["value"],
                weight=self.components[n]["weight"],
                points=self.components[n]["points"],
                whole=w,
            )
            for n, w in zip(names, whole, strict=True)
        ]
        return ScoreBreakdown(score=self.score, total=total, parts=parts)


def _aware(ts: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; they were stored as UTC.
    if ts is not None and ts.tzinfo is None:
        return ts.replace(tzinfo=UTC)
    return ts


def _log_share(value: float, full: float) -> float:
    return min(1.0, math.log1p(max(value, 0.0)) / math.log1p(full))


def priority_for_score(score: float) -> str:
    """The priority P1-P4 an impact score calls for."""
    for priority, floor in PRIORITY_FLOORS:
        if score >= floor:
            return priority
    return "P4"


def _repeat_rate(by_customer: dict[int, list[datetime]]) -> float:
    if not by_customer:
        return 0.0
    repeaters = 0
    for times in by_customer.values():
        times.sort()
        if any(b - a <= REPEAT_WINDOW for a, b in itertools.pairwise(times)):
            repeaters += 1
    return repeaters / len(by_customer)


def measure_impact(
    contacts: Sequence[Contact],
    as_of: datetime | None = None,
    weights: Mapping[str, float] | None = None,
) -> Impact:
    """Impact of one theme's contacts.

    Args:
        contacts: the theme's interactions.
        as_of: the end of the trend windows; default: the latest contact.
        weights: how much each component counts (default ``WEIGHTS``; an admin's choice is
            read with ``impact_weights``).

    Returns:
        The figures, a 0-100 score, each component's normalised value, weight and points, and a
        one-line explanation naming the components that weigh most.
    """
    times = [t for c in contacts if (t := _aware(c.created_at)) is not None]
    end = _aware(as_of) or (max(times) if times else datetime.now(UTC))
    by_customer: dict[int, list[datetime]] = defaultdict(list)
    values: dict[int, float] = {}
    for c in contacts:
        if c.customer_id is None:
            continue
        created = _aware(c.created_at)
        if created is not None:
            by_customer[c.customer_id].append(created)
        else:
            by_customer.setdefault(c.customer_id, [])
        values[c.customer_id] = c.customer_value or 0.0
    csats = [c.csat for c in contacts if c.csat is not None]
    hours = [
        (r - s).total_seconds() / 3600
        for c in contacts
        if (s := _aware(c.created_at)) is not None and (r := _aware(c.resolved_at)) is not None
    ]
    recent_start = end - timedelta(weeks=RECENT_WEEKS)
    prior_start = recent_start - timedelta(weeks=PRIOR_WEEKS)
    recent = sum(1 for t in times if recent_start < t <= end)
    prior = sum(1 for t in times if prior_start < t <= recent_start)
    # Weekly rates, so four recent weeks compare fairly with eight earlier ones.
    trend = (recent / RECENT_WEEKS) / (prior / PRIOR_WEEKS) if prior else None
    low_share = sum(1 for v in csats if v <= 2) / len(csats) if csats else None
    repeat = _repeat_rate(by_customer)
    value = float(sum(values.values()))
    # Doubling the weekly rate is full marks; a theme active now with no history is new: full.
    trend_norm = min(1.0, max(0.0, trend - 1.0)) if trend is not None else float(recent > 0)
    normalised = {
        "contacts": _log_share(len(contacts), _SATURATION["contacts"]),
        "customers": _log_share(len(by_customer), _SATURATION["customers"]),
        "repeat_rate": repeat,
        "dissatisfaction": low_share or 0.0,
        "value_at_risk": _log_share(value, _SATURATION["value_at_risk"]),
        "trend": trend_norm,
    }
    weight = dict(WEIGHTS) if weights is None else {n: float(weights.get(n, 0.0)) for n in WEIGHTS}
    components = {
        name: {
            "value": round(norm, 4),
            "weight": weight[name],
            "points": round(100 * weight[name] * norm, 2),
        }
        for name, norm in normalised.items()
    }
    score = round(sum(c["points"] for c in components.values()), 1)
    top = sorted(components.items(), key=lambda kv: -kv[1]["points"])[:3]
    explanation = (
        f"score {score:.0f}/100 ({priority_for_score(score)}): "
        + ", ".join(f"{name.replace('_', ' ')} {c['points']:.0f}" for name, c in top if c["points"])
        + f" from {len(contacts)} contacts by {len(by_customer)} customers"
    )
    return Impact(
        contacts=len(contacts),
        unique_customers=len(by_customer),
        repeat_contact_rate=round(repeat, 4),
        mean_csat=round(statistics.fmean(csats), 3) if csats else None,
        low_csat_share=round(low_share, 4) if low_share is not None else None,
        median_hours_to_resolve=round(statistics.median(hours), 2) if hours else None,
        value_at_risk=round(value, 2),
        recent_contacts=recent,
        prior_contacts=prior,
        trend=round(trend, 3) if trend is not None else None,
        score=score,
        components=components,
        explanation=explanation,
    )


def contact_facts() -> sa.Select[Any]:
    """Every themed contact as (theme id, then the fields of :class:`Contact`), from the
    membership table: the read every impact figure starts from. Callers add their filters."""
    return (
        sa.select(
            ThemeMembership.theme_id,
            Interaction.customer_id,
            Interaction.created_at,
            Interaction.resolved_at,
            Interaction.csat,
            Customer.value,
        )
        .select_from(ThemeMembership)
        .join(Interaction, Interaction.id == ThemeMembership.interaction_id)
        .outerjoin(Customer, Customer.id == Interaction.customer_id)
    )


def _contacts(session: Session, theme_ids: Iterable[int]) -> dict[int, list[Contact]]:
    ids = list(theme_ids)
    rows = session.execute(contact_facts().where(ThemeMembership.theme_id.in_(ids)))
    out: dict[int, list[Contact]] = {tid: [] for tid in ids}
    for theme_id, customer_id, created, resolved, csat, value in rows:
        out[theme_id].append(Contact(customer_id, created, resolved, csat, value))
    return out


def theme_impact(
    session: Session, theme_ids: int | Iterable[int], as_of: datetime | None = None
) -> Impact:
    """Impact of a theme, or of several themes taken together (a problem's themes).

    Args:
        session: database session.
        theme_ids: one theme id or several.
        as_of: the end of the trend windows; default: the latest contact in the themes.
    """
    ids = [theme_ids] if isinstance(theme_ids, int) else list(theme_ids)
    contacts = [c for group in _contacts(session, ids).values() for c in group]
    return measure_impact(contacts, as_of, impact_weights(session))


def impact_by_theme(
    session: Session, theme_ids: Iterable[int], as_of: datetime | None = None
) -> dict[int, Impact]:
    """Impact of each of several themes, loaded in one query."""
    weights = impact_weights(session)
    return {
        tid: measure_impact(group, as_of, weights)
        for tid, group in _contacts(session, theme_ids).items()
    }


def impact_weights(session: Session) -> dict[str, float]:
    """The weights the impact score uses: an admin's (``set_impact_weights``), else
    ``WEIGHTS``."""
    stored = {w.component: w.weight for w in session.scalars(sa.select(ImpactWeight))}
    if not stored:
        return dict(WEIGHTS)
    return {name: float(stored.get(name, 0.0)) for name in WEIGHTS}


def set_impact_weights(
    session: Session, weights: Mapping[str, float], *, actor: str
) -> dict[str, float]:
    """Store new weights, scaled to add up to 1, and record the change in the audit trail.

    Components not named keep their weight. Problems keep the score they were opened with;
    theme scores use the new weights from now on.

    Raises:
        InputError: an unknown component, a negative or non-finite weight, or all zero.
    """
    unknown = sorted(set(weights) - set(WEIGHTS))
    if unknown:
        raise InputError(
            f"unknown impact component(s) {', '.join(unknown)} (known: {', '.join(WEIGHTS)})",
            field="weights",
        )
    for name, value in weights.items():
        if not math.isfinite(value) or value < 0:
            raise InputError(f"the weight of {name} must be 0 or more, not {value}", field=name)
    old = impact_weights(session)
    merged = old | {k: float(v) for k, v in weights.items()}
    total = sum(merged.values())
    if total <= 0:
        raise InputError("at least one weight must be above 0", field="weights")
    new = {k: round(v / total, 4) for k, v in merged.items()}
    rows = {w.component: w for w in session.scalars(sa.select(ImpactWeight))}
    for name, value in new.items():
        row = rows.get(name)
        if row is None:
            session.add(ImpactWeight(component=name, weight=value, updated_by=actor))
        else:
            row.weight, row.updated_by = value, actor
    record(session, actor, "impact_weights", 0, "update", "weights", old, new)
    session.flush()
    return new
