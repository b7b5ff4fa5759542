"""Problems: the board and problem pages, the workflow (transition, update, fix, comments, tasks, routing) and verification, pages beside their JSON twins."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from rootline.rootcause import service as problems
from rootline.rootcause.schemas import AuditOut, CommentOut, ProblemOut, TaskOut
from rootline.rootcause.service import PRIORITIES
from rootline.rootcause.states import STATES, check_transition
from rootline.rootcause.teams import list_teams
from rootline.rootcause.verification import move_problem, verify_problem
from rootline.web import confirm, queries
from rootline.web.deps import (
    MAX_ID,
    Renderer,
    RowId,
    SessionDep,
    WebhookUrl,
    csv_response,
    flash,
    wants_csv,
)
from rootline.web.permissions import (
    LEADS,
    CurrentUser,
    Forbidden,
    WorkableProblem,
    can_work_on,
    check_can_work_on,
)
from rootline.web.refusals import COMMON, refusals
from rootline.web.schemas import (
    AssignIn,
    CommentIn,
    FixIn,
    TaskIn,
    TransitionIn,
    UpdateIn,
)
from rootline.web.verification import verification_view
from rootline.web.views import problem_context

__all__ = ["router"]

#: HTML pages (not in the API schema) and their JSON twins.
pages = APIRouter(include_in_schema=False)
api = APIRouter(tags=["problems"], responses=COMMON)

_404 = refusals(404, s404="No problem with this id.")
#: A change to a problem: no such problem, a change its state or the teams do not allow, or
#: one made over someone else's (``version``).
_CHANGE = refusals(
    400,
    404,
    409,
    s404="No problem with this id (or no team, user or task the body names).",
)


def _detail(session: SessionDep, problem_id: int) -> dict[str, Any]:
    problem = problems.get_problem(session, problem_id)
    ctx = problem_context(session, problem)
    verification = ctx["verification"]
    return {
        **ProblemOut.of(problem, detail=True).model_dump(mode="json"),
        "sla": [c.as_dict() for c in ctx["clocks"]],
        "audit": [
            AuditOut.of(e).model_dump(mode="json") | {"in_words": words}
            for e, words in zip(ctx["audit"], ctx["audit_words"], strict=True)
        ],
        "verification": asdict(verification) if verification else None,
        "next_states": ctx["next_states"],
    }


Version = Annotated[int | None, Form(ge=1)]


@pages.get("/problems", name="board_page")
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


@pages.get("/problems/{problem_id}", name="problem_page")
def problem_page(
    session: SessionDep, render: Renderer, user: CurrentUser, problem_id: RowId
) -> Response:
    """One problem: owners, routing, tasks, SLA clocks, verification, comments, audit trail."""
    problem = problems.get_problem(session, problem_id)
    teams = list_teams(session)
    context = problem_context(session, problem)
    return render(
        "problem.html",
        **context,
        verdict=verification_view(session, problem, context["verification"]),
        may_work=can_work_on(user, problem),
        teams=teams,
        task_states=problems.TASK_STATES,
        today=date.today(),
    )


@pages.post("/problems/{problem_id}/transition", name="problem_transition")
def problem_transition(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    problem_id: RowId,
    _problem: WorkableProblem,
    render: Renderer,
    target: Annotated[str, Form(max_length=32)],
    version: Version = None,
    reason: Annotated[str, Form(max_length=2000)] = "",
    confirmed: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    """Move the problem to the next state of its life cycle (verified: when the data says so;
    closing as won't fix and reopening after a confirmation that says what will change)."""
    if target in confirm.CONFIRMED_MOVES and not confirm.confirmed(confirmed):
        check_transition(_problem, target)
        return render(
            "confirm.html",
            confirm=confirm.transition_confirmation(_problem, target, version),
            nav="problems",
        )
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


@pages.post("/problems/{problem_id}/update", name="problem_update")
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


@pages.post("/problems/{problem_id}/fix", name="problem_fix")
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


@pages.post("/problems/{problem_id}/comments", name="problem_comment")
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


@pages.post("/problems/{problem_id}/tasks", name="problem_task_add")
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


@pages.post("/problems/{problem_id}/assign", name="problem_assign")
def problem_assign(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    problem_id: RowId,
    webhook_url: WebhookUrl,
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
        webhook_url=webhook_url,
    )
    flash(request, "Owners changed.")
    return RedirectResponse(f"/problems/{problem_id}", status_code=303)


@api.get("/api/problems", response_model=list[ProblemOut], name="api_problems")
def list_problems(
    session: SessionDep,
    team: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    priority: Annotated[str, Query(pattern="^(|P1|P2|P3|P4)$")] = "",
    state: Annotated[str, Query(max_length=32)] = "",
) -> list[ProblemOut]:
    """Problems as on the board, highest priority first."""
    items = queries.board_problems(session, team_id=team, priority=priority)
    return [ProblemOut.of(p) for p in items if not state or p.state == state]


@api.get("/api/problems/{problem_id}", responses=_404, name="api_problem")
def get_problem(session: SessionDep, problem_id: RowId) -> dict[str, Any]:
    """A problem with tasks, comments, SLA clocks, verification and its audit trail."""
    return _detail(session, problem_id)


@api.get(
    "/api/problems/{problem_id}/verification",
    responses=refusals(
        400, 404, s400="Nothing to verify yet (no fix date).", s404="No problem with this id."
    ),
    name="api_problem_verification",
)
def verification(session: SessionDep, problem_id: RowId) -> dict[str, Any]:
    """The verdict on the fix and the figures, as ``rootline problems verify --json``, with
    the verdict as the problem page words it (``in_words``: whether it is final, and when it
    will be) and the weekly counts around the fix date the page draws (``weeks``)."""
    result = verify_problem(session, problem_id)
    problem = problems.get_problem(session, problem_id)
    view = verification_view(session, problem, result)
    chart = view.chart if view else None
    return asdict(result) | {
        "in_words": view.as_dict() if view else None,
        "weeks": [
            {
                "offset": b.week.offset,
                "start": b.week.start,
                "end": b.week.end,
                "theme_contacts": b.week.theme_contacts,
                "all_contacts": b.week.all_contacts,
                "partial": b.week.partial,
            }
            for b in (chart.bars if chart else [])
        ],
    }


@api.post("/api/problems/{problem_id}/transition", responses=_CHANGE, name="api_problem_transition")
def transition(
    session: SessionDep,
    user: CurrentUser,
    problem_id: RowId,
    _problem: WorkableProblem,
    body: TransitionIn,
) -> dict[str, Any]:
    """Move the problem to another state (409 when someone changed it since ``version``).

    ``verified`` only when the data shows the fix working, or a lead accepts it without."""
    if body.accept_without_data and user.role not in LEADS:
        raise Forbidden("only a support lead or an admin may accept a fix without data evidence")
    move_problem(
        session,
        problem_id,
        body.target,
        actor=user.email,
        expected_version=body.version,
        reason=body.reason,
        accept_without_data=body.accept_without_data,
    )
    return _detail(session, problem_id)


@api.post("/api/problems/{problem_id}/update", responses=_CHANGE, name="api_problem_update")
def update(
    session: SessionDep,
    user: CurrentUser,
    problem_id: RowId,
    _problem: WorkableProblem,
    body: UpdateIn,
) -> dict[str, Any]:
    """Change fields: title, description, root_cause, workaround, fix_description, fixed_at,
    links, tags, priority."""
    problems.update_problem(
        session, problem_id, body.changes, actor=user.email, expected_version=body.version
    )
    return _detail(session, problem_id)


@api.post("/api/problems/{problem_id}/fix", responses=_CHANGE, name="api_problem_fix")
def fix(
    session: SessionDep,
    user: CurrentUser,
    problem_id: RowId,
    _problem: WorkableProblem,
    body: FixIn,
) -> dict[str, Any]:
    """Record the fix date (and what changed)."""
    problems.record_fix(
        session,
        problem_id,
        body.fixed_on,
        description=body.description,
        actor=user.email,
        expected_version=body.version,
    )
    return _detail(session, problem_id)


@api.post(
    "/api/problems/{problem_id}/comments",
    status_code=201,
    response_model=CommentOut,
    responses=_CHANGE,
    name="api_problem_comment",
)
def comment(
    session: SessionDep,
    user: CurrentUser,
    problem_id: RowId,
    _problem: WorkableProblem,
    body: CommentIn,
) -> dict[str, Any]:
    """Add a comment."""
    c = problems.add_comment(session, problem_id, body.body, actor=user.email)
    return {"id": c.id, "author": c.author, "body": c.body, "created_at": c.created_at}


@api.post(
    "/api/problems/{problem_id}/tasks",
    response_model=TaskOut,
    status_code=201,
    responses=_CHANGE,
    name="api_problem_task_add",
)
def add_task(
    session: SessionDep,
    user: CurrentUser,
    problem_id: RowId,
    _problem: WorkableProblem,
    body: TaskIn,
) -> TaskOut:
    """Add a task under the problem."""
    return TaskOut.of(
        problems.add_task(
            session,
            problem_id,
            body.title,
            owner_team=body.team,
            owner_user_id=body.owner_user_id,
            due_date=body.due_date,
            actor=user.email,
        )
    )


@api.post("/api/problems/{problem_id}/assign", responses=_CHANGE, name="api_problem_assign")
def assign(
    session: SessionDep,
    user: CurrentUser,
    problem_id: RowId,
    body: AssignIn,
    webhook_url: WebhookUrl,
) -> dict[str, Any]:
    """Give the problem to other teams by hand."""
    problems.assign(
        session,
        problem_id,
        business=body.business,
        is_team=body.is_team,
        actor=user.email,
        expected_version=body.version,
        webhook_url=webhook_url,
    )
    return _detail(session, problem_id)


router = APIRouter()
router.include_router(pages)
router.include_router(api)
