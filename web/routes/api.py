"""The JSON API for themes: the dashboard, themes, review actions, runs, alerts, health."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from rootline.clustering import curation, service, stats
from rootline.clustering.schemas import RunOut, ThemeOut
from rootline.ingest.cleaning import redact_pii
from rootline.rootcause.schemas import ProblemOut
from rootline.rootcause.service import create_problem
from rootline.web import queries
from rootline.web.deps import MAX_ID, RowId, SessionDep, get_figures
from rootline.web.permissions import CurrentUser, can_see_pii
from rootline.web.schemas import MoveIn, PromoteIn, RenameIn, TargetIn
from rootline.web.views import dashboard_filters, ranked_themes

__all__ = ["router"]

router = APIRouter()
_404: dict[int | str, dict[str, Any]] = {404: {"description": "No theme with this id."}}


@router.get("/api/me", tags=["auth"], name="api_me")
def me(user: CurrentUser) -> dict[str, Any]:
    """Who the request is made as."""
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "teams": [t.name for t in user.teams],
    }


@router.get("/api/dashboard", tags=["themes"], name="api_dashboard")
def dashboard(
    session: SessionDep,
    figures: Annotated[Any, Depends(get_figures)],
    filters: Annotated[queries.Filters, Depends(dashboard_filters)],
) -> dict[str, Any]:
    """Themes ranked by impact under the dashboard filters, with totals, trend and alerts."""
    board, alerts = ranked_themes(session, figures, filters)
    return {
        "totals": {
            "contacts": board.contacts,
            "themed": board.themed,
            "customers": board.customers,
            "value_at_risk": board.value_at_risk,
        },
        "week_starts": [d.isoformat() for d in board.week_starts],
        "themes": [
            {
                "id": r.id,
                "title": r.title,
                "keywords": r.keywords,
                "status": r.status,
                "impact": r.impact.as_dict(),
                "weekly_contacts": r.weeks,
                "alert": asdict(a) if (a := alerts.get(r.id)) else None,
            }
            for r in board.rows
        ],
    }


@router.get("/api/themes", response_model=list[ThemeOut], tags=["themes"], name="api_themes")
def list_themes(
    session: SessionDep,
    include_inactive: Annotated[
        bool, Query(description="Also list merged, noise and retired themes.")
    ] = False,
) -> list[ThemeOut]:
    """Themes, largest first, as ``rootline themes --json`` prints them."""
    return service.list_themes(session, include_inactive=include_inactive)


@router.get(
    "/api/themes/{theme_id}",
    response_model=ThemeOut,
    tags=["themes"],
    responses=_404,
    name="api_theme",
)
def get_theme(session: SessionDep, theme_id: RowId) -> ThemeOut:
    """One theme with its representative examples."""
    return service.get_theme(session, theme_id)


@router.get(
    "/api/themes/{theme_id}/interactions",
    tags=["themes"],
    responses=_404,
    name="api_theme_interactions",
)
def theme_interactions(
    session: SessionDep,
    user: CurrentUser,
    theme_id: RowId,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    q: Annotated[str, Query(max_length=200)] = "",
) -> dict[str, Any]:
    """A page of the theme's contacts, newest first (raw text only for roles that may see it)."""
    service.get_theme(session, theme_id)
    total, rows = service.theme_interactions(
        session, theme_id, offset=offset, limit=limit, query=q.strip() or None
    )
    pii = can_see_pii(user)
    return {
        "total": total,
        "items": [
            {
                "id": i.id,
                "source": i.source,
                "external_id": i.external_id,
                "channel": i.channel,
                "created_at": i.created_at,
                "csat": i.csat,
                "customer_id": i.customer_id,
                "subject": i.subject if pii or not i.subject else redact_pii(i.subject),
                "text": i.body_clean,
                **({"body_raw": i.body_raw} if pii else {}),
            }
            for i in rows
        ],
    }


@router.post(
    "/api/themes/{theme_id}/rename",
    response_model=ThemeOut,
    tags=["review"],
    name="api_theme_rename",
)
def rename(session: SessionDep, user: CurrentUser, theme_id: RowId, body: RenameIn) -> ThemeOut:
    """Rename a theme (the title is then kept by later runs)."""
    return curation.rename_theme(session, theme_id, body.title, actor=user.email)


@router.post(
    "/api/themes/{theme_id}/merge", response_model=ThemeOut, tags=["review"], name="api_theme_merge"
)
def merge(session: SessionDep, user: CurrentUser, theme_id: RowId, body: TargetIn) -> ThemeOut:
    """Merge this theme into ``target_id``; returns the target."""
    return curation.merge_themes(session, theme_id, body.target_id, actor=user.email)


@router.post(
    "/api/themes/{theme_id}/split",
    response_model=list[ThemeOut],
    tags=["review"],
    name="api_theme_split",
)
def split(
    request: Request, session: SessionDep, user: CurrentUser, theme_id: RowId
) -> list[ThemeOut]:
    """Re-cluster a theme's contacts into new themes."""
    from rootline.pipeline import build_clusterer

    return curation.split_theme(
        session, theme_id, build_clusterer(request.app.state.settings), actor=user.email
    )


@router.post(
    "/api/themes/{theme_id}/move", response_model=ThemeOut, tags=["review"], name="api_theme_move"
)
def move(session: SessionDep, user: CurrentUser, theme_id: RowId, body: MoveIn) -> ThemeOut:
    """Move contacts into theme ``target_id`` (``theme_id`` is where they were listed)."""
    return curation.move_interactions(
        session, body.interaction_ids, body.target_id, actor=user.email
    )


@router.post(
    "/api/themes/{theme_id}/noise", response_model=ThemeOut, tags=["review"], name="api_theme_noise"
)
def noise(session: SessionDep, user: CurrentUser, theme_id: RowId) -> ThemeOut:
    """Mark a theme as "not a theme"."""
    return curation.mark_noise(session, theme_id, actor=user.email)


@router.post(
    "/api/themes/{theme_id}/accept",
    response_model=ThemeOut,
    tags=["review"],
    name="api_theme_accept",
)
def accept(session: SessionDep, user: CurrentUser, theme_id: RowId) -> ThemeOut:
    """Accept a proposed theme."""
    return curation.accept_proposed(session, theme_id, actor=user.email)


@router.post(
    "/api/themes/{theme_id}/promote",
    response_model=ProblemOut,
    status_code=201,
    tags=["review"],
    name="api_theme_promote",
)
def promote(
    request: Request, session: SessionDep, user: CurrentUser, theme_id: RowId, body: PromoteIn
) -> ProblemOut:
    """Promote a theme to a problem, routed to its owners."""
    problem = create_problem(
        session,
        [theme_id],
        title=body.title,
        tags=body.tags,
        actor=user.email,
        webhook_url=request.app.state.settings.webhook_url,
    )
    return ProblemOut.of(problem, detail=True)


@router.get("/api/runs", response_model=list[RunOut], tags=["runs"], name="api_runs")
def list_runs(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200, description="How many runs.")] = 20,
) -> list[RunOut]:
    """The newest clustering runs, newest first."""
    return stats.recent_runs(session, limit)


@router.get("/api/alerts", tags=["themes"], name="api_alerts")
def alerts(
    session: SessionDep, figures: Annotated[Any, Depends(get_figures)]
) -> list[dict[str, Any]]:
    """Emerging and spiking themes, strongest first, as ``rootline alerts --json``."""
    _, found = ranked_themes(session, figures, queries.Filters())
    return sorted((asdict(a) for a in found.values()), key=lambda a: (-a["score"], a["theme_id"]))


@router.get(
    "/healthz",
    tags=["health"],
    responses={503: {"description": "The database cannot be reached."}},
    name="healthz",
)
def healthz(session: SessionDep) -> Response:
    """Liveness and database reachability: ``{"status": "ok"}`` or a 503."""
    try:
        session.execute(sa.select(1))
    except sa.exc.DBAPIError:
        session.rollback()
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})
