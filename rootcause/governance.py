"""The governance board: problems ranked by impact, and what the board decided about each.

A board of business and IS leaders (the members of a team of kind ``board``; admins too)
ranks the open problems by their themes' impact today, with the breakdown of the score, and
decides per problem: approve (a ``new`` problem is then assessed), defer to a date, reject
with a reason (the problem is closed as won't fix), or merge into another problem (its themes
move there, and it is closed). Every decision is a row of its own (who, when, the impact
score at the time) and an entry of the problem's audit trail. The periodic review lists the
decisions of a period and their effect: contacts before and after the fix of approved
problems that were fixed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.models import ThemeMembership
from rootline.db import utcnow
from rootline.errors import InputError, StateError
from rootline.ingest.models import Customer
from rootline.rootcause.audit import record
from rootline.rootcause.impact import Contact, Impact, contact_facts, measure_impact
from rootline.rootcause.models import BoardDecision, Problem, User
from rootline.rootcause.service import add_comment, get_problem, team_name, transition
from rootline.rootcause.states import CLOSED_STATES, OPEN_STATES
from rootline.rootcause.verification import verify_problem

__all__ = [
    "DECISIONS",
    "BoardItem",
    "ReviewRow",
    "audience_filter",
    "board_items",
    "decide",
    "decisions_of",
    "is_board_member",
    "review",
]

DECISIONS = ("approve", "defer", "reject", "merge")
#: How a decision reads on the board.
_STANDING = {"approve": "approved", "defer": "deferred", "reject": "rejected", "merge": "merged"}


def is_board_member(user: User) -> bool:
    """Board members decide: the members of a ``board`` team, and admins."""
    return user.role == "admin" or any(t.kind == "board" for t in user.teams)


@dataclass
class BoardItem:
    """One problem as the board sees it."""

    problem: Problem
    impact: Impact
    decision: BoardDecision | None
    rank: int = 0

    @property
    def standing(self) -> str:
        """``undecided``, ``approved``, ``deferred``, ``due again`` (a deferral that ended),
        ``rejected`` or ``merged``."""
        if self.decision is None:
            return "undecided"
        if self.decision.decision == "defer" and (
            self.decision.defer_until is None or self.decision.defer_until <= date.today()
        ):
            return "due again"
        return _STANDING[self.decision.decision]

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready item: the problem, its impact breakdown and the decision."""
        p, d = self.problem, self.decision
        return {
            "rank": self.rank,
            "problem_id": p.id,
            "title": p.title,
            "state": p.state,
            "priority": p.priority,
            "business_team": team_name(p.business_team),
            "is_team": team_name(p.is_team),
            "theme_ids": p.theme_ids,
            "impact_score": round(self.impact.score, 2),
            "contacts": self.impact.contacts,
            "customers": self.impact.unique_customers,
            "value_at_risk": round(self.impact.value_at_risk, 2),
            "breakdown": self.impact.breakdown().as_dict(),
            "standing": self.standing,
            "decision": _decision_dict(d) if d is not None else None,
        }


def _decision_dict(d: BoardDecision) -> dict[str, Any]:
    return {
        "id": d.id,
        "problem_id": d.problem_id,
        "decision": d.decision,
        "defer_until": d.defer_until.isoformat() if d.defer_until else None,
        "reason": d.reason,
        "merged_into_id": d.merged_into_id,
        "decided_by": d.decided_by,
        "decided_at": d.decided_at.isoformat(),
        "impact_score": round(d.impact_score, 2),
    }


def audience_filter(audience: str | None) -> sa.ColumnElement[bool] | None:
    """The contacts of external customers (``external``; contacts of no known customer count
    as external) or of internal ones, employees and departments (``internal``); None: all.

    Raises:
        InputError: another audience.
    """
    if audience in (None, "", "all"):
        return None
    if audience == "external":
        return sa.or_(Customer.kind.is_(None), Customer.kind == "external")
    if audience == "internal":
        return Customer.kind.in_(("employee", "department"))
    raise InputError(f"audience must be external or internal, not {audience!r}", field="audience")


def _impacts(
    session: Session, problems: Iterable[Problem], audience: str | None = None
) -> dict[int, Impact]:
    """Each problem's impact today, from its themes' contacts read in one query (only the
    contacts of one audience when ``audience`` is external or internal)."""
    problems = list(problems)
    owners: dict[int, list[int]] = defaultdict(list)
    for p in problems:
        for tid in p.theme_ids:
            owners[tid].append(p.id)
    contacts: dict[int, list[Contact]] = {p.id: [] for p in problems}
    if owners:
        stmt = contact_facts().where(ThemeMembership.theme_id.in_(list(owners)))
        if (only := audience_filter(audience)) is not None:
            stmt = stmt.where(only)
        rows = session.execute(stmt)
        for theme_id, customer_id, created, resolved, csat, value in rows:
            for pid in owners[theme_id]:
                contacts[pid].append(Contact(customer_id, created, resolved, csat, value))
    return {pid: measure_impact(group) for pid, group in contacts.items()}


def _latest_decisions(session: Session, problem_ids: list[int]) -> dict[int, BoardDecision]:
    out: dict[int, BoardDecision] = {}
    if not problem_ids:
        return out
    rows = session.scalars(
        sa.select(BoardDecision)
        .where(BoardDecision.problem_id.in_(problem_ids))
        .order_by(BoardDecision.id)
    )
    for d in rows:
        out[d.problem_id] = d  # the newest stands
    return out


def board_items(
    session: Session,
    *,
    business_team_id: int | None = None,
    is_team_id: int | None = None,
    include_closed: bool = False,
    standing: str | None = None,
    audience: str | None = None,
) -> list[BoardItem]:
    """Problems ranked by their impact today (highest first), filtered by business area (the
    business owner team) and IS team; open problems only unless ``include_closed``; the
    impact of external customers' or internal customers' contacts only with ``audience``
    (problems with no contact of that audience left out)."""
    stmt = sa.select(Problem)
    if not include_closed:
        stmt = stmt.where(Problem.state.in_(sorted(OPEN_STATES)))
    if business_team_id is not None:
        stmt = stmt.where(Problem.business_team_id == business_team_id)
    if is_team_id is not None:
        stmt = stmt.where(Problem.is_team_id == is_team_id)
    problems = list(session.scalars(stmt.order_by(Problem.id)))
    impacts = _impacts(session, problems, audience)
    if audience_filter(audience) is not None:
        problems = [p for p in problems if impacts[p.id].contacts]
    latest = _latest_decisions(session, [p.id for p in problems])
    items = [BoardItem(p, impacts[p.id], latest.get(p.id)) for p in problems]
    items.sort(key=lambda i: (-i.impact.score, i.problem.id))
    for k, item in enumerate(items, start=1):
        item.rank = k
    if standing:
        items = [i for i in items if i.standing == standing]
    return items


def decisions_of(session: Session, problem_id: int) -> list[BoardDecision]:
    """Every board decision about a problem, newest first."""
    return list(
        session.scalars(
            sa.select(BoardDecision)
            .where(BoardDecision.problem_id == problem_id)
            .order_by(BoardDecision.id.desc())
        )
    )


def _check(
    session: Session,
    problem: Problem,
    decision: str,
    reason: str,
    defer_until: date | None,
    merge_into: int | None,
    today: date,
) -> Problem | None:
    if decision not in DECISIONS:
        raise InputError(
            f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}", field="decision"
        )
    if problem.state in CLOSED_STATES:
        raise StateError(f"problem #{problem.id} is {problem.state}: the board decides open ones")
    if decision == "defer" and (defer_until is None or defer_until <= today):
        raise InputError("a deferral needs a date after today", field="defer_until")
    if decision == "reject" and not reason:
        raise InputError("a rejection needs a reason", field="reason")
    if decision != "merge":
        return None
    if merge_into is None:
        raise InputError("a merge needs the problem to merge into", field="merge_into")
    if merge_into == problem.id:
        raise InputError("a problem cannot be merged into itself", field="merge_into")
    target = get_problem(session, merge_into)
    if target.state in CLOSED_STATES:
        raise StateError(f"problem #{target.id} is {target.state}: merge into an open problem")
    return target


def decide(
    session: Session,
    problem_id: int,
    decision: str,
    *,
    actor: str,
    reason: str = "",
    defer_until: date | None = None,
    merge_into: int | None = None,
    now: datetime | None = None,
) -> BoardDecision:
    """Record the board's decision about an open problem, in its audit trail too.

    Approving moves a ``new`` problem to ``assessed``; rejecting closes it as won't fix with
    the reason; merging moves its themes to ``merge_into`` and closes it.

    Raises:
        NotFoundError: no such problem (or merge target).
        InputError: an unknown decision, a deferral without a later date, a rejection
            without a reason, a merge without a target or into itself.
        StateError: the problem (or the merge target) is closed.
    """
    now = now or utcnow()
    reason = reason.strip()
    problem = get_problem(session, problem_id)
    target = _check(session, problem, decision, reason, defer_until, merge_into, now.date())
    previous = _latest_decisions(session, [problem.id]).get(problem.id)
    score = _impacts(session, [problem])[problem.id].score
    row = BoardDecision(
        problem_id=problem.id,
        decision=decision,
        defer_until=defer_until if decision == "defer" else None,
        reason=reason,
        merged_into_id=target.id if target is not None else None,
        decided_by=actor,
        decided_at=now,
        impact_score=score,
    )
    session.add(row)
    session.flush()
    record(
        session,
        actor,
        "problem",
        problem.id,
        "board_decision",
        field="decision",
        old=previous.decision if previous is not None else None,
        new=_decision_dict(row),
        at=now,
    )
    if decision == "approve" and problem.state == "new":
        transition(session, problem.id, "assessed", actor=actor, now=now, reason=reason or None)
    elif decision == "reject":
        transition(
            session,
            problem.id,
            "closed_wont_fix",
            actor=actor,
            now=now,
            reason=f"rejected by the board: {reason}",
        )
    elif target is not None:
        _merge(session, problem, target, actor=actor, now=now, reason=reason)
    return row


def _merge(
    session: Session, problem: Problem, target: Problem, *, actor: str, now: datetime, reason: str
) -> None:
    before = target.theme_ids
    known = set(before)
    target.themes = list(target.themes) + [t for t in problem.themes if t.id not in known]
    record(session, actor, "problem", target.id, "update", "themes", before, target.theme_ids, now)
    why = f": {reason}" if reason else ""
    add_comment(
        session, target.id, f"problem #{problem.id} merged into this one{why}", actor=actor, now=now
    )
    transition(
        session,
        problem.id,
        "closed_wont_fix",
        actor=actor,
        now=now,
        reason=f"merged into problem #{target.id} by the board{why}",
    )


@dataclass
class ReviewRow:
    """One decision of the review period, with its effect where it can be measured."""

    decision: BoardDecision
    problem: Problem
    effect: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready row."""
        return {
            **_decision_dict(self.decision),
            "title": self.problem.title,
            "state": self.problem.state,
            "business_team": team_name(self.problem.business_team),
            "is_team": team_name(self.problem.is_team),
            "effect": self.effect,
        }


def _effect(session: Session, problem: Problem) -> dict[str, Any] | None:
    """Contacts before and after the fix, over the verification's windows."""
    if problem.fixed_at is None:
        return None
    v = verify_problem(session, problem.id)
    return {
        "fixed_at": v.fixed_at,
        "window_days": v.window_days,
        "contacts_before": v.before_theme_contacts,
        "contacts_after": v.after_theme_contacts,
        "relative_change": v.relative_change,
        "verdict": v.verdict,
        "reason": v.reason,
    }


def review(session: Session, start: date, end: date) -> list[ReviewRow]:
    """Decisions made from ``start`` to ``end`` (both days included), oldest first; approved
    problems that were fixed carry their contacts before and after the fix.

    Raises:
        InputError: the period ends before it starts.
    """
    if end < start:
        raise InputError("the review period ends before it starts", field="end")
    lo = datetime(start.year, start.month, start.day, tzinfo=UTC)
    hi = datetime.combine(end, datetime.max.time(), tzinfo=UTC)
    rows = session.scalars(
        sa.select(BoardDecision)
        .where(BoardDecision.decided_at >= lo, BoardDecision.decided_at <= hi)
        .order_by(BoardDecision.decided_at, BoardDecision.id)
    )
    out = []
    for d in rows:
        problem = get_problem(session, d.problem_id)
        effect = _effect(session, problem) if d.decision == "approve" else None
        out.append(ReviewRow(d, problem, effect))
    return out
