"""Daily work: my tasks, the backlog and customers, pages beside their JSON twins."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from rootline.errors import NotFoundError, StateError
from rootline.rootcause import service as problems
from rootline.rootcause.models import Task
from rootline.rootcause.schemas import ProblemOut, TaskOut
from rootline.rootcause.service import my_tasks, ux_backlog
from rootline.web import queries
from rootline.web.deps import (
    MAX_ID,
    Renderer,
    RowId,
    SessionDep,
    WebhookUrl,
    csv_response,
    flash,
    get_figures,
    wants_csv,
)
from rootline.web.permissions import (
    CurrentUser,
    can_see_pii,
    check_can_work_on,
)
from rootline.web.refusals import COMMON, refusals
from rootline.web.schemas import (
    CustomerOut,
    ErasureOut,
    TaskStateIn,
)
from rootline.web.ux import UxCandidate, ux_candidates
from rootline.web.views import ranked_themes

__all__ = ["router"]

#: HTML pages (not in the API schema) and their JSON twins.
pages = APIRouter(include_in_schema=False)
api = APIRouter(tags=["work"], responses=COMMON)

_NO_CUSTOMER = refusals(404, s404="No customer with this id.")


@pages.get("/tasks", name="my_tasks_page")
def my_tasks_page(
    request: Request, session: SessionDep, render: Renderer, user: CurrentUser
) -> Response:
    """Tasks assigned to me or to my teams, earliest due first."""
    tasks = my_tasks(session, user.id)
    if wants_csv(request):
        return csv_response(
            "my-tasks",
            ["task_id", "problem_id", "title", "state", "due_date"],
            ([t.id, t.problem_id, t.title, t.state, t.due_date] for t in tasks),
        )
    return render("tasks.html", nav="tasks", tasks=tasks, today=date.today())


@pages.get("/backlog", name="backlog_page")
def backlog_page(
    request: Request,
    session: SessionDep,
    render: Renderer,
    figures: Annotated[Any, Depends(get_figures)],
) -> Response:
    """Open problems tagged ux or web, highest impact first, for product owners, and themes
    that look like UX problems but have none yet (candidates, ranked by impact)."""
    items = ux_backlog(session)
    if wants_csv(request):
        return csv_response(
            "ux-backlog",
            [
                "problem_id",
                "title",
                "state",
                "priority",
                "impact_score",
                "customers",
                "value_at_risk",
            ],
            (
                [
                    p.id,
                    p.title,
                    p.state,
                    p.priority,
                    p.impact_score,
                    (p.impact or {}).get("unique_customers"),
                    (p.impact or {}).get("value_at_risk"),
                ]
                for p in items
            ),
        )
    return render(
        "backlog.html",
        nav="backlog",
        problems=items,
        candidates=_candidates(session, figures),
    )


def _candidates(session: SessionDep, figures: Any) -> list[UxCandidate]:
    board, _ = ranked_themes(session, figures, queries.Filters())
    taken = set(queries.problems_by_theme(session, [r.id for r in board.rows]))
    return ux_candidates(session, board, taken)


@pages.post("/backlog/propose", name="ux_propose")
def ux_propose(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    webhook_url: WebhookUrl,
    theme_id: Annotated[int, Form(ge=1, le=MAX_ID)],
) -> Response:
    """Propose a theme as a UX improvement: a problem tagged ux, routed to its owners."""
    existing = queries.problems_by_theme(session, [theme_id]).get(theme_id)
    if existing is not None:
        raise StateError(
            f"theme {theme_id} already has problem #{existing[0]} "
            f"({existing[1].replace('_', ' ')}); tag that one ux instead"
        )
    problem = problems.create_problem(
        session, [theme_id], tags=["ux"], actor=user.email, webhook_url=webhook_url
    )
    flash(
        request,
        f"Problem #{problem.id} proposed as a UX improvement and routed: "
        f"{problem.routing_explanation}",
    )
    return RedirectResponse("/backlog", status_code=303)


@pages.get("/customers/{customer_id}", name="customer_page")
def customer_page(
    request: Request,
    session: SessionDep,
    render: Renderer,
    user: CurrentUser,
    customer_id: RowId,
) -> Response:
    """Every interaction of one unified customer across sources, with its theme."""
    view = queries.customer_view(session, customer_id)
    if view is None:
        raise NotFoundError(f"no customer {customer_id}")
    pii = can_see_pii(user)
    if wants_csv(request):
        return csv_response(
            f"customer-{view.customer.id}",
            ["source", "external_id", "created_at", "channel", "theme_id", "theme", "text"],
            (
                [
                    i.source,
                    i.external_id,
                    i.created_at,
                    i.channel,
                    tid,
                    title,
                    i.body_raw if pii else i.body_clean,
                ]
                for i, tid, title in view.interactions
            ),
        )
    return render("customer.html", view=view)


@pages.post("/tasks/{task_id}/state", name="task_state")
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


@api.post(
    "/api/tasks/{task_id}/state",
    response_model=TaskOut,
    responses=refusals(400, 404, 409, s404="No task with this id."),
    name="api_task_state",
)
def api_task_state(
    session: SessionDep, user: CurrentUser, task_id: RowId, body: TaskStateIn
) -> TaskOut:
    """Move a task to open, in_progress, done or cancelled."""
    task = session.get(Task, task_id)
    if task is None:
        raise NotFoundError(f"no task {task_id}")
    check_can_work_on(user, task.problem)
    return TaskOut.of(problems.set_task_state(session, task_id, body.state, actor=user.email))


@api.get("/api/tasks/mine", response_model=list[TaskOut], name="api_my_tasks")
def mine(session: SessionDep, user: CurrentUser) -> list[TaskOut]:
    """My open tasks and my teams' unassigned ones."""
    return [TaskOut.of(t) for t in problems.my_tasks(session, user.id)]


@api.get("/api/backlog", response_model=list[ProblemOut], name="api_backlog")
def backlog(session: SessionDep) -> list[ProblemOut]:
    """Open UX/web problems, highest impact first."""
    return [ProblemOut.of(p) for p in problems.ux_backlog(session)]


@api.get("/api/backlog/candidates", name="api_ux_candidates")
def backlog_candidates(
    session: SessionDep, figures: Annotated[Any, Depends(get_figures)]
) -> list[dict[str, Any]]:
    """Themes without a problem that look like UX problems (mostly web or app contacts, or
    titles and keywords about pages, buttons, screens and errors), by impact, with why."""
    return [
        {
            "theme_id": c.row.id,
            "title": c.row.title,
            "impact_score": c.row.impact.score,
            "rank": c.rank,
            "contacts": c.row.impact.contacts,
            "customers": c.row.impact.unique_customers,
            "value_at_risk": c.row.impact.value_at_risk,
            "ux_channel_share": round(c.channel_share, 4),
            "words": c.words,
            "reasons": c.reasons,
        }
        for c in _candidates(session, figures)
    ]


@api.post(
    "/api/customers/{customer_id}/erase",
    response_model=ErasureOut,
    responses=_NO_CUSTOMER,
    name="api_customer_erase",
)
def customer_erase(
    request: Request, session: SessionDep, user: CurrentUser, customer_id: RowId
) -> dict[str, Any]:
    """Erase a customer's texts and personal data everywhere (right to erasure); their
    contacts stay counted without their words. Admins only; it cannot be undone."""
    from rootline.clustering.vector_index import discard_saved_indexes, index_folder
    from rootline.rootcause.erasure import erase_customer

    done = erase_customer(session, customer_id, actor=user.email)
    # Search indexes, saved and in memory, hold the erased texts' vectors: rebuild them.
    discard_saved_indexes(index_folder(request.app.state.settings.data_dir))
    request.app.state.search_index.clear()
    return asdict(done)


@api.get(
    "/api/customers/{customer_id}",
    response_model=CustomerOut,
    # Only what the role may see: name, identities and raw text are left out, not null.
    response_model_exclude_unset=True,
    responses=_NO_CUSTOMER,
    name="api_customer",
)
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


router = APIRouter()
router.include_router(pages)
router.include_router(api)
