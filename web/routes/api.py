"""The JSON API: themes, clustering runs and a health check."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from starlette.responses import Response

from rootline.clustering import service, stats
from rootline.clustering.schemas import RunOut, ThemeOut
from rootline.web.deps import SessionDep

__all__ = ["router"]

router = APIRouter()


@router.get("/api/themes", response_model=list[ThemeOut], tags=["themes"])
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
    responses={404: {"description": "No theme with this id."}},
)
def get_theme(session: SessionDep, theme_id: Annotated[int, Path(ge=1)]) -> ThemeOut:
    """One theme with its representative examples."""
    return service.get_theme(session, theme_id)


@router.get("/api/runs", response_model=list[RunOut], tags=["runs"])
def list_runs(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200, description="How many runs.")] = 20,
) -> list[RunOut]:
    """The newest clustering runs, newest first."""
    return stats.recent_runs(session, limit)


@router.get(
    "/healthz",
    tags=["health"],
    responses={503: {"description": "The database cannot be reached."}},
)
def healthz(session: SessionDep) -> Response:
    """Liveness and database reachability: ``{"status": "ok"}`` or a 503."""
    try:
        session.execute(sa.select(1))
    except sa.exc.DBAPIError:
        session.rollback()
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})
