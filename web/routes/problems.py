"""Problem pages: the board (kanban by state) and one problem with its workflow actions."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from rootline.rootcause import service as problems
from rootline.rootcause.models import Task
from rootline.rootcause.service import PRIORITIES
from rootline.rootcause.states import STATES
from rootline.rootcause.teams import list_teams
from rootline.rootcause.verification import move_problem
from rootline.web import queries
from rootline.web.deps import MAX_ID, Renderer, RowId, SessionDep, csv_response, flash, wants_csv
from rootline.web.permissions import CurrentUser, WorkableProblem, can_work_on, check_can_work_on
from rootline.web.views import problem_context

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
Version = Annotated[int | None, Form(ge=1)]


@router.get("/problems", name="board_page")
def board_page(
    request: Request,
    session: SessionDep,
    render: Renderer,
    team: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    priority: Annotated[str, Query(pattern="^(|P1|P2|P3|P4)$")] = "",
) -> Response:
    """Problems by state, one column per state, filtered by team and priority."""
    items = queries.board_cards(session, team_id=team, priority=priority)
    if wants_csv(request):
        return csv_response(
            "problems",
            [
                "problem_id",
                "title",
                "state",
                "priority",
                "impact_score",
                "business_team",
                "is_team",
                "created_at",
                "fixed_at",
            ],
            (
                [
                    p.id,
                    p.title,
                    p.state,
                    p.priority,
                    p.impact_score,
                    p.business_team or "",
                    p.is_team or "",
                    p.created_at,
                    p.fixed_at,
                ]
                for p in items
            ),
        )
    columns: dict[str, list[queries.BoardCard]] = {s: [] for s in STATES}
    for p in items:
        columns[p.state].append(p)
    params = "&".join(f"{k}={v}" for k, v in (("team", team or ""), ("priority", priority)) if v)
    return render(
        "board.html",
        columns=columns,
        teams=list_teams(session),
        team=team,
        priority=priority,
        priorities=PRIORITIES,
        csv_url=f"/problems?{params + '&' if params else ''}format=csv",
    )


@router.get("/problems/{problem_id}", name="problem_page")
def problem_page(
    session: SessionDep, render: Renderer, user: CurrentUser, problem_id: RowId
) -> Response:
    """One problem: owners, routing, tasks, SLA clocks, verification, comments, audit trail."""
    problem = problems.get_problem(session, problem_id)
    teams = list_teams(session)
    return render(
        "problem.html",
        **problem_context(session, problem),
        may_work=can_work_on(user, problem),
        teams=teams,
        task_states=problems.TASK_STATES,
        today=date.today(),
    )


@router.post("/problems/{problem_id}/transition", name="problem_transition")
def problem_transition(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    problem_id: RowId,
    _problem: WorkableProblem,
    target: Annotated[str, Form(max_length=32)],
    version: Version = None,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Move the problem to the next state of its life cycle (verified: when the data says so)."""
    problem = move_problem(
        session,
        problem_id,
        target,
        actor=user.email,
        expected_version=version,
        reason=reason.strip() or None,
    )
    flash(request, f"Problem #{problem.id} is now {problem.state.replace('_', ' ')}.")
    return RedirectResponse(f"/problems/{problem_id}", status_code=303)


@router.post("/problems/{problem_id}/update", name="problem_update")
def problem_update(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    problem_id: RowId,
    version: Version = None,
    root_cause: Annotated[str, Form(max_length=10_000)] = "",
    workaround: Annotated[str, Form(max_length=10_000)] = "",
    priority: Annotated[str, Form(pattern="^(|P1|P2|P3|P4)$")] = "",
) -> Response:
    """Record the root cause and workaround (and a priority override)."""
    problem = problems.get_problem(session, problem_id)
    check_can_work_on(user, problem)
    changes: dict[str, object] = {
        "root_cause": root_cause.strip(),
        "workaround": workaround.strip(),
    }
    if priority and priority != problem.priority:
        changes["priority"] = priority
    problems.update_problem(
        session, problem_id, changes, actor=user.email, expected_version=version
    )
    flash(request, "Problem updated.")
    return RedirectResponse(f"/problems/{problem_id}", status_code=303)


@router.post("/problems/{problem_id}/fix", name="problem_fix")
def problem_fix(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    problem_id: RowId,
    _problem: WorkableProblem,
    fixed_on: Annotated[str, Form(max_length=10)],
    version: Version = None,
    description: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    """Record when the fix shipped; a problem being fixed becomes resolved."""
    problems.record_fix(
        session,
        problem_id,
        fixed_on,
        description=description.strip() or None,
        actor=user.email,
        expected_version=version,
    )
    flash(request, "Fix recorded.")
    return RedirectResponse(f"/problems/{problem_id}", status_code=303)


@router.post("/problems/{problem_id}/comments", name="problem_comment")
def problem_comment(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    problem_id: RowId,
    _problem: WorkableProblem,
    body: Annotated[str, Form(max_length=10_000)],
) -> Response:
    """Add a comment."""
    problems.add_comment(session, problem_id, body, actor=user.email)
    flash(request, "Comment added.")
    return RedirectResponse(f"/problems/{problem_id}#comments", status_code=303)


@router.post("/problems/{problem_id}/tasks", name="problem_task_add")
def problem_task_add(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    problem_id: RowId,
    _problem: WorkableProblem,
    title: Annotated[str, Form(max_length=255)],
    team_id: Annotated[int | None, Form(ge=1)] = None,
    due_date: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Add a task under the problem, owned by a team."""
    due = date.fromisoformat(due_date) if due_date else None
    problems.add_task(
        session, problem_id, title, owner_team=team_id, due_date=due, actor=user.email
    )
    flash(request, "Task added.")
    return RedirectResponse(f"/problems/{problem_id}#tasks", status_code=303)


@router.post("/tasks/{task_id}/state", name="task_state")
def task_state(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    task_id: RowId,
    state: Annotated[str, Form(max_length=16)],
) -> Response:
    """Move a task to open, in progress, done or cancelled."""
    task = session.get(Task, task_id)
    if task is not None:
        check_can_work_on(user, task.problem)
    task = problems.set_task_state(session, task_id, state, actor=user.email)
    flash(request, f"Task {task.id} is {task.state.replace('_', ' ')}.")
    back = request.headers.get("referer", "")
    return RedirectResponse(
        "/tasks" if back.endswith("/tasks") else f"/problems/{task.problem_id}#tasks",
        status_code=303,
    )


@router.post("/problems/{problem_id}/assign", name="problem_assign")
def problem_assign(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    problem_id: RowId,
    version: Version = None,
    business_team_id: Annotated[int | None, Form(ge=1)] = None,
    is_team_id: Annotated[int | None, Form(ge=1)] = None,
) -> Response:
    """Give the problem to other teams by hand."""
    problems.assign(
        session,
        problem_id,
        business=business_team_id,
        is_team=is_team_id,
        actor=user.email,
        expected_version=version,
        webhook_url=request.app.state.settings.webhook_url,
    )
    flash(request, "Owners changed.")
    return RedirectResponse(f"/problems/{problem_id}", status_code=303)
