"""Search of contacts by words and by meaning, as a page and as JSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from rootline.web.deps import Renderer, SessionDep, csv_response, wants_csv
from rootline.web.refusals import COMMON
from rootline.web.schemas import SearchOut
from rootline.web.views import search_contacts

__all__ = ["router"]

#: HTML pages (not in the API schema) and their JSON twins.
pages = APIRouter(include_in_schema=False)
api = APIRouter(tags=["search"], responses=COMMON)


@pages.get("/search", name="search_page")
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


@api.get("/api/search", response_model=SearchOut, name="api_search")
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


router = APIRouter()
router.include_router(pages)
router.include_router(api)
