"""Service levels per priority, and escalation to the team leads when one is breached.

Each problem has three clocks: to be assessed, to have its root cause found, to be fixed
(resolved). They start when the problem is created, or again when it is reopened (then only
root cause and fix). A breach is stored as an ``SlaBreach`` row keyed by (problem, stage, reopen
count), so a restarted worker never escalates the same breach twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.db import utcnow
from rootline.errors import InputError
from rootline.rootcause.audit import record
from rootline.rootcause.models import Problem, SlaBreach, SlaPolicy
from rootline.rootcause.notify import notify_owners
from rootline.rootcause.states import CLOSED_STATES

__all__ = [
    "DEFAULT_POLICIES",
    "Clock",
    "Policy",
    "check_slas",
    "clocks",
    "policies",
    "set_policy",
    "sla_status",
]


@dataclass(frozen=True)
class Policy:
    """Hours allowed for each stage."""

    assess: float
    root_cause: float
    fix: float


DEFAULT_POLICIES: dict[str, Policy] = {
    "P1": Policy(assess=4, root_cause=48, fix=7 * 24),
    "P2": Policy(assess=24, root_cause=5 * 24, fix=14 * 24),
    "P3": Policy(assess=72, root_cause=14 * 24, fix=30 * 24),
    "P4": Policy(assess=7 * 24, root_cause=30 * 24, fix=90 * 24),
}
_STAGE_DONE = {"assess": "assessed_at", "root_cause": "root_caused_at", "fix": "resolved_at"}


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def policies(session: Session) -> dict[str, Policy]:
    """The policy of each priority: the stored ones, the defaults for the rest."""
    out = dict(DEFAULT_POLICIES)
    for row in session.scalars(sa.select(SlaPolicy)):
        out[row.priority] = Policy(row.hours_to_assess, row.hours_to_root_cause, row.hours_to_fix)
    return out


def set_policy(session: Session, priority: str, policy: Policy, actor: str = "system") -> None:
    """Store the policy of a priority.

    Raises:
        InputError: for an unknown priority or a non-positive duration.
    """
    if priority not in DEFAULT_POLICIES:
        raise InputError(f"priority must be one of {', '.join(DEFAULT_POLICIES)}")
    if min(policy.assess, policy.root_cause, policy.fix) <= 0:
        raise InputError("SLA durations must be positive hours")
    old = policies(session)[priority]
    row = session.scalar(sa.select(SlaPolicy).where(SlaPolicy.priority == priority))
    if row is None:
        row = SlaPolicy(priority=priority)
        session.add(row)
    row.hours_to_assess, row.hours_to_root_cause, row.hours_to_fix = (
        policy.assess,
        policy.root_cause,
        policy.fix,
    )
    session.flush()
    record(session, actor, "sla_policy", row.id, "update", priority, old.__dict__, policy.__dict__)


def sla_status(problem: Problem, policy: Policy) -> list[tuple[str, datetime, bool]]:
    """Each stage that applies to the problem's current cycle: (stage, due at, done)."""
    start = _aware(problem.reopened_at or problem.created_at)
    stages = ["root_cause", "fix"] if problem.reopen_count else ["assess", "root_cause", "fix"]
    out = []
    for stage in stages:
        due = start + timedelta(hours=getattr(policy, stage))
        done = getattr(problem, _STAGE_DONE[stage]) is not None
        out.append((stage, due, done))
    return out


@dataclass(frozen=True)
class Clock:
    """One stage's SLA clock as a person reads it.

    ``status`` is ``met`` (done by its due time), ``late`` (done after it), ``breached`` (not
    done and past due) or ``running``; ``hours`` is the time left while running, how far past
    due for ``breached``, how late for ``late``, and how early for ``met``.
    """

    stage: str
    due_at: datetime
    done_at: datetime | None
    status: str
    hours: float

    @property
    def done(self) -> bool:
        return self.done_at is not None

    @property
    def words(self) -> str:
        """The status in words: "met", "done 3 h late", "overdue by 2 d 4 h", "5 h left"."""
        span = _span(self.hours)
        return {
            "met": "met",
            "late": f"done {span} late",
            "breached": f"overdue by {span}",
            "running": f"{span} left",
        }[self.status]

    def as_dict(self) -> dict[str, Any]:
        """The clock as JSON (``rootline problems show --json`` and ``GET /api/problems/ID``)."""
        return {
            "stage": self.stage,
            "due_at": self.due_at.isoformat(),
            "done": self.done,
            "done_at": self.done_at.isoformat() if self.done_at else None,
            "status": self.status,
            "hours": self.hours,
            "in_words": self.words,
        }


def _span(hours: float) -> str:
    whole = max(0, round(hours))
    days, rest = divmod(whole, 24)
    if days and rest:
        return f"{days} d {rest} h"
    return f"{days} d" if days else f"{rest} h"


def clocks(problem: Problem, policy: Policy, now: datetime | None = None) -> list[Clock]:
    """Each stage's clock (see ``Clock``) at ``now`` (default: the current time)."""
    now = _aware(now or datetime.now(UTC))
    out = []
    for stage, due, _ in sla_status(problem, policy):
        done = getattr(problem, _STAGE_DONE[stage])
        done_at = _aware(done) if done is not None else None
        if done_at is not None:
            late = (done_at - due).total_seconds() / 3600
            status, hours = ("late", late) if late > 0 else ("met", -late)
        else:
            left = (due - now).total_seconds() / 3600
            status, hours = ("running", left) if left >= 0 else ("breached", -left)
        out.append(Clock(stage, due, done_at, status, round(hours, 2)))
    return out


def _leads(problem: Problem) -> list[str]:
    return sorted(
        {
            team.lead.email
            for team in (problem.business_team, problem.is_team)
            if team is not None and team.lead is not None
        }
    )


def check_slas(
    session: Session, now: datetime | None = None, webhook_url: str | None = None
) -> list[SlaBreach]:
    """Record and escalate every SLA breached since the last check.

    Returns:
        The breaches found in this pass (each is escalated exactly once).
    """
    now = now or utcnow()
    table = policies(session)
    open_problems = session.scalars(
        sa.select(Problem).where(Problem.state.not_in(sorted(CLOSED_STATES)))
    ).all()
    known = {
        (pid, stage, cycle)
        for pid, stage, cycle in session.execute(
            sa.select(SlaBreach.problem_id, SlaBreach.stage, SlaBreach.cycle)
        )
    }
    found = []
    for problem in open_problems:
        for stage, due, done in sla_status(problem, table[problem.priority]):
            key = (problem.id, stage, problem.reopen_count)
            if done or due > now or key in known:
                continue
            leads = _leads(problem)
            breach = SlaBreach(
                problem_id=problem.id,
                stage=stage,
                cycle=problem.reopen_count,
                due_at=due,
                breached_at=now,
                escalated_to=leads,
            )
            session.add(breach)
            record(
                session,
                "worker",
                "problem",
                problem.id,
                "sla_breach",
                stage,
                None,
                {"due": due, "escalated_to": leads},
                at=now,
            )
            late = now - due
            notify_owners(
                session,
                problem,
                "problem.sla_breached",
                f"SLA breached on {problem.priority} problem #{problem.id} '{problem.title}': "
                f"{stage.replace('_', ' ')} was due {due:%Y-%m-%d %H:%M} UTC "
                f"({late.total_seconds() / 3600:.0f} h late). Escalated to the team leads.",
                webhook_url=webhook_url,
                extra_emails=leads,
                data={"stage": stage, "due_at": due.isoformat(), "escalated_to": leads},
            )
            found.append(breach)
    session.flush()
    return found
