"""Daily work pages: my tasks, the UX backlog, a customer's history, and search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from rootline.errors import NotFoundError
from rootline.rootcause.service import my_tasks, ux_backlog
from rootline.web import queries
from rootline.web.deps import Renderer, RowId, SessionDep, csv_response, wants_csv
from rootline.web.permissions import CurrentUser, can_see_pii
from rootline.web.views import search_contacts

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/tasks", name="my_tasks_page")
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
    return render("tasks.html", nav="tasks", tasks=tasks)


@router.get("/backlog", name="backlog_page")
def backlog_page(request: Request, session: SessionDep, render: Renderer) -> Response:
    """Open problems tagged ux or web, highest impact first, for product owners."""
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
    return render("backlog.html", nav="backlog", problems=items)


@router.get("/customers/{customer_id}", name="customer_page")
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


@router.get("/search", name="search_page")
def search_page(
    request: Request,
    session: SessionDep,
    render: Renderer,
    q: Annotated[str, Query(max_length=200)] = "",
    mode: Annotated[str, Query(pattern="^(both|keyword|semantic)$")] = "both",
) -> Response:
    """Search contacts by words (every word must appear) and by meaning (nearest vectors)."""
    query = q.strip()
    found = (
        search_contacts(request, session, query, mode) if query else {"keyword": [], "semantic": []}
    )
    if wants_csv(request):
        rows = [("keyword", i, tid, None) for i, tid, _ in found["keyword"]]
        rows += [("semantic", i, tid, s) for i, tid, _, s in found["semantic"]]
        return csv_response(
            "search",
            ["match", "source", "external_id", "created_at", "theme_id", "similarity", "text"],
            (
                [m, i.source, i.external_id, i.created_at, tid, s, i.body_clean]
                for m, i, tid, s in rows
            ),
        )
    return render("search.html", nav="search", q=query, mode=mode, **found)
