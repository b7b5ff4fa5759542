"""Customer figures per theme, problem, channel, source, segment, agent or any extra field
(product, region, team, branch ...), over any window of contact dates, computed in SQL.

``breakdown`` groups the window's contacts by one dimension and answers, per group, with the
figures of :class:`GroupFigures`; every figure is an aggregation that runs the same on SQLite
and PostgreSQL (window functions for repeats, first-contact resolution and the median). The
README's "Figures by dimension" table defines each one: its window, denominator and what is
left out.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.models import Theme, ThemeMembership
from rootline.clustering.stats import as_date
from rootline.errors import InputError
from rootline.ingest.models import Customer, CustomerEvent, Interaction
from rootline.rootcause.models import Problem, ProblemTheme, SurveyResponse

__all__ = [
    "AFTER_CONTACT_DAYS",
    "BUILTIN_DIMENSIONS",
    "DEFAULT_CONTACT_COSTS",
    "REPEAT_DAYS",
    "Breakdown",
    "GroupFigures",
    "breakdown",
]

#: Dimensions that are columns; any other name is read from the contacts' extra fields.
BUILTIN_DIMENSIONS = ("theme", "problem", "channel", "source", "segment", "agent")
#: A customer's contact about the same theme this many days after another one is a repeat.
REPEAT_DAYS = 7
#: Days after a customer's first contact in a group within which a cancellation, downgrade or
#: upgrade is counted against the group.
AFTER_CONTACT_DAYS = 90
#: Cost of one contact per channel, in the currency of customer values; "other": the rest.
DEFAULT_CONTACT_COSTS: dict[str, float] = {
    "phone": 6.0,
    "email": 3.0,
    "chat": 2.5,
    "web": 2.0,
    "social": 2.0,
    "other": 3.0,
}
_WEEKS_SHOWN = 12


@dataclass(frozen=True)
class GroupFigures:
    """The figures of one group of contacts (one theme, one channel, one region ...)."""

    key: str | None
    label: str
    contacts: int
    share: float | None
    unique_customers: int
    contacts_per_customer: float | None
    last_7_days: int
    previous_7_days: int
    week_over_week: float | None
    weekly: list[int]
    repeat_contact_rate: float | None
    first_contact_resolution: float | None
    csat: float | None
    csat_vs_baseline: float | None
    median_hours_to_resolve: float | None
    contact_cost: float
    value_at_risk: float | None
    churned_customers: int
    value_lost: float | None
    churn_rate: float | None
    baseline_churn_rate: float | None
    downgraded_customers: int
    upgraded_customers: int
    survey_responses: int
    top_box_answers: int
    top_box_rate: float | None
    nps: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Breakdown:
    """A window's contacts grouped by one dimension, largest group first."""

    by: str
    since: datetime | None
    until: datetime | None
    end: datetime | None
    total_contacts: int
    csat_baseline: float | None
    week_starts: list[date]
    groups: list[GroupFigures] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready figures (times and dates as ISO strings)."""
        return {
            "by": self.by,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "end": self.end.isoformat() if self.end else None,
            "total_contacts": self.total_contacts,
            "csat_baseline": self.csat_baseline,
            "week_starts": [w.isoformat() for w in self.week_starts],
            "groups": [g.as_dict() for g in self.groups],
        }


def _days(session: Session, later: Any, earlier: Any) -> Any:
    """``later - earlier`` in days, as SQL for the session's database."""
    if session.get_bind().dialect.name == "postgresql":
        return sa.extract("epoch", later - earlier) / 86_400.0
    return sa.func.julianday(later) - sa.func.julianday(earlier)


def _group_column(by: str) -> tuple[Any, list[Any]]:
    """The SQL expression of a contact's group, and the joins it needs after Interaction."""
    if by == "theme":
        return ThemeMembership.theme_id, []
    if by == "problem":
        return ProblemTheme.problem_id, [
            (ProblemTheme, ProblemTheme.theme_id == ThemeMembership.theme_id)
        ]
    if by == "segment":
        return Customer.segment, []
    if by in ("channel", "source", "agent"):
        return getattr(Interaction, by), []
    return Interaction.extra[by].as_string(), []


def _in_window(query: Any, since: datetime | None, until: datetime | None) -> Any:
    if since is not None:
        query = query.where(Interaction.created_at >= since)
    if until is not None:
        query = query.where(Interaction.created_at < until)
    return query


def _cost(costs: Mapping[str, float], channel: Any) -> Any:
    other = float(costs.get("other", 0.0))
    known = {k: float(v) for k, v in costs.items() if k != "other"}
    if not known:
        return sa.literal(other)
    return sa.case(known, value=channel, else_=other)


def _ratio(part: float | int | None, whole: float | int | None, digits: int = 4) -> float | None:
    if part is None or not whole:
        return None
    return round(part / whole, digits)


def _number(value: Any, digits: int = 2) -> float | None:
    return None if value is None else round(float(value), digits)


def _base(
    by: str,
    since: datetime | None,
    until: datetime | None,
    theme_ids: list[int] | None,
    costs: Mapping[str, float],
    account_owner: str | None = None,
) -> Any:
    """Every contact of the window once per group, with the fields the figures need.

    An interaction has one theme, and a problem names a theme once, so no row repeats."""
    group, joins = _group_column(by)
    query = (
        sa.select(
            sa.cast(group, sa.String).label("grp"),
            Interaction.id.label("iid"),
            Interaction.customer_id.label("cid"),
            Interaction.created_at.label("at"),
            Interaction.resolved_at.label("resolved"),
            Interaction.csat.label("csat"),
            _cost(costs, Interaction.channel).label("cost"),
            ThemeMembership.theme_id.label("tid"),
            sa.func.coalesce(Customer.segment, "").label("seg"),
        )
        .select_from(Interaction)
        .outerjoin(Customer, Customer.id == Interaction.customer_id)
    )
    themed_only = by in ("theme", "problem") or theme_ids is not None
    if themed_only:
        query = query.join(ThemeMembership, ThemeMembership.interaction_id == Interaction.id)
    else:
        query = query.outerjoin(ThemeMembership, ThemeMembership.interaction_id == Interaction.id)
    for target, on in joins:
        query = query.join(target, on)
    if theme_ids is not None:
        query = query.where(ThemeMembership.theme_id.in_(theme_ids))
    if account_owner is not None:
        query = query.where(sa.func.lower(Customer.account_owner) == account_owner.lower())
    query = query.where(Interaction.created_at.is_not(None))
    return _in_window(query, since, until)


def _grp(value: Any) -> str | None:
    return None if value is None else str(value)


def _labels(session: Session, by: str, keys: Iterable[str | None]) -> dict[str | None, str]:
    ids = [int(k) for k in keys if k is not None and k.isdigit()]
    names: dict[str | None, str] = {}
    if by == "theme" and ids:
        names = {
            str(i): t
            for i, t in session.execute(sa.select(Theme.id, Theme.title).where(Theme.id.in_(ids)))
        }
    elif by == "problem" and ids:
        names = {
            str(i): t
            for i, t in session.execute(
                sa.select(Problem.id, Problem.title).where(Problem.id.in_(ids))
            )
        }
    return {k: names.get(k, k if k is not None else "(none)") for k in keys}


class _Scratch:
    """Temporary tables of one breakdown: each intermediate result (the window's contacts,
    each customer's first contact) is computed once and indexed, then read by every figure;
    as subqueries, each figure's query would compute them again."""

    def __init__(self, session: Session) -> None:
        self._conn = session.connection()
        if self._conn.dialect.name == "postgresql":
            # Room for the window's contacts to be sorted and hashed in memory, for this
            # transaction only (the default 4 MB spills a million rows to disk).
            self._conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
        self._meta = sa.MetaData()
        self._tag = uuid.uuid4().hex[:12]
        self._tables: list[sa.Table] = []

    def fill(
        self,
        name: str,
        columns: list[sa.Column[Any]],
        query: Any,
        index: list[str],
        *,
        analyze: bool = False,
    ) -> sa.Table:
        """A temporary table of ``columns`` holding the rows of ``query``; ``analyze``: give
        PostgreSQL's planner its statistics (worth it for the large table only)."""
        table = sa.Table(f"rl_{name}_{self._tag}", self._meta, *columns, prefixes=["TEMPORARY"])
        table.create(self._conn)
        self._tables.append(table)
        self._conn.execute(table.insert().from_select([c.name for c in columns], query))
        if index:
            sa.Index(f"ix_{table.name}", *(table.c[c] for c in index)).create(self._conn)
        if analyze and self._conn.dialect.name == "postgresql":
            # Temporary tables have no statistics until analysed: the planner would guess.
            self._conn.exec_driver_sql(f"ANALYZE {table.name}")
        return table

    def drop(self) -> None:
        for table in reversed(self._tables):
            table.drop(self._conn)
        self._tables.clear()


def _columns(*specs: tuple[str, Any]) -> list[sa.Column[Any]]:
    return [sa.Column(name, kind) for name, kind in specs]


_TS = sa.DateTime(timezone=True)


def _per_customer(m: Any) -> Any:
    return (
        sa.select(
            m.c.grp, m.c.cid, sa.func.min(m.c.at).label("first"), sa.func.min(m.c.seg).label("seg")
        )
        .where(m.c.cid.is_not(None))
        .group_by(m.c.grp, m.c.cid)
    )


def _after_events(session: Session, customers: Any, anchor: Any, kinds: tuple[str, ...]) -> Any:
    """(grp, cid, kind) of customers with an event of ``kinds`` 0 to AFTER_CONTACT_DAYS days
    after ``anchor``, each once."""
    gap = _days(session, CustomerEvent.occurred_at, anchor)
    return (
        sa.select(customers.c.grp, customers.c.cid, CustomerEvent.kind)
        .join(CustomerEvent, CustomerEvent.customer_id == customers.c.cid)
        .where(CustomerEvent.kind.in_(kinds), gap >= 0, gap <= AFTER_CONTACT_DAYS)
        .distinct()
        .subquery()
    )


def _baseline_churn(
    session: Session,
    scratch: _Scratch,
    pc: Any,
    since: datetime | None,
    until: datetime | None,
) -> dict[str | None, float | None]:
    """Churn of similar customers without the group: per group, the cancellation rate of the
    window's other contacting customers, segment by segment, weighted by the group's segment
    mix. Everyone is anchored on their first contact of the window, so the rates compare."""
    first_any = (
        _in_window(
            sa.select(
                Interaction.customer_id.label("cid"),
                sa.func.min(Interaction.created_at).label("first"),
            ).where(Interaction.customer_id.is_not(None), Interaction.created_at.is_not(None)),
            since,
            until,
        )
        .group_by(Interaction.customer_id)
        .subquery("fa")
    )
    # Whether each customer cancelled 0-90 days after their first contact of the window is
    # the same whatever the group: worked out once per customer.
    gap = _days(session, CustomerEvent.occurred_at, first_any.c.first)
    cancelled = (
        sa.exists()
        .where(
            CustomerEvent.customer_id == first_any.c.cid,
            CustomerEvent.kind == "cancellation",
            gap >= 0,
            gap <= AFTER_CONTACT_DAYS,
        )
        .correlate(first_any)
    )
    everyone = scratch.fill(
        "everyone",
        _columns(("cid", sa.Integer), ("seg", sa.String), ("churned", sa.Integer)),
        sa.select(
            first_any.c.cid,
            sa.func.coalesce(Customer.segment, "").label("seg"),
            sa.case((cancelled, 1), else_=0).label("churned"),
        ).join(Customer, Customer.id == first_any.c.cid),
        ["cid"],
    )
    all_by_seg: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for seg, n, churned in session.execute(
        sa.select(everyone.c.seg, sa.func.count(), sa.func.sum(everyone.c.churned)).group_by(
            everyone.c.seg
        )
    ):
        all_by_seg[seg] = [int(n), int(churned or 0)]
    grp_by_seg: dict[str | None, dict[str, list[int]]] = defaultdict(dict)
    for grp, seg, n, churned in session.execute(
        sa.select(pc.c.grp, everyone.c.seg, sa.func.count(), sa.func.sum(everyone.c.churned))
        .join(everyone, everyone.c.cid == pc.c.cid)
        .group_by(pc.c.grp, everyone.c.seg)
    ):
        grp_by_seg[_grp(grp)][seg] = [int(n), int(churned or 0)]
    out: dict[str | None, float | None] = {}
    for grp, segs in grp_by_seg.items():
        weighted = weight = 0.0
        for seg, (n, churned) in segs.items():
            others = all_by_seg[seg][0] - n
            if others > 0:
                weighted += n * (all_by_seg[seg][1] - churned) / others
                weight += n
        out[grp] = round(weighted / weight, 4) if weight else None
    return out


def breakdown(
    session: Session,
    by: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    theme_ids: Iterable[int] | None = None,
    costs: Mapping[str, float] | None = None,
    account_owner: str | None = None,
) -> Breakdown:
    """The window's contacts grouped by ``by``, each group's figures, largest group first.

    Args:
        session: database session.
        by: theme, problem, channel, source, segment, agent, or the name of an extra field
            (product, region, team ...).
        since: only contacts on or after this time.
        until: only contacts before this time.
        theme_ids: only contacts of these themes.
        costs: cost of a contact per channel (default ``DEFAULT_CONTACT_COSTS``).
        account_owner: only contacts of customers this account owner looks after.

    Raises:
        InputError: ``by`` is empty or not a plain field name.
    """
    if not by or not all(ch.isalnum() or ch in "_-" for ch in by) or len(by) > 64:
        raise InputError(
            f"cannot group by {by!r}: give theme, problem, channel, source, segment, agent or an extra field's name"
        )
    ids = None if theme_ids is None else list(dict.fromkeys(int(t) for t in theme_ids))
    costs = DEFAULT_CONTACT_COSTS if costs is None else costs
    total_q = _in_window(
        sa.select(
            sa.func.count(), sa.func.avg(Interaction.csat), sa.func.max(Interaction.created_at)
        ).where(Interaction.created_at.is_not(None)),
        since,
        until,
    )
    total, csat_all, newest = session.execute(total_q).one()
    total = int(total or 0)
    csat_base = _number(csat_all, 3)
    end = until or (newest + timedelta(seconds=1) if newest is not None else None)
    if end is None:
        return Breakdown(by, since, until, None, 0, None, [], [])
    scratch = _Scratch(session)
    try:
        found = _figures(
            session, scratch, by, since, until, end, ids, costs, account_owner, total, csat_base
        )
    except Exception:
        # A failed statement leaves PostgreSQL's transaction unusable (its rollback drops the
        # tables); SQLite's temporary tables last as long as the connection unless dropped.
        if session.get_bind().dialect.name != "postgresql":
            scratch.drop()
        raise
    scratch.drop()
    return found


def _figures(
    session: Session,
    scratch: _Scratch,
    by: str,
    since: datetime | None,
    until: datetime | None,
    end: datetime,
    ids: list[int] | None,
    costs: Mapping[str, float],
    account_owner: str | None,
    total: int,
    csat_base: float | None,
) -> Breakdown:
    m = scratch.fill(
        "m",
        _columns(
            ("grp", sa.String),
            ("iid", sa.Integer),
            ("cid", sa.Integer),
            ("at", _TS),
            ("resolved", _TS),
            ("csat", sa.Float),
            ("cost", sa.Float),
            ("tid", sa.Integer),
            ("seg", sa.String),
        ),
        _base(by, since, until, ids, costs, account_owner),
        [],
        analyze=True,
    )
    week = timedelta(days=7)
    last7 = sa.case((m.c.at >= end - week, 1), else_=0)
    prev7 = sa.case(((m.c.at >= end - 2 * week) & (m.c.at < end - week), 1), else_=0)
    counts = {
        _grp(r.grp): r
        for r in session.execute(
            sa.select(
                m.c.grp,
                sa.func.count(m.c.iid).label("contacts"),
                sa.func.avg(m.c.csat).label("csat"),
                sa.func.sum(m.c.cost).label("cost"),
                sa.func.sum(last7).label("last7"),
                sa.func.sum(prev7).label("prev7"),
            ).group_by(m.c.grp)
        )
    }
    pc = scratch.fill(
        "pc",
        _columns(("grp", sa.String), ("cid", sa.Integer), ("first", _TS), ("seg", sa.String)),
        _per_customer(m),
        ["cid", "grp"],
    )
    # Customers of each group and their value, each customer once (pc has one row each).
    value = {
        _grp(g): (int(n), v)
        for g, n, v in session.execute(
            sa.select(pc.c.grp, sa.func.count(), sa.func.sum(Customer.value))
            .join(Customer, Customer.id == pc.c.cid)
            .group_by(pc.c.grp)
        )
    }
    # Repeats and first-contact resolution: the same customer about the same theme.
    part = (m.c.grp, m.c.cid, m.c.tid)
    order = (m.c.at, m.c.iid)
    seq = (
        sa.select(
            m.c.grp,
            m.c.cid,
            m.c.at,
            m.c.resolved,
            sa.func.lag(m.c.at).over(partition_by=part, order_by=order).label("prev"),
            sa.func.lead(m.c.at).over(partition_by=part, order_by=order).label("next"),
        )
        .where(m.c.cid.is_not(None), m.c.tid.is_not(None))
        .subquery("seq")
    )
    repeat = sa.and_(seq.c.prev.is_not(None), _days(session, seq.c.at, seq.c.prev) <= REPEAT_DAYS)
    followed = sa.and_(seq.c.next.is_not(None), _days(session, seq.c.next, seq.c.at) <= REPEAT_DAYS)
    # Per customer first, then per group: two hash aggregations instead of DISTINCT counts.
    per_customer = (
        sa.select(
            seq.c.grp,
            sa.func.max(sa.case((repeat, 1), else_=0)).label("repeated"),
            sa.func.sum(sa.case((seq.c.resolved.is_not(None), 1), else_=0)).label("resolved"),
            sa.func.sum(
                sa.case((sa.and_(seq.c.resolved.is_not(None), sa.not_(followed)), 1), else_=0)
            ).label("fcr"),
        )
        .group_by(seq.c.grp, seq.c.cid)
        .subquery("rc")
    )
    themed = {
        _grp(r.grp): r
        for r in session.execute(
            sa.select(
                per_customer.c.grp,
                sa.func.count().label("customers"),
                sa.func.sum(per_customer.c.repeated).label("repeaters"),
                sa.func.sum(per_customer.c.resolved).label("resolved"),
                sa.func.sum(per_customer.c.fcr).label("fcr"),
            ).group_by(per_customer.c.grp)
        )
    }
    hours = (_days(session, m.c.resolved, m.c.at) * 24.0).label("hours")
    durations = (
        sa.select(m.c.grp, hours)
        .where(m.c.resolved.is_not(None), m.c.resolved >= m.c.at)
        .subquery("d")
    )
    ranked = sa.select(
        durations.c.grp,
        durations.c.hours,
        sa.func.row_number()
        .over(partition_by=durations.c.grp, order_by=durations.c.hours)
        .label("rn"),
        sa.func.count().over(partition_by=durations.c.grp).label("n"),
    ).subquery("r")
    medians = {
        _grp(g): h
        for g, h in session.execute(
            sa.select(ranked.c.grp, sa.func.avg(ranked.c.hours))
            .where(ranked.c.rn * 2 >= ranked.c.n, ranked.c.rn * 2 <= ranked.c.n + 2)
            .group_by(ranked.c.grp)
        )
    }
    moved = _after_events(session, pc, pc.c.first, ("cancellation", "downgrade", "upgrade"))
    events: dict[str | None, Counter[str]] = defaultdict(Counter)
    for g, kind, n in session.execute(
        sa.select(moved.c.grp, moved.c.kind, sa.func.count()).group_by(moved.c.grp, moved.c.kind)
    ):
        events[_grp(g)][kind] = int(n)
    churned = _after_events(session, pc, pc.c.first, ("cancellation",))
    lost = {
        _grp(g): v
        for g, v in session.execute(
            sa.select(churned.c.grp, sa.func.sum(Customer.value))
            .join(Customer, Customer.id == churned.c.cid)
            .group_by(churned.c.grp)
        )
    }
    baseline = _baseline_churn(session, scratch, pc, since, until)
    top = sa.case((SurveyResponse.score >= SurveyResponse.scale_max, 1.0), else_=0.0)
    nps_scale = SurveyResponse.scale_max == 10
    promoter = sa.case((sa.and_(nps_scale, SurveyResponse.score >= 9), 1.0), (nps_scale, 0.0))
    detractor = sa.case((sa.and_(nps_scale, SurveyResponse.score <= 6), 1.0), (nps_scale, 0.0))
    surveys = {
        _grp(r.grp): r
        for r in session.execute(
            sa.select(
                m.c.grp,
                sa.func.count(SurveyResponse.id).label("n"),
                sa.func.sum(sa.case((sa.not_(nps_scale), 1), else_=0)).label("n_top"),
                sa.func.avg(sa.case((sa.not_(nps_scale), top))).label("top"),
                (sa.func.avg(promoter) - sa.func.avg(detractor)).label("nps"),
            )
            .join(SurveyResponse, SurveyResponse.interaction_id == m.c.iid)
            .group_by(m.c.grp)
        )
    }
    week_starts, weekly = _weekly(session, m, end)
    keys = sorted(counts, key=lambda k: (-int(counts[k].contacts), k or ""))
    labels = _labels(session, by, keys)
    groups = []
    for key in keys:
        row = counts[key]
        customers, customer_value = value.get(key, (0, None))
        contacts = int(row.contacts)
        th, ev, sv = themed.get(key), events.get(key, Counter()), surveys.get(key)
        csat = _number(row.csat, 3)
        n_churned = ev["cancellation"]
        groups.append(
            GroupFigures(
                key=key,
                label=labels[key],
                contacts=contacts,
                share=_ratio(contacts, total),
                unique_customers=customers,
                contacts_per_customer=_ratio(contacts, customers, 3),
                last_7_days=int(row.last7 or 0),
                previous_7_days=int(row.prev7 or 0),
                week_over_week=_ratio(
                    int(row.last7 or 0) - int(row.prev7 or 0), int(row.prev7 or 0)
                ),
                weekly=weekly.get(key, [0] * len(week_starts)),
                repeat_contact_rate=_ratio(int(th.repeaters), int(th.customers)) if th else None,
                first_contact_resolution=_ratio(int(th.fcr or 0), int(th.resolved or 0))
                if th
                else None,
                csat=csat,
                csat_vs_baseline=round(csat - csat_base, 3)
                if csat is not None and csat_base is not None
                else None,
                median_hours_to_resolve=_number(medians.get(key)),
                contact_cost=round(float(row.cost or 0.0), 2),
                value_at_risk=_number(customer_value),
                churned_customers=n_churned,
                value_lost=_number(lost.get(key)),
                churn_rate=_ratio(n_churned, customers),
                baseline_churn_rate=baseline.get(key),
                downgraded_customers=ev["downgrade"],
                upgraded_customers=ev["upgrade"],
                survey_responses=int(sv.n) if sv else 0,
                top_box_answers=int(sv.n_top or 0) if sv else 0,
                top_box_rate=_number(sv.top, 4) if sv else None,
                nps=_number(sv.nps * 100, 1) if sv and sv.nps is not None else None,
            )
        )
    return Breakdown(by, since, until, end, total, csat_base, week_starts, groups)


def _weekly(
    session: Session, m: Any, end: datetime
) -> tuple[list[date], dict[str | None, list[int]]]:
    """Contacts per Monday-to-Sunday week of each group, the last ``_WEEKS_SHOWN`` weeks up to
    the week of ``end``."""
    last = (end - timedelta(microseconds=1)).date()
    last_monday = last - timedelta(days=last.weekday())
    starts = [last_monday - timedelta(weeks=_WEEKS_SHOWN - 1 - i) for i in range(_WEEKS_SHOWN)]
    day = _day_of(session, m.c.at)
    per: dict[str | None, Counter[date]] = defaultdict(Counter)
    for g, value, n in session.execute(
        sa.select(m.c.grp, day, sa.func.count())
        # A day of slack: the stored day may differ from UTC near midnight.
        .where(m.c.at >= datetime.combine(starts[0] - timedelta(days=1), time(), UTC))
        .group_by(m.c.grp, day)
    ):
        d = as_date(value)
        per[_grp(g)][d - timedelta(days=d.weekday())] += int(n)
    return starts, {g: [c.get(w, 0) for w in starts] for g, c in per.items()}


def _day_of(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return sa.cast(sa.func.timezone("UTC", column), sa.Date)
    return sa.func.date(column)
