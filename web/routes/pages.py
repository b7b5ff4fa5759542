"""HTML pages: the theme overview and one theme's detail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from rootline.clustering import service, stats
from rootline.web.charts import weekly_bar_chart
from rootline.web.deps import Renderer, SessionDep
from rootline.web.paging import Pager

__all__ = ["router"]

PAGE_SIZE = 50
EXAMPLES_PER_THEME = 3
CHART_WEEKS = 12

router = APIRouter(include_in_schema=False)


@router.get("/")
def home() -> RedirectResponse:
    """The theme overview is the front page."""
    return RedirectResponse("/themes", status_code=307)


@router.get("/themes", name="themes_page")
def themes_page(session: SessionDep, render: Renderer) -> Response:
    """Active themes, largest first, with totals and the latest clustering run."""
    themes = service.list_themes(session)
    return render(
        "themes.html",
        themes=themes,
        examples=stats.example_previews(session, [t.id for t in themes], EXAMPLES_PER_THEME),
        overview=stats.overview(session),
        run=stats.latest_run(session),
    )


@router.get("/themes/{theme_id}", name="theme_page")
def theme_page(
    session: SessionDep,
    render: Renderer,
    theme_id: Annotated[int, Path(ge=1)],
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    q: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """One theme: its examples, weekly volume and its contacts, paged and searchable."""
    theme = service.get_theme(session, theme_id)
    query = q.strip()
    total, interactions = service.theme_interactions(
        session, theme_id, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE, query=query or None
    )
    pager = Pager(
        number=page, size=PAGE_SIZE, total=total, path=f"/themes/{theme_id}", params={"q": query}
    )
    return render(
        "theme.html",
        theme=theme,
        interactions=interactions,
        pager=pager,
        q=query,
        chart=weekly_bar_chart(stats.weekly_counts(session, theme_id, CHART_WEEKS)),
    )
