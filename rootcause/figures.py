"""What each theme costs in customers, money and satisfaction: figures computed in SQL.

Every figure is one aggregation that runs the same on SQLite and PostgreSQL, over the theme's
current members (its interactions), optionally within a window of contact dates:

- ``contacts``: the theme's interactions; ``share``: of all interactions in the window;
- ``unique_customers``: distinct known customers among them (anonymous contacts count as
  contacts, not customers);
- ``repeat_contact_rate``: of those customers, the share who contacted about the theme again
  within ``REPEAT_DAYS`` days of an earlier contact about it;
- ``csat``: the mean satisfaction score of its rated interactions (null: none rated);
- ``value_at_risk``: the summed customer value (the CRM file's ``value``) of its customers,
  each counted once (null: no customer has a value);
- ``churned_customers`` / ``value_lost``: its customers with a cancellation event 0 to
  ``CHURN_DAYS`` days after their first contact on the theme, and their summed value;
- ``impact_score``: the 0-100 score of :mod:`rootline.rootcause.impact`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.models import ThemeMembership
from rootline.ingest.models import Customer, CustomerEvent, Interaction
from rootline.rootcause.impact import REPEAT_WINDOW, impact_by_theme, theme_impact

__all__ = ["CHURN_DAYS", "REPEAT_DAYS", "ThemeFigures", "theme_figures"]

REPEAT_DAYS = REPEAT_WINDOW.days
CHURN_DAYS = 90


@dataclass(frozen=True)
class ThemeFigures:
    """The customer-impact figures of one theme (or of a problem's themes together)."""

    contacts: int
    share: float | None
    unique_customers: int
    repeat_contact_rate: float | None
    csat: float | None
    value_at_risk: float | None
    churned_customers: int
    value_lost: float | None
    impact_score: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _days(session: Session, later: Any, earlier: Any) -> Any:
    """``later - earlier`` in days, as SQL for the session's database."""
    if session.get_bind().dialect.name == "postgresql":
        return sa.extract("epoch", later - earlier) / 86_400.0
    return sa.func.julianday(later) - sa.func.julianday(earlier)


def _members(
    theme_ids: list[int], groups: dict[int, int], since: datetime | None, until: datetime | None
) -> Any:
    """(group, interaction fields) of the themes' members, each interaction once per group, as
    a subquery: ``groups`` maps each theme to itself, or all of a problem's themes to one key."""
    keys = set(groups.values())
    group = sa.literal(next(iter(keys))) if len(keys) == 1 else ThemeMembership.theme_id
    query = (
        sa.select(
            group.label("grp"),
            Interaction.id.label("iid"),
            Interaction.customer_id.label("cid"),
            Interaction.created_at.label("at"),
            Interaction.csat.label("csat"),
        )
        .select_from(ThemeMembership)
        .join(Interaction, Interaction.id == ThemeMembership.interaction_id)
        .where(ThemeMembership.theme_id.in_(theme_ids))
    )
    return _in_window(query, since, until).distinct().subquery()


def _all_contacts(session: Session, since: datetime | None, until: datetime | None) -> int:
    query = sa.select(sa.func.count()).select_from(Interaction)
    return int(session.scalar(_in_window(query, since, until)) or 0)


def _in_window(query: Any, since: datetime | None, until: datetime | None) -> Any:
    """``query`` limited to contacts made on or after ``since`` and before ``until``."""
    if since is not None:
        query = query.where(Interaction.created_at >= since)
    if until is not None:
        query = query.where(Interaction.created_at < until)
    return query


def theme_figures(
    session: Session,
    theme_ids: Iterable[int],
    *,
    together: bool = False,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[int, ThemeFigures]:
    """Figures of each theme, keyed by theme id; with ``together``, of all of them as one
    (a problem's themes), under the key of the first.

    Args:
        session: database session.
        theme_ids: the themes.
        together: count the themes as one group.
        since: only contacts on or after this time.
        until: only contacts before this time.
    """
    ids = list(dict.fromkeys(int(t) for t in theme_ids))
    if not ids:
        return {}
    groups = {t: ids[0] if together else t for t in ids}
    m = _members(ids, groups, since, until)
    counts = {
        int(r.grp): r
        for r in session.execute(
            sa.select(
                m.c.grp,
                sa.func.count(m.c.iid).label("contacts"),
                sa.func.count(sa.distinct(m.c.cid)).label("customers"),
                sa.func.avg(m.c.csat).label("csat"),
            ).group_by(m.c.grp)
        )
    }
    # Each customer's value once per group.
    per_customer = (
        sa.select(m.c.grp, m.c.cid, sa.func.min(m.c.at).label("first"))
        .where(m.c.cid.is_not(None))
        .group_by(m.c.grp, m.c.cid)
        .subquery()
    )
    value = {
        int(grp): total
        for grp, total in session.execute(
            sa.select(per_customer.c.grp, sa.func.sum(Customer.value))
            .join(Customer, Customer.id == per_customer.c.cid)
            .group_by(per_customer.c.grp)
        )
    }
    previous = sa.func.lag(m.c.at).over(partition_by=(m.c.grp, m.c.cid), order_by=(m.c.at, m.c.iid))
    ordered = (
        sa.select(m.c.grp, m.c.cid, m.c.at, previous.label("prev"))
        .where(m.c.cid.is_not(None))
        .subquery()
    )
    repeaters = {
        int(grp): n
        for grp, n in session.execute(
            sa.select(ordered.c.grp, sa.func.count(sa.distinct(ordered.c.cid)))
            .where(
                ordered.c.prev.is_not(None),
                _days(session, ordered.c.at, ordered.c.prev) <= REPEAT_DAYS,
            )
            .group_by(ordered.c.grp)
        )
    }
    gap = _days(session, CustomerEvent.occurred_at, per_customer.c.first)
    churned_ids = (
        sa.select(per_customer.c.grp, per_customer.c.cid)
        .join(CustomerEvent, CustomerEvent.customer_id == per_customer.c.cid)
        .where(CustomerEvent.kind == "cancellation", gap >= 0, gap <= CHURN_DAYS)
        .distinct()
        .subquery()
    )
    churn = {
        int(grp): (n, lost)
        for grp, n, lost in session.execute(
            sa.select(
                churned_ids.c.grp, sa.func.count(churned_ids.c.cid), sa.func.sum(Customer.value)
            )
            .join(Customer, Customer.id == churned_ids.c.cid)
            .group_by(churned_ids.c.grp)
        )
    }
    total = _all_contacts(session, since, until)
    if together:
        scores = {ids[0]: theme_impact(session, ids).score}
    else:
        scores = {t: i.score for t, i in impact_by_theme(session, ids).items()}
    out: dict[int, ThemeFigures] = {}
    for key in dict.fromkeys(groups.values()):
        row = counts.get(key)
        contacts = int(row.contacts) if row else 0
        customers = int(row.customers) if row else 0
        n_churned, lost = churn.get(key, (0, None))
        out[key] = ThemeFigures(
            contacts=contacts,
            share=round(contacts / total, 4) if total else None,
            unique_customers=customers,
            repeat_contact_rate=round(repeaters.get(key, 0) / customers, 4) if customers else None,
            csat=round(float(row.csat), 3) if row and row.csat is not None else None,
            value_at_risk=round(float(value[key]), 2) if value.get(key) is not None else None,
            churned_customers=int(n_churned),
            value_lost=round(float(lost), 2) if lost is not None else None,
            impact_score=scores.get(key, 0.0),
        )
    return out
