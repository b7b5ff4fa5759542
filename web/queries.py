"""Read-only queries the pages need and no service offers yet, each in one or two statements.

The figures themselves come from the services (``rootline.rootcause.impact.measure_impact``
scores the contacts loaded here); this module only loads rows, filtered and in bulk, so list
pages run a fixed number of queries however many themes or problems there are.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased, selectinload

from rootline.clustering.models import Theme, ThemeMembership
from rootline.clustering.stats import WeekCount
from rootline.ingest.models import Customer, CustomerIdentity, Interaction
from rootline.rootcause.impact import (
    PRIOR_WEEKS,
    RECENT_WEEKS,
    Contact,
    Impact,
    contact_facts,
    impact_weights,
    measure_impact,
)
from rootline.rootcause.models import Problem, ProblemTheme, SlaBreach, Team
from rootline.rootcause.sla import clocks as sla_clocks
from rootline.rootcause.sla import policies
from rootline.rootcause.states import CLOSED_STATES

__all__ = [
    "BoardCard",
    "CustomerView",
    "Filters",
    "ScoreWindow",
    "ThemeFigures",
    "ThemeRow",
    "board_cards",
    "board_problems",
    "customer_view",
    "dashboard",
    "data_horizon",
    "filter_options",
    "problems_by_theme",
    "score_window",
    "theme_choices",
    "theme_figures",
]

SPARK_WEEKS = 12
THEME_STATUS_CHOICES = ("active", "proposed", "noise")


def _aware(ts: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; they were stored as UTC.
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


@dataclass(frozen=True)
class Filters:
    """The dashboard's filters; empty strings mean "any"."""

    date_from: date | None = None
    date_to: date | None = None
    channel: str = ""
    source: str = ""
    segment: str = ""
    status: str = "active"

    @property
    def narrowed(self) -> bool:
        """Whether any filter other than the theme status is set."""
        return bool(self.date_from or self.date_to or self.channel or self.source or self.segment)

    def params(self) -> dict[str, str]:
        """The filters as query parameters, for links that keep them."""
        return {
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
            "channel": self.channel,
            "source": self.source,
            "segment": self.segment,
            "status": "" if self.status == "active" else self.status,
        }

    def apply(self, stmt: Any) -> Any:
        """Add the contact filters to a statement that selects from ``Interaction``."""
        if self.date_from:
            stmt = stmt.where(
                Interaction.created_at >= datetime.combine(self.date_from, time(), UTC)
            )
        if self.date_to:
            end = datetime.combine(self.date_to + timedelta(days=1), time(), UTC)
            stmt = stmt.where(Interaction.created_at < end)
        if self.channel:
            stmt = stmt.where(Interaction.channel == self.channel)
        if self.source:
            stmt = stmt.where(Interaction.source == self.source)
        if self.segment:
            stmt = stmt.where(
                Interaction.customer_id.in_(
                    sa.select(Customer.id).where(Customer.segment == self.segment)
                )
            )
        return stmt


@dataclass
class ThemeRow:
    """One theme on the dashboard: its figures under the filters and its weekly trend."""

    id: int
    title: str
    keywords: list[str]
    size: int
    status: str
    impact: Impact
    weeks: list[int] = field(default_factory=list)
    #: The theme's newest contact under the filters.
    newest: datetime | None = None


def data_horizon(session: Session) -> datetime | None:
    """The newest contact's time: trends and sparklines end there, not today."""
    return _aware(session.scalar(sa.select(sa.func.max(Interaction.created_at))))


@dataclass(frozen=True)
class ScoreWindow:
    """When impact scores are measured: the growth component compares the 4 weeks up to
    ``as_of`` with the 8 weeks before, and weekly charts end with the week of ``as_of``.

    The dashboard and the theme pages measure at the same moment, the newest contact (or the
    end of the dashboard's "to" date, when that is earlier), so a theme scores alike on both.
    """

    as_of: datetime | None
    #: Whether ``as_of`` is the end of the date filter rather than the newest contact.
    by_filter: bool = False

    @property
    def recent_from(self) -> date | None:
        """First day of the recent weeks the growth component counts."""
        if self.as_of is None:
            return None
        return (self.as_of - timedelta(weeks=RECENT_WEEKS)).date()

    @property
    def prior_from(self) -> date | None:
        """First day of the earlier weeks the recent ones are compared with."""
        if self.as_of is None:
            return None
        return (self.as_of - timedelta(weeks=RECENT_WEEKS + PRIOR_WEEKS)).date()

    def week_starts(self, weeks: int = SPARK_WEEKS) -> list[date]:
        """The Mondays of the ``weeks`` weeks ending with the week of ``as_of``."""
        if self.as_of is None:
            return []
        day = self.as_of.date()
        last = day - timedelta(days=day.weekday())
        return [last - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]

    @property
    def words(self) -> str:
        """The window in a sentence, as the dashboard and the theme page print it."""
        if self.as_of is None:
            return "No dated contacts yet: scores count contacts, customers, CSAT and value only."
        end = self.as_of.date().isoformat()
        why = "the end of the date filter" if self.by_filter else "the newest contact"
        return (
            f"Scores as of {end} ({why}): growth compares the {RECENT_WEEKS} weeks from "
            f"{self.recent_from} to {end} with the {PRIOR_WEEKS} weeks from {self.prior_from}."
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the end, where it comes from, and the two growth windows' first days."""
        return {
            "as_of": self.as_of,
            "ends_at": "date_to" if self.by_filter else "newest_contact",
            "recent_from": self.recent_from,
            "prior_from": self.prior_from,
            "recent_weeks": RECENT_WEEKS,
            "prior_weeks": PRIOR_WEEKS,
        }


def score_window(session: Session, filters: Filters | None = None) -> ScoreWindow:
    """The moment scores are measured at: the newest contact, or the end of ``filters.date_to``
    when that comes first (contacts after it are filtered out, so growth must end there)."""
    horizon = data_horizon(session)
    if horizon is not None and filters is not None and filters.date_to is not None:
        end = datetime.combine(filters.date_to, time.max, UTC)
        if end < horizon:
            return ScoreWindow(end, by_filter=True)
    return ScoreWindow(horizon)


@dataclass
class Dashboard:
    """The ranked themes and the totals under the filters."""

    rows: list[ThemeRow]
    contacts: int
    themed: int
    customers: int
    value_at_risk: float
    week_starts: list[date]
    #: When the scores and sparklines are measured.
    window: ScoreWindow

    @property
    def unthemed(self) -> int:
        """Contacts under the filters in no theme of the chosen status."""
        return self.contacts - self.themed

    @property
    def unthemed_share(self) -> float:
        """Share (0..1) of contacts in no theme; 0 when there are none."""
        return self.unthemed / self.contacts if self.contacts else 0.0


def dashboard(session: Session, filters: Filters) -> Dashboard:
    """Themes of ``filters.status`` ranked by impact score, with 12-week sparklines, in three
    queries: totals, every member contact's figures, and the themes themselves. Scores and
    sparklines end at :func:`score_window`."""
    window = score_window(session, filters)
    horizon = window.as_of
    totals = filters.apply(
        sa.select(sa.func.count(), sa.func.count(sa.distinct(ThemeMembership.interaction_id)))
        .select_from(Interaction)
        .outerjoin(
            ThemeMembership,
            sa.and_(
                ThemeMembership.interaction_id == Interaction.id,
                ThemeMembership.theme_id.in_(
                    sa.select(Theme.id).where(Theme.status == filters.status)
                ),
            ),
        )
    )
    contacts, themed = session.execute(totals).one()
    rows = session.execute(
        filters.apply(
            contact_facts()
            .join(Theme, Theme.id == ThemeMembership.theme_id)
            .where(Theme.status == filters.status)
        ).execution_options(yield_per=10_000)
    )
    by_theme: dict[int, list[Contact]] = defaultdict(list)
    for theme_id, customer_id, created, resolved, csat, value in rows:
        # Times made aware (UTC) once here, rather than four times over in measure_impact.
        by_theme[theme_id].append(
            Contact(customer_id, _aware(created), _aware(resolved), csat, value)
        )
    starts = window.week_starts(SPARK_WEEKS)
    last_week = starts[-1] if starts else None
    last_day = last_week.toordinal() if last_week else 0
    themes = session.execute(
        sa.select(Theme.id, Theme.title, Theme.keywords, Theme.size, Theme.status).where(
            Theme.status == filters.status
        )
    )
    out = []
    customers: set[int] = set()
    value = 0.0
    weights = impact_weights(session)
    for theme_id, title, keywords, size, status in themes:
        group = by_theme.get(theme_id, [])
        if filters.narrowed and not group:
            continue
        weeks = [0] * len(starts)
        newest: datetime | None = None
        for c in group:
            at = c.created_at
            if at is None or last_week is None:
                continue
            newest = at if newest is None or at > newest else newest
            day = at.date()
            # Whole weeks between the contact's Monday and the last week's Monday.
            k = SPARK_WEEKS - 1 - (last_day - (day.toordinal() - day.weekday())) // 7
            if 0 <= k < SPARK_WEEKS:
                weeks[k] += 1
            if c.customer_id is not None and c.customer_id not in customers:
                customers.add(c.customer_id)
                value += c.customer_value or 0.0
        out.append(
            ThemeRow(
                theme_id,
                title,
                list(keywords or []),
                size,
                status,
                measure_impact(group, horizon, weights),
                weeks,
                newest,
            )
        )
    out.sort(key=lambda r: (-r.impact.score, -r.size, r.id))
    return Dashboard(
        out, int(contacts or 0), int(themed or 0), len(customers), value, starts, window
    )


@dataclass(frozen=True)
class ThemeFigures:
    """A theme page's costly figures: its impact and its contacts per week."""

    impact: Impact
    weeks: list[WeekCount]


def theme_figures(
    session: Session, theme_id: int, weeks: int = SPARK_WEEKS, *, as_of: datetime | None = None
) -> ThemeFigures:
    """The theme's impact and weekly volume from one read of its contacts.

    The same figures as ``rootline.rootcause.impact.theme_impact`` with trend windows ending
    at ``as_of`` (the dashboard's :func:`score_window`; default: the theme's newest contact)
    and ``rootline.clustering.stats.weekly_counts`` (``weeks`` Monday weeks ending with the
    week of the newest contact of any theme, days in UTC), which would read the theme's
    contacts twice.
    """
    # Times made aware (UTC) once here, rather than four times per contact in measure_impact.
    contacts = [
        Contact(customer_id, _aware(created), _aware(resolved), csat, value)
        for _, customer_id, created, resolved, csat, value in session.execute(
            contact_facts().where(ThemeMembership.theme_id == theme_id)
        )
    ]
    newest = session.scalar(sa.select(sa.func.max(Interaction.created_at)))
    counts: list[WeekCount] = []
    if newest is not None:
        # The window as weekly_counts draws it: from the newest time as the driver returns it.
        last = newest.date() - timedelta(days=newest.weekday())
        first = last - timedelta(weeks=weeks - 1)
        per_week: dict[date, int] = defaultdict(int)
        for c in contacts:
            if c.created_at is not None:
                day = c.created_at.date()
                per_week[day - timedelta(days=day.weekday())] += 1
        counts = [
            WeekCount(week_start=w, count=per_week.get(w, 0))
            for w in (first + timedelta(weeks=i) for i in range(weeks))
        ]
    return ThemeFigures(measure_impact(contacts, as_of, impact_weights(session)), counts)


def filter_options(session: Session) -> dict[str, list[str]]:
    """The values each dashboard filter can take."""

    def values(col: Any) -> list[str]:
        return [
            v
            for v in session.scalars(
                sa.select(col).where(col.is_not(None)).group_by(col).order_by(col)
            )
            if v
        ]

    return {
        "channel": values(Interaction.channel),
        "source": values(Interaction.source),
        "segment": values(Customer.segment),
        "status": list(THEME_STATUS_CHOICES),
    }


def problems_by_theme(session: Session, theme_ids: list[int]) -> dict[int, tuple[int, str]]:
    """For each theme, its newest problem not closed as won't fix: (problem id, state)."""
    if not theme_ids:
        return {}
    rows = session.execute(
        sa.select(ProblemTheme.theme_id, Problem.id, Problem.state)
        .join(Problem, Problem.id == ProblemTheme.problem_id)
        .where(ProblemTheme.theme_id.in_(theme_ids), Problem.state != "closed_wont_fix")
        .order_by(Problem.id)
    )
    return {tid: (pid, state) for tid, pid, state in rows}


def theme_choices(session: Session, exclude: int | None = None) -> list[tuple[int, str]]:
    """(id, title) of themes a theme can be merged into or contacts moved to: when
    ``exclude`` (the theme at hand) has a centroid, the most alike first (cosine similarity of
    the centroids; themes without one last), else by title."""
    stmt = (
        sa.select(Theme.id, Theme.title, Theme.centroid)
        .where(Theme.status.in_(["active", "proposed"]))
        .order_by(Theme.title, Theme.id)
    )
    if exclude is not None:
        stmt = stmt.where(Theme.id != exclude)
    rows = session.execute(stmt).all()
    here = session.scalar(sa.select(Theme.centroid).where(Theme.id == exclude)) if exclude else None
    if here is None:
        return [(i, t) for i, t, _ in rows]
    anchor = np.frombuffer(here, dtype=np.float32)

    def alike(centroid: bytes | None) -> float:
        if centroid is None:
            return -2.0  # below any cosine
        other = np.frombuffer(centroid, dtype=np.float32)
        if other.shape != anchor.shape:
            return -2.0
        norm = float(np.linalg.norm(anchor) * np.linalg.norm(other)) or 1.0
        return float(anchor @ other) / norm

    # sorted() is stable: equally alike themes keep their title order.
    return [(i, t) for i, t, c in sorted(rows, key=lambda r: -alike(r[2]))]


def board_problems(
    session: Session, *, team_id: int | None = None, priority: str = ""
) -> list[Problem]:
    """Problems for the board, with teams and themes loaded up front (no query per card)."""
    stmt = sa.select(Problem).options(
        selectinload(Problem.business_team), selectinload(Problem.is_team)
    )
    if team_id is not None:
        stmt = stmt.where(
            sa.or_(Problem.business_team_id == team_id, Problem.is_team_id == team_id)
        )
    if priority:
        stmt = stmt.where(Problem.priority == priority)
    return list(
        session.scalars(
            stmt.order_by(Problem.priority, Problem.impact_score.desc(), Problem.id.desc())
        )
    )


@dataclass(frozen=True)
class BoardCard:
    """What the board shows of one problem: a handful of columns, not the whole row."""

    id: int
    title: str
    state: str
    priority: str
    impact_score: float
    business_team: str | None
    is_team: str | None
    created_at: datetime
    fixed_at: datetime | None
    #: Times the worker escalated a missed SLA stage to the team leads.
    escalations: int = 0
    #: The first stage past due and not done, in words ("root cause overdue by 2 d"), if any.
    overdue: str | None = None


def board_cards(
    session: Session, *, team_id: int | None = None, priority: str = ""
) -> list[BoardCard]:
    """The board's problems in one query: the columns it shows and its owner teams' names.

    Same order and filters as ``board_problems``, without loading the problems' JSON figures
    and themes (the board shows neither).
    """
    business = aliased(Team)
    it = aliased(Team)
    stmt = (
        sa.select(
            Problem.id,
            Problem.title,
            Problem.state,
            Problem.priority,
            Problem.impact_score,
            business.name,
            it.name,
            Problem.created_at,
            Problem.fixed_at,
            sa.select(sa.func.count(SlaBreach.id))
            .where(SlaBreach.problem_id == Problem.id)
            .scalar_subquery(),
            Problem.reopened_at,
            Problem.reopen_count,
            Problem.assessed_at,
            Problem.root_caused_at,
            Problem.resolved_at,
        )
        .outerjoin(business, business.id == Problem.business_team_id)
        .outerjoin(it, it.id == Problem.is_team_id)
    )
    if team_id is not None:
        stmt = stmt.where(
            sa.or_(Problem.business_team_id == team_id, Problem.is_team_id == team_id)
        )
    if priority:
        stmt = stmt.where(Problem.priority == priority)
    rows = session.execute(
        stmt.order_by(Problem.priority, Problem.impact_score.desc(), Problem.id.desc())
    )
    table = policies(session)
    now = datetime.now(UTC)
    cards = []
    for row in rows:
        overdue = None
        if row.state not in CLOSED_STATES:
            stamps = Problem(
                created_at=row.created_at,
                reopened_at=row.reopened_at,
                reopen_count=row.reopen_count or 0,
                assessed_at=row.assessed_at,
                root_caused_at=row.root_caused_at,
                resolved_at=row.resolved_at,
            )
            late = [
                c for c in sla_clocks(stamps, table[row.priority], now) if c.status == "breached"
            ]
            if late:
                overdue = f"{late[0].stage.replace('_', ' ')} {late[0].words}"
        cards.append(BoardCard(*row[:10], overdue=overdue))
    return cards


@dataclass
class CustomerView:
    """A unified customer: identities, and every interaction across sources with its theme."""

    customer: Customer
    identities: list[CustomerIdentity]
    interactions: list[tuple[Interaction, int | None, str | None]]
    sources: list[str]


def customer_view(session: Session, customer_id: int, limit: int = 500) -> CustomerView | None:
    """The customer (following merges to the surviving record), or None."""
    customer = session.get(Customer, customer_id)
    seen = set()
    while customer is not None and customer.merged_into_id and customer.id not in seen:
        seen.add(customer.id)
        customer = session.get(Customer, customer.merged_into_id)
    if customer is None:
        return None
    identities = list(
        session.scalars(
            sa.select(CustomerIdentity)
            .where(CustomerIdentity.customer_id == customer.id)
            .order_by(CustomerIdentity.kind, CustomerIdentity.value)
        )
    )
    rows = session.execute(
        sa.select(Interaction, Theme.id, Theme.title)
        .outerjoin(ThemeMembership, ThemeMembership.interaction_id == Interaction.id)
        .outerjoin(Theme, Theme.id == ThemeMembership.theme_id)
        .where(Interaction.customer_id == customer.id)
        .order_by(Interaction.created_at.desc().nulls_last(), Interaction.id.desc())
        .limit(limit)
    ).all()
    interactions = [(i, tid, title) for i, tid, title in rows]
    sources = sorted(
        {i.source for i, _, _ in interactions} | {x.source for x in identities if x.source}
    )
    return CustomerView(customer, identities, interactions, sources)
