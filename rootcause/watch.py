"""What the worker watches in the data: themes that deserve a problem, fixes that worked (or did
not), and verified problems whose contacts come back."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.models import Theme
from rootline.rootcause.impact import impact_by_theme
from rootline.rootcause.models import Problem, ProblemTheme
from rootline.rootcause.notify import notify_owners
from rootline.rootcause.service import create_problem, get_problem, transition
from rootline.rootcause.verification import (
    MAX_WINDOW_DAYS,
    Verification,
    contact_counts,
    data_horizon,
    verify_problem,
)

__all__ = [
    "RECURRENCE_DAYS",
    "RECURRENCE_MIN_CONTACTS",
    "Recurrence",
    "apply_verdict",
    "auto_create_problems",
    "check_recurrence",
    "verify_resolved",
]

RECURRENCE_DAYS = 7
#: Fewer theme contacts than this in the recent window never reopen a problem (noise).
RECURRENCE_MIN_CONTACTS = 5


@dataclass
class Recurrence:
    """The recurrence check of one verified problem."""

    problem_id: int
    recent_theme_contacts: int
    recent_all_contacts: int
    recent_rate: float
    threshold_rate: float
    reopened: bool


def auto_create_problems(
    session: Session,
    threshold: float,
    *,
    webhook_url: str | None = None,
    now: datetime | None = None,
) -> list[Problem]:
    """Open a problem for every active theme without one whose impact score reaches the
    threshold (0 turns this off). A theme once closed as won't fix is left alone."""
    if threshold <= 0:
        return []
    linked = sa.select(ProblemTheme.theme_id)
    ids = list(
        session.scalars(
            sa.select(Theme.id).where(Theme.status == "active", Theme.id.not_in(linked))
        )
    )
    if not ids:
        return []
    impacts = impact_by_theme(session, ids, as_of=data_horizon(session))
    created = []
    for theme_id, impact in sorted(impacts.items(), key=lambda kv: -kv[1].score):
        if impact.score >= threshold:
            problem = create_problem(
                session,
                [theme_id],
                actor="worker",
                auto=True,
                now=now,
                webhook_url=webhook_url,
                description=f"Opened automatically: impact {impact.explanation} reached the "
                f"threshold {threshold:g}.",
            )
            created.append(problem)
    return created


def apply_verdict(
    session: Session,
    result: Verification,
    *,
    actor: str = "worker",
    webhook_url: str | None = None,
    now: datetime | None = None,
) -> str | None:
    """Act on a verification of a resolved problem: a verified fix moves it to verified (keeping
    the rate before the fix for the recurrence watch); a fix that failed over a full 28-day
    window reopens it. Owners are notified either way. ``now`` dates the transition (default:
    the clock).

    Returns:
        The state the problem moved to, or None if it stayed.
    """
    problem = get_problem(session, result.problem_id)
    if problem.state != "resolved":
        return None
    data = {"verification": result.as_dict()}
    if result.verdict == "verified":
        transition(
            session,
            problem.id,
            "verified",
            actor=actor,
            now=now,
            reason=f"fix verified in the data: {result.reason}",
            evidence="data",
        )
        problem.baseline_rate = result.before_rate
        notify_owners(
            session,
            problem,
            "problem.verified",
            f"The fix of problem #{problem.id} '{problem.title}' is verified: {result.reason}.",
            webhook_url=webhook_url,
            data=data,
        )
        return "verified"
    if result.verdict == "failed" and result.window_days >= MAX_WINDOW_DAYS:
        transition(
            session,
            problem.id,
            "reopened",
            actor=actor,
            now=now,
            reason=f"the fix did not reduce contacts: {result.reason}",
        )
        notify_owners(
            session,
            problem,
            "problem.reopened",
            f"Problem #{problem.id} '{problem.title}' is reopened: the fix did not "
            f"reduce contacts ({result.reason}).",
            webhook_url=webhook_url,
            data=data,
        )
        return "reopened"
    return None


def verify_resolved(
    session: Session, *, as_of: datetime | None = None, webhook_url: str | None = None
) -> list[Verification]:
    """Judge every resolved problem's fix and act on the verdict (see ``apply_verdict``)."""
    results = []
    ids = session.scalars(
        sa.select(Problem.id).where(Problem.state == "resolved", Problem.fixed_at.is_not(None))
    ).all()
    for problem_id in ids:
        result = verify_problem(session, problem_id, as_of)
        results.append(result)
        apply_verdict(session, result, webhook_url=webhook_url, now=as_of)
    session.flush()
    return results


def check_recurrence(
    session: Session,
    *,
    share: float = 0.5,
    as_of: datetime | None = None,
    webhook_url: str | None = None,
) -> list[Recurrence]:
    """Reopen verified problems whose theme is back: over the last 7 days its contact rate is at
    least ``share`` of the rate before the fix (and there are at least 5 such contacts); the
    owners are notified."""
    end = as_of or data_horizon(session)
    if end is None:
        return []
    start = end - timedelta(days=RECURRENCE_DAYS)
    out = []
    for problem in session.scalars(sa.select(Problem).where(Problem.state == "verified")).all():
        if not problem.baseline_rate:
            continue
        # The window ends just after the newest contact, so that contact counts.
        x, n = contact_counts(session, problem.theme_ids, start, end + timedelta(seconds=1))
        rate = x / n if n else 0.0
        threshold = share * problem.baseline_rate
        back = x >= RECURRENCE_MIN_CONTACTS and rate >= threshold and not math.isclose(rate, 0)
        out.append(Recurrence(problem.id, x, n, round(rate, 6), round(threshold, 6), back))
        if not back:
            continue
        reason = (
            f"theme contacts are back: {x} of {n} contacts ({rate:.2%}) in the last "
            f"{RECURRENCE_DAYS} days, threshold {threshold:.2%} "
            f"({share:.0%} of {problem.baseline_rate:.2%} before the fix)"
        )
        transition(session, problem.id, "reopened", actor="worker", reason=reason)
        notify_owners(
            session,
            problem,
            "problem.reopened",
            f"Problem #{problem.id} '{problem.title}' is reopened: {reason}.",
            webhook_url=webhook_url,
            data={
                "recent_theme_contacts": x,
                "recent_all_contacts": n,
                "recent_rate": rate,
                "threshold_rate": threshold,
            },
        )
    session.flush()
    return out
