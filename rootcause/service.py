"""Root-cause use cases: problems from themes, routing, life cycle, fixes, comments, tasks.

Every function takes a ``Session`` and an ``actor`` (the user's e-mail, or ``cli:<login>``,
``worker``), records each change in the audit trail, and leaves committing to the caller.
Functions that change a problem take ``expected_version``: the version the user saw. A
mismatch raises ``ConflictError`` instead of silently overwriting someone else's change.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from rootline.clustering.models import Theme
from rootline.db import utcnow
from rootline.errors import ConflictError, InputError, NotFoundError, StateError
from rootline.rootcause.audit import record
from rootline.rootcause.impact import priority_for_score, theme_impact
from rootline.rootcause.knowledge import publish_known_error
from rootline.rootcause.models import Comment, Problem, ProblemTheme, Task, Team, User
from rootline.rootcause.notify import notify_owners
from rootline.rootcause.routing import route_themes
from rootline.rootcause.states import CLOSED_STATES, check_transition
from rootline.rootcause.teams import find_team

__all__ = [
    "EDITABLE_FIELDS",
    "PRIORITIES",
    "TASK_STATES",
    "add_comment",
    "add_task",
    "assign",
    "create_problem",
    "get_problem",
    "list_problems",
    "my_tasks",
    "open_problem_for_theme",
    "record_fix",
    "set_task_state",
    "transition",
    "update_problem",
    "ux_backlog",
]

PRIORITIES = ("P1", "P2", "P3", "P4")
TASK_STATES = ("open", "in_progress", "done", "cancelled")
EDITABLE_FIELDS = frozenset(
    {
        "title",
        "description",
        "root_cause",
        "workaround",
        "fix_description",
        "fixed_at",
        "links",
        "tags",
        "priority",
    }
)
#: The timestamp each state sets when it is entered.
_STAMPS = {
    "assessed": "assessed_at",
    "fix_in_progress": "root_caused_at",
    "resolved": "resolved_at",
    "verified": "verified_at",
}
UX_TAGS = frozenset({"ux", "web"})
P = ParamSpec("P")
R = TypeVar("R")


def _refuse_lost_updates(func: Callable[P, R]) -> Callable[P, R]:
    """Turn SQLAlchemy's stale-version error (raised by any flush, autoflush included) into a
    ``ConflictError`` the user can act on."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except StaleDataError:
            raise ConflictError(
                "the problem was changed by someone else while you edited it; reload it and "
                "apply your change again"
            ) from None

    return wrapper


def _flush(session: Session, _problem: Problem) -> None:
    session.flush()


def get_problem(session: Session, problem_id: int, expected_version: int | None = None) -> Problem:
    """A problem by id, checked against the version the caller saw.

    Raises:
        NotFoundError: if there is no such problem.
        ConflictError: if ``expected_version`` is given and the problem has changed since.
    """
    problem = session.get(Problem, problem_id)
    if problem is None:
        raise NotFoundError(f"no problem #{problem_id}")
    if expected_version is not None and problem.version != expected_version:
        raise ConflictError(
            f"problem #{problem_id} is at version {problem.version}, you edited version "
            f"{expected_version}: someone else saved it meanwhile; reload and try again"
        )
    return problem


def list_problems(
    session: Session,
    *,
    states: Iterable[str] | None = None,
    team_id: int | None = None,
    theme_id: int | None = None,
) -> list[Problem]:
    """Problems, highest priority then newest first, optionally filtered."""
    stmt = sa.select(Problem)
    if states is not None:
        stmt = stmt.where(Problem.state.in_(list(states)))
    if team_id is not None:
        stmt = stmt.where(
            sa.or_(Problem.business_team_id == team_id, Problem.is_team_id == team_id)
        )
    if theme_id is not None:
        stmt = stmt.where(
            Problem.id.in_(
                sa.select(ProblemTheme.problem_id).where(ProblemTheme.theme_id == theme_id)
            )
        )
    return list(session.scalars(stmt.order_by(Problem.priority, Problem.id.desc())))


def _themes(session: Session, theme_ids: Iterable[int]) -> list[Theme]:
    ids = sorted(set(theme_ids))
    if not ids:
        raise InputError("a problem needs at least one theme")
    found = {t.id: t for t in session.scalars(sa.select(Theme).where(Theme.id.in_(ids)))}
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFoundError(f"no theme {', '.join(f'#{i}' for i in missing)}")
    return [found[i] for i in ids]


def create_problem(
    session: Session,
    theme_ids: Iterable[int],
    *,
    title: str | None = None,
    description: str = "",
    tags: Iterable[str] = (),
    actor: str = "system",
    auto: bool = False,
    now: datetime | None = None,
    webhook_url: str | None = None,
) -> Problem:
    """Promote one or more themes to a problem: measure impact, set priority, route to owners.

    Raises:
        InputError: if no theme is given.
        NotFoundError: if a theme does not exist.
    """
    now = now or utcnow()
    themes = _themes(session, theme_ids)
    impact = theme_impact(session, [t.id for t in themes])
    # Routed before the problem joins the session, so it is inserted once, at version 1.
    decision = route_themes(session, [t.id for t in themes])
    problem = Problem(
        title=(title or " / ".join(t.title for t in themes))[:255],
        description=description,
        tags=sorted({t.strip().lower() for t in tags if t.strip()}),
        impact_score=impact.score,
        impact=impact.as_dict(),
        priority=priority_for_score(impact.score),
        created_by=actor,
        auto_created=auto,
        created_at=now,
        updated_at=now,
        state_changed_at=now,
    )
    problem.themes = themes
    problem.business_team_id = decision.business_team_id
    problem.is_team_id = decision.is_team_id
    problem.routed_by_rule_id = decision.rule_id
    problem.routing_explanation = decision.explanation
    session.add(problem)
    _flush(session, problem)
    session.refresh(problem, ["business_team", "is_team"])
    record(
        session,
        actor,
        "problem",
        problem.id,
        "create",
        at=now,
        new={
            "title": problem.title,
            "themes": problem.theme_ids,
            "priority": problem.priority,
            "business_team": problem.business_team_id,
            "is_team": problem.is_team_id,
            "routing": problem.routing_explanation,
            "impact": impact.explanation,
        },
    )
    notify_owners(
        session,
        problem,
        "problem.created",
        f"New {problem.priority} problem #{problem.id} '{problem.title}' routed to "
        f"your team: {decision.explanation}. Impact: {impact.explanation}.",
        webhook_url=webhook_url,
    )
    _flush(session, problem)
    return problem


def open_problem_for_theme(session: Session, theme_id: int) -> Problem | None:
    """The problem being worked on for a theme, if any (one not closed as won't fix)."""
    for problem in list_problems(session, theme_id=theme_id):
        if problem.state != "closed_wont_fix":
            return problem
    return None


def _set(
    session: Session,
    problem: Problem,
    name: str,
    value: Any,
    actor: str,
    now: datetime,
    action: str = "update",
) -> bool:
    old = getattr(problem, name)
    if old == value:
        return False
    setattr(problem, name, value)
    record(session, actor, "problem", problem.id, action, name, old, value, at=now)
    return True


def _as_datetime(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=UTC)
    try:
        return _as_datetime(datetime.fromisoformat(str(value)))
    except ValueError:
        raise InputError(f"{value!r} is not a date (YYYY-MM-DD)", field="fixed_at") from None


@_refuse_lost_updates
def update_problem(
    session: Session,
    problem_id: int,
    changes: dict[str, Any],
    *,
    actor: str,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Problem:
    """Change a problem's fields; each change is audited. Setting ``priority`` overrides the
    one derived from impact.

    Raises:
        InputError: for an unknown field or a bad value.
        ConflictError: if the problem changed since ``expected_version``.
    """
    now = now or utcnow()
    unknown = sorted(set(changes) - EDITABLE_FIELDS)
    if unknown:
        raise InputError(
            f"cannot edit {', '.join(unknown)}; editable: {', '.join(sorted(EDITABLE_FIELDS))}"
        )
    problem = get_problem(session, problem_id, expected_version)
    for name, value in changes.items():
        if name == "priority":
            if value not in PRIORITIES:
                raise InputError(
                    f"priority must be one of {', '.join(PRIORITIES)}", field="priority"
                )
            if _set(session, problem, "priority", value, actor, now):
                problem.priority_overridden = True
        elif name == "title":
            if not str(value).strip():
                raise InputError("the title cannot be empty", field="title")
            _set(session, problem, name, str(value).strip()[:255], actor, now)
        elif name == "tags":
            _set(
                session,
                problem,
                name,
                sorted({str(t).strip().lower() for t in value if str(t).strip()}),
                actor,
                now,
            )
        elif name == "links":
            if not isinstance(value, list) or not all(
                isinstance(x, dict) and x.get("url") for x in value
            ):
                raise InputError("links must be a list of {label, url}", field="links")
            _set(session, problem, name, list(value), actor, now)
        elif name == "fixed_at":
            _set(session, problem, name, _as_datetime(value), actor, now)
        else:
            _set(
                session,
                problem,
                name,
                value or None if name != "description" else value or "",
                actor,
                now,
            )
    if {"root_cause", "workaround", "fix_description", "title"} & set(changes):
        publish_known_error(session, problem, actor)
    _flush(session, problem)
    return problem


@_refuse_lost_updates
def transition(
    session: Session,
    problem_id: int,
    target: str,
    *,
    actor: str,
    expected_version: int | None = None,
    now: datetime | None = None,
    reason: str | None = None,
    evidence: str | None = None,
) -> Problem:
    """Move a problem to another state of its life cycle.

    ``verified`` needs ``evidence``: ``"data"`` when the verification found the fix working,
    ``"accepted"`` when a lead accepts it without data evidence (with a reason). People move a
    problem through ``rootline.rootcause.verification.move_problem``, which supplies it.

    Raises:
        StateError: if the move is not allowed from the current state, or the problem is not
            ready for it (no root cause before the fix, no fix date before resolving, no
            evidence for verified).
        ConflictError: if the problem changed since ``expected_version``.
    """
    now = now or utcnow()
    problem = get_problem(session, problem_id, expected_version)
    check_transition(problem, target)
    if target == "verified" and evidence not in ("data", "accepted"):
        raise StateError(
            "a fix is verified by the data: run the verification (rootline problems verify), "
            "or have a lead accept it without data evidence, with a reason"
        )
    _set(session, problem, "state", target, actor, now, action="transition")
    problem.state_changed_at = now
    if target in _STAMPS:
        setattr(problem, _STAMPS[target], now)
    if target == "reopened":
        # A new cycle: the SLA clocks for root cause and fix start again from now.
        problem.reopen_count += 1
        problem.reopened_at = now
        problem.verified_at = problem.root_caused_at = problem.resolved_at = None
    if reason:
        add_comment(session, problem.id, f"{problem.state}: {reason}", actor=actor, now=now)
    _flush(session, problem)
    return problem


@_refuse_lost_updates
def assign(
    session: Session,
    problem_id: int,
    *,
    business: str | int | None = None,
    is_team: str | int | None = None,
    actor: str,
    expected_version: int | None = None,
    now: datetime | None = None,
    webhook_url: str | None = None,
) -> Problem:
    """Give a problem to a business team and/or an IS team by hand (overriding routing).

    Raises:
        NotFoundError: if a team does not exist.
        InputError: if a team is of the wrong kind.
    """
    now = now or utcnow()
    problem = get_problem(session, problem_id, expected_version)
    changed = False
    for ref, column, kinds in (
        (business, "business_team_id", {"business", "triage"}),
        (is_team, "is_team_id", {"is", "triage"}),
    ):
        if ref is None:
            continue
        team = find_team(session, ref)
        if team.kind not in kinds:
            raise InputError(
                f"team {team.name!r} is a {team.kind} team, not one of {'/'.join(sorted(kinds))}"
            )
        changed |= _set(session, problem, column, team.id, actor, now, action="assign")
    if changed:
        _set(session, problem, "routing_explanation", f"assigned by hand by {actor}", actor, now)
        problem.routed_by_rule_id = None
        _flush(session, problem)
        session.refresh(problem, ["business_team", "is_team"])
        notify_owners(
            session,
            problem,
            "problem.assigned",
            f"Problem #{problem.id} '{problem.title}' was assigned to your team.",
            webhook_url=webhook_url,
        )
    _flush(session, problem)
    return problem


@_refuse_lost_updates
def record_fix(
    session: Session,
    problem_id: int,
    fixed_on: date | datetime | str,
    *,
    description: str | None = None,
    actor: str,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Problem:
    """Record when (and what) the fix shipped; a problem being fixed becomes resolved.

    Raises:
        InputError: if the date is not a date.
        StateError: if the problem was closed as won't fix.
    """
    now = now or utcnow()
    problem = get_problem(session, problem_id, expected_version)
    if problem.state == "closed_wont_fix":
        raise StateError(f"problem #{problem_id} is closed as won't fix; reopen a new one")
    changes: dict[str, Any] = {"fixed_at": fixed_on}
    if description is not None:
        changes["fix_description"] = description
    update_problem(session, problem_id, changes, actor=actor, now=now)
    if problem.state == "fix_in_progress":
        transition(session, problem_id, "resolved", actor=actor, now=now)
    return problem


def add_comment(
    session: Session, problem_id: int, body: str, *, actor: str, now: datetime | None = None
) -> Comment:
    """Add a note to a problem.

    Raises:
        InputError: if the note is empty.
    """
    if not body.strip():
        raise InputError("a comment cannot be empty")
    problem = get_problem(session, problem_id)
    comment = Comment(
        problem_id=problem.id, author=actor, body=body.strip(), created_at=now or utcnow()
    )
    session.add(comment)
    session.flush()
    record(
        session,
        actor,
        "problem",
        problem.id,
        "comment",
        "comments",
        None,
        comment.body,
        at=comment.created_at,
    )
    return comment


def add_task(
    session: Session,
    problem_id: int,
    title: str,
    *,
    owner_team: str | int | None = None,
    owner_user_id: int | None = None,
    due_date: date | None = None,
    actor: str,
) -> Task:
    """Add a task under a problem, owned by a team and/or a person.

    Raises:
        InputError: if the title is empty.
        NotFoundError: if the problem, team or user does not exist.
    """
    if not title.strip():
        raise InputError("a task needs a title")
    problem = get_problem(session, problem_id)
    team_id = find_team(session, owner_team).id if owner_team is not None else None
    if owner_user_id is not None and session.get(User, owner_user_id) is None:
        raise NotFoundError(f"no user {owner_user_id}")
    task = Task(
        problem_id=problem.id,
        title=title.strip(),
        owner_team_id=team_id,
        owner_user_id=owner_user_id,
        due_date=due_date,
    )
    session.add(task)
    session.flush()
    record(
        session,
        actor,
        "task",
        task.id,
        "create",
        new={
            "problem": problem.id,
            "title": task.title,
            "team": team_id,
            "user": owner_user_id,
            "due": due_date,
        },
    )
    return task


def set_task_state(session: Session, task_id: int, state: str, *, actor: str) -> Task:
    """Move a task to open, in_progress, done or cancelled.

    Raises:
        InputError: for an unknown state.
        NotFoundError: if there is no such task.
    """
    if state not in TASK_STATES:
        raise InputError(f"task state must be one of {', '.join(TASK_STATES)}")
    task = session.get(Task, task_id)
    if task is None:
        raise NotFoundError(f"no task {task_id}")
    if task.state != state:
        record(session, actor, "task", task.id, "transition", "state", task.state, state)
        task.state = state
        task.completed_at = utcnow() if state in {"done", "cancelled"} else None
        session.flush()
    return task


def my_tasks(session: Session, user_id: int, include_done: bool = False) -> list[Task]:
    """A user's tasks: assigned to them, or to a team of theirs and to nobody in particular.

    Earliest due date first (no date last).
    """
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user {user_id}")
    team_ids = [t.id for t in user.teams]
    stmt = sa.select(Task).where(
        sa.or_(
            Task.owner_user_id == user_id,
            sa.and_(Task.owner_user_id.is_(None), Task.owner_team_id.in_(team_ids)),
        )
    )
    if not include_done:
        stmt = stmt.where(Task.state.in_(["open", "in_progress"]))
    tasks = list(session.scalars(stmt))
    return sorted(tasks, key=lambda t: (t.due_date is None, t.due_date or date.max, t.id))


def ux_backlog(session: Session, include_closed: bool = False) -> list[Problem]:
    """Problems tagged ux or web, for product owners, highest impact first."""
    problems = [p for p in list_problems(session) if UX_TAGS & set(p.tags or [])]
    if not include_closed:
        problems = [p for p in problems if p.state not in CLOSED_STATES]
    return sorted(problems, key=lambda p: (-p.impact_score, p.id))


def team_name(team: Team | None) -> str:
    """A team's name, or a dash when there is none."""
    return team.name if team else "-"
