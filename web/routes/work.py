"""Daily work pages: my tasks, the UX backlog, a customer's history, and search."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from rootline.errors import NotFoundError
from rootline.rootcause.service import my_tasks, ux_backlog
from rootline.web import queries
from rootline.web import search as contact_search
from rootline.web.cache import vectors_fingerprint
from rootline.web.deps import Renderer, RowId, SessionDep, csv_response, get_embedder, wants_csv
from rootline.web.permissions import CurrentUser, can_see_pii

__all__ = ["router", "search"]

router = APIRouter(include_in_schema=False)
SEARCH_LIMIT = 50


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


def search(request: Request, session: SessionDep, q: str, mode: str) -> dict[str, Any]:
    """Keyword and semantic matches for ``q`` (shared by the page and the API)."""
    # A NUL is never part of a search and no database takes it in a string parameter.
    q = q.replace("\x00", "")
    keyword = (
        contact_search.keyword_ids(session, q, SEARCH_LIMIT) if mode in ("both", "keyword") else []
    )
    hits: list[tuple[int, float]] = []
    if mode in ("both", "semantic"):
        embedder = get_embedder(request)
        key = ("semantic", vectors_fingerprint(session), embedder.slug)
        index = request.app.state.search_index.get(
            key, lambda: contact_search.semantic_index(session, embedder.slug)
        )
        hits = index.nearest(embedder.encode([q])[0], SEARCH_LIMIT)
    # Both lists' contacts in one read.
    rows = {
        r[0].id: r
        for r in contact_search.interactions_by_id(session, keyword + [h[0] for h in hits])
    }
    return {
        "keyword": [rows[i] for i in keyword if i in rows],
        "semantic": [(*rows[i], score) for i, score in hits if i in rows],
    }


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
    found = search(request, session, query, mode) if query else {"keyword": [], "semantic": []}
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
