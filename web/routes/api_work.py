"""The JSON API for the root-cause workflow, daily work, customers, search and admin."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from starlette.responses import Response

from rootline.errors import NotFoundError
from rootline.rootcause import service as problems
from rootline.rootcause.models import Task, User
from rootline.rootcause.routing import export_rules_yaml, import_rules_yaml
from rootline.rootcause.schemas import AuditOut, ProblemOut, TaskOut, TeamOut
from rootline.rootcause.teams import create_user, list_teams
from rootline.rootcause.verification import move_problem, verify_problem
from rootline.web import queries
from rootline.web.accounts import create_token, list_tokens, revoke_token, set_password
from rootline.web.deps import MAX_ID, RowId, SessionDep
from rootline.web.permissions import (
    LEADS,
    CurrentUser,
    Forbidden,
    WorkableProblem,
    can_see_pii,
    check_can_work_on,
)
from rootline.web.schemas import (
    AssignIn,
    CommentIn,
    FixIn,
    TaskIn,
    TaskStateIn,
    TokenIn,
    TransitionIn,
    UpdateIn,
    UserIn,
)
from rootline.web.views import problem_context, search_contacts

__all__ = ["router"]

router = APIRouter()


def _detail(session: SessionDep, problem_id: int) -> dict[str, Any]:
    problem = problems.get_problem(session, problem_id)
    ctx = problem_context(session, problem)
    verification = ctx["verification"]
    return {
        **ProblemOut.of(problem, detail=True).model_dump(mode="json"),
        "sla": [
            {"stage": s, "due_at": due.isoformat(), "done": done} for s, due, done in ctx["clocks"]
        ],
        "audit": [AuditOut.of(e).model_dump(mode="json") for e in ctx["audit"]],
        "verification": asdict(verification) if verification else None,
        "next_states": ctx["next_states"],
    }


@router.get(
    "/api/problems", response_model=list[ProblemOut], tags=["problems"], name="api_problems"
)
def list_problems(
    session: SessionDep,
    team: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    priority: Annotated[str, Query(pattern="^(|P1|P2|P3|P4)$")] = "",
    state: Annotated[str, Query(max_length=32)] = "",
) -> list[ProblemOut]:
    """Problems as on the board, highest priority first."""
    items = queries.board_problems(session, team_id=team, priority=priority)
    return [ProblemOut.of(p) for p in items if not state or p.state == state]


@router.get("/api/problems/{problem_id}", tags=["problems"], name="api_problem")
def get_problem(session: SessionDep, problem_id: RowId) -> dict[str, Any]:
    """A problem with tasks, comments, SLA clocks, verification and its audit trail."""
    return _detail(session, problem_id)


@router.get(
    "/api/problems/{problem_id}/verification", tags=["problems"], name="api_problem_verification"
)
def verification(session: SessionDep, problem_id: RowId) -> dict[str, Any]:
    """The verdict on the fix and the figures, as ``rootline problems verify --json``."""
    return asdict(verify_problem(session, problem_id))


@router.post(
    "/api/problems/{problem_id}/transition", tags=["problems"], name="api_problem_transition"
)
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


@router.post("/api/problems/{problem_id}/update", tags=["problems"], name="api_problem_update")
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


@router.post("/api/problems/{problem_id}/fix", tags=["problems"], name="api_problem_fix")
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


@router.post(
    "/api/problems/{problem_id}/comments",
    tags=["problems"],
    status_code=201,
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


@router.post(
    "/api/problems/{problem_id}/tasks",
    response_model=TaskOut,
    status_code=201,
    tags=["tasks"],
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


@router.post(
    "/api/tasks/{task_id}/state", response_model=TaskOut, tags=["tasks"], name="api_task_state"
)
def task_state(
    session: SessionDep, user: CurrentUser, task_id: RowId, body: TaskStateIn
) -> TaskOut:
    """Move a task to open, in_progress, done or cancelled."""
    task = session.get(Task, task_id)
    if task is None:
        raise NotFoundError(f"no task {task_id}")
    check_can_work_on(user, task.problem)
    return TaskOut.of(problems.set_task_state(session, task_id, body.state, actor=user.email))


@router.post("/api/problems/{problem_id}/assign", tags=["problems"], name="api_problem_assign")
def assign(
    request: Request, session: SessionDep, user: CurrentUser, problem_id: RowId, body: AssignIn
) -> dict[str, Any]:
    """Give the problem to other teams by hand."""
    problems.assign(
        session,
        problem_id,
        business=body.business,
        is_team=body.is_team,
        actor=user.email,
        expected_version=body.version,
        webhook_url=request.app.state.settings.webhook_url,
    )
    return _detail(session, problem_id)


@router.get("/api/tasks/mine", response_model=list[TaskOut], tags=["tasks"], name="api_my_tasks")
def mine(session: SessionDep, user: CurrentUser) -> list[TaskOut]:
    """My open tasks and my teams' unassigned ones."""
    return [TaskOut.of(t) for t in problems.my_tasks(session, user.id)]


@router.get("/api/backlog", response_model=list[ProblemOut], tags=["problems"], name="api_backlog")
def backlog(session: SessionDep) -> list[ProblemOut]:
    """Open UX/web problems, highest impact first."""
    return [ProblemOut.of(p) for p in problems.ux_backlog(session)]


@router.get("/api/customers/{customer_id}", tags=["customers"], name="api_customer")
def customer(session: SessionDep, user: CurrentUser, customer_id: RowId) -> dict[str, Any]:
    """A unified customer and every interaction across sources with its theme."""
    view = queries.customer_view(session, customer_id)
    if view is None:
        raise NotFoundError(f"no customer {customer_id}")
    pii = can_see_pii(user)
    c = view.customer
    return {
        "id": c.id,
        "segment": c.segment,
        "value": c.value,
        "sources": view.sources,
        **(
            {
                "name": c.name,
                "identities": [
                    {"kind": x.kind, "value": x.value, "source": x.source} for x in view.identities
                ],
            }
            if pii
            else {}
        ),
        "interactions": [
            {
                "id": i.id,
                "source": i.source,
                "external_id": i.external_id,
                "channel": i.channel,
                "created_at": i.created_at,
                "theme_id": tid,
                "theme": title,
                "text": i.body_clean,
                **({"body_raw": i.body_raw} if pii else {}),
            }
            for i, tid, title in view.interactions
        ],
    }


@router.get("/api/search", tags=["search"], name="api_search")
def search_api(
    request: Request,
    session: SessionDep,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    mode: Annotated[str, Query(pattern="^(both|keyword|semantic)$")] = "both",
) -> dict[str, Any]:
    """Contacts containing every word, and the contacts closest in meaning."""
    found = search_contacts(request, session, q.strip(), mode)

    def item(i: Any, tid: int | None, title: str | None) -> dict[str, Any]:
        return {
            "id": i.id,
            "source": i.source,
            "external_id": i.external_id,
            "created_at": i.created_at,
            "theme_id": tid,
            "theme": title,
            "text": i.body_clean,
        }

    return {
        "keyword": [item(*r) for r in found["keyword"]],
        "semantic": [
            {**item(i, tid, t), "similarity": round(s, 4)} for i, tid, t, s in found["semantic"]
        ],
    }


@router.get("/api/admin/users", tags=["admin"], name="api_users")
def users(session: SessionDep) -> list[dict[str, Any]]:
    """Every user with role and teams."""
    return [
        {
            "id": u.id,
            "email": u.email,
            "name": u.name,
            "role": u.role,
            "active": u.active,
            "teams": [t.name for t in u.teams],
        }
        for u in session.scalars(sa.select(User).order_by(User.email))
    ]


@router.post("/api/admin/users", tags=["admin"], status_code=201, name="api_user_create")
def user_create(session: SessionDep, user: CurrentUser, body: UserIn) -> dict[str, Any]:
    """Add a user with a role and a password."""
    created = create_user(
        session, body.email, body.name, body.role, teams=body.teams, actor=user.email
    )
    set_password(session, created, body.password, actor=user.email)
    return {"id": created.id, "email": created.email, "role": created.role}


@router.get("/api/teams", response_model=list[TeamOut], tags=["admin"], name="api_teams")
def teams(session: SessionDep) -> list[TeamOut]:
    """Every team with its lead and members."""
    return [TeamOut.of(t) for t in list_teams(session)]


@router.get("/api/admin/rules", tags=["admin"], name="api_rules", response_class=PlainTextResponse)
def rules(session: SessionDep) -> Response:
    """Routing rules and teams as YAML."""
    return PlainTextResponse(export_rules_yaml(session), media_type="application/yaml")


@router.post("/api/admin/rules", tags=["admin"], name="api_rules_import")
async def rules_import(request: Request, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """Import routing rules (and teams) from a YAML request body."""
    text = (await request.body()).decode("utf-8", errors="replace")
    return {"imported": [r.name for r in import_rules_yaml(session, text, actor=user.email)]}


@router.get("/api/admin/tokens", tags=["admin"], name="api_tokens")
def tokens(session: SessionDep) -> list[dict[str, Any]]:
    """API tokens (never the tokens themselves)."""
    return [
        {
            "id": t.id,
            "name": t.name,
            "user": t.user.email,
            "prefix": t.prefix,
            "created_at": t.created_at,
            "last_used_at": t.last_used_at,
            "revoked": t.revoked_at is not None,
        }
        for t in list_tokens(session)
    ]


@router.post("/api/admin/tokens", tags=["admin"], status_code=201, name="api_token_create")
def token_create(session: SessionDep, user: CurrentUser, body: TokenIn) -> dict[str, Any]:
    """Create a token; the response is the only place it is ever shown."""
    owner = session.get(User, body.user_id) if body.user_id else user
    if owner is None:
        raise NotFoundError(f"no user {body.user_id}")
    row, token = create_token(session, owner, body.name, actor=user.email)
    return {"id": row.id, "token": token, "user": owner.email}


@router.post("/api/admin/tokens/{token_id}/revoke", tags=["admin"], name="api_token_revoke")
def token_revoke(session: SessionDep, user: CurrentUser, token_id: RowId) -> dict[str, Any]:
    """Stop a token from working."""
    row = revoke_token(session, token_id, actor=user.email)
    return {"id": row.id, "revoked": True}
