"""Read-only figures about themes for the overview pages: totals, runs, weekly volumes.

Each function takes a Session and returns plain data (dataclasses or pydantic schemas), so the
web app and the CLI can show the same numbers without touching the ORM.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.models import ClusteringRun, Theme, ThemeMembership
from rootline.clustering.schemas import ExampleOut, RunOut
from rootline.ingest.boilerplate import Boilerplate
from rootline.ingest.models import Interaction

__all__ = [
    "Overview",
    "WeekCount",
    "as_date",
    "contact_day",
    "example_previews",
    "last_full_run",
    "latest_run",
    "overview",
    "recent_runs",
    "weekly_counts",
]


@dataclass(frozen=True)
class Overview:
    """Totals across all interactions and active themes."""

    interactions: int
    themes: int
    themed: int

    @property
    def unthemed(self) -> int:
        """Interactions that belong to no active theme."""
        return self.interactions - self.themed

    @property
    def unthemed_share(self) -> float:
        """Share (0..1) of interactions in no active theme; 0 when there are none."""
        return self.unthemed / self.interactions if self.interactions else 0.0


@dataclass(frozen=True)
class WeekCount:
    """Contacts in one week, which starts on Monday ``week_start``."""

    week_start: date
    count: int


def overview(session: Session) -> Overview:
    """Count interactions, active themes and interactions placed in an active theme."""
    interactions = session.scalar(sa.select(sa.func.count()).select_from(Interaction)) or 0
    themes = (
        session.scalar(
            sa.select(sa.func.count()).select_from(Theme).where(Theme.status == "active")
        )
        or 0
    )
    themed = (
        session.scalar(
            sa.select(sa.func.count(sa.distinct(ThemeMembership.interaction_id)))
            .join(Theme, Theme.id == ThemeMembership.theme_id)
            .where(Theme.status == "active")
        )
        or 0
    )
    return Overview(interactions=interactions, themes=themes, themed=themed)


def _run_out(run: ClusteringRun) -> RunOut:
    return RunOut(
        id=run.id,
        kind=run.kind,
        status=run.status,
        model_slug=run.model_slug,
        n_interactions=run.n_interactions,
        started_at=run.started_at,
        finished_at=run.finished_at,
        params=dict(run.params or {}),
        metrics=dict(run.metrics or {}),
    )


def recent_runs(session: Session, limit: int = 20) -> list[RunOut]:
    """The newest clustering runs, newest first, whatever their status."""
    query = sa.select(ClusteringRun).order_by(ClusteringRun.id.desc()).limit(limit)
    return [_run_out(run) for run in session.scalars(query)]


def last_full_run(session: Session) -> ClusteringRun | None:
    """The newest full clustering run that succeeded: what later runs and alerts build on."""
    return session.scalars(
        sa.select(ClusteringRun)
        .where(ClusteringRun.kind == "full", ClusteringRun.status == "succeeded")
        .order_by(ClusteringRun.id.desc())
        .limit(1)
    ).first()


def corpus_boilerplate(session: Session) -> Boilerplate:
    """The boilerplate the last full run found in the corpus: what every text the themes are
    compared with loses before it is embedded (empty before the first run)."""
    run = last_full_run(session)
    return Boilerplate.from_list((run.params or {}).get("boilerplate") if run else None)


def latest_run(session: Session) -> RunOut | None:
    """The newest clustering run that succeeded, or None before the first one."""
    run = session.scalars(
        sa.select(ClusteringRun)
        .where(ClusteringRun.status == "succeeded")
        .order_by(ClusteringRun.id.desc())
        .limit(1)
    ).first()
    return _run_out(run) if run is not None else None


def example_previews(
    session: Session, theme_ids: Iterable[int], per_theme: int = 3
) -> dict[int, list[ExampleOut]]:
    """The first ``per_theme`` representative examples of each theme, in two queries.

    Themes with no examples map to an empty list; unknown ids are left out.
    """
    wanted = list(theme_ids)
    if not wanted:
        return {}
    picks: dict[int, list[int]] = {
        tid: list(examples or [])[:per_theme]
        for tid, examples in session.execute(
            sa.select(Theme.id, Theme.examples).where(Theme.id.in_(wanted))
        )
    }
    ids = {iid for chosen in picks.values() for iid in chosen}
    rows = {}
    if ids:
        rows = {
            r.id: r
            for r in session.execute(
                sa.select(
                    Interaction.id,
                    Interaction.source,
                    Interaction.external_id,
                    Interaction.body_clean,
                ).where(Interaction.id.in_(ids))
            )
        }
    return {
        tid: [
            ExampleOut(
                interaction_id=i,
                source=rows[i].source,
                external_id=rows[i].external_id,
                text=rows[i].body_clean,
            )
            for i in chosen
            if i in rows
        ]
        for tid, chosen in picks.items()
    }


def contact_day(session: Session) -> sa.ColumnElement[object]:
    """SQL for the UTC day of ``Interaction.created_at`` (read it back with ``as_date``)."""
    if session.get_bind().dialect.name == "postgresql":
        # date() of a timestamptz follows the connection's time zone; count days in UTC.
        return sa.cast(sa.func.timezone("UTC", Interaction.created_at), sa.Date)
    return sa.func.date(Interaction.created_at)


def as_date(value: object) -> date:
    """A day as the database returns it (a date, a datetime or an ISO string) as a date."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def weekly_counts(session: Session, theme_id: int, weeks: int = 12) -> list[WeekCount]:
    """Contacts per week for one theme over the last ``weeks`` weeks of data.

    The window ends with the week of the newest contact of any theme (not today), so
    historical data still shows, and a theme that faded out shows its empty recent weeks.
    Weeks start on Monday; weeks without contacts count 0; contacts without a date are left
    out. Without any dated contact at all the list is empty.
    """
    newest = session.scalar(sa.select(sa.func.max(Interaction.created_at)))
    if newest is None:
        return []
    last = newest.date() - timedelta(days=newest.weekday())
    first = last - timedelta(weeks=weeks - 1)
    day = contact_day(session)
    per_day = session.execute(
        sa.select(day, sa.func.count())
        .select_from(Interaction)
        .join(ThemeMembership, ThemeMembership.interaction_id == Interaction.id)
        .where(
            ThemeMembership.theme_id == theme_id,
            # A day of slack: the stored day may differ from UTC near midnight.
            Interaction.created_at >= datetime.combine(first - timedelta(days=1), time(), UTC),
        )
        .group_by(day)
    ).all()
    per_week: Counter[date] = Counter()
    for value, count in per_day:
        d = as_date(value)
        per_week[d - timedelta(days=d.weekday())] += int(count)
    starts = [first + timedelta(weeks=i) for i in range(weeks)]
    return [WeekCount(week_start=w, count=per_week.get(w, 0)) for w in starts]
