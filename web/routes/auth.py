"""Signing in and out, who the request is made as, and the health check."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.responses import Response

from rootline.web.accounts import sign_in
from rootline.web.deps import Renderer, SessionDep
from rootline.web.permissions import CurrentUser, session_fingerprint
from rootline.web.refusals import COMMON, Refusal, refusals
from rootline.web.schemas import HealthOut, MeOut
from rootline.web.security import new_csrf_token

__all__ = ["router"]

#: HTML pages (not in the API schema) and their JSON twins.
pages = APIRouter(include_in_schema=False)
api = APIRouter(tags=["auth"])


def _safe_next(target: str) -> str:
    # Only paths of this site: "//evil.example" or "https://..." would send the user away.
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@pages.get("/login", name="login_page")
def login_page(
    request: Request,
    render: Renderer,
    next_: Annotated[str, Query(alias="next", max_length=500)] = "/",
) -> Response:
    """The sign-in form (and the demo accounts, when serving the demo)."""
    if getattr(request.state, "user", None) is not None:
        return RedirectResponse(_safe_next(next_), status_code=303)
    return render(
        "login.html",
        next=_safe_next(next_),
        error="",
        email="",
        demo_users=getattr(request.app.state, "demo_users", []),
    )


@pages.post("/login", name="login_submit")
def login_submit(
    request: Request,
    session: SessionDep,
    render: Renderer,
    email: Annotated[str, Form(max_length=255)],
    password: Annotated[str, Form(max_length=1024)],
    next_: Annotated[str, Form(alias="next", max_length=500)] = "/",
) -> Response:
    """Check the password; too many failures from one address refuse further tries."""
    settings = request.app.state.settings
    address = request.client.host if request.client else "unknown"
    result = sign_in(
        session,
        email,
        password,
        address,
        max_failures=settings.login_max_failures,
        window=timedelta(minutes=settings.login_window_minutes),
    )
    if result.user is None:
        status, error = (
            (429, "Too many failed sign-ins. Wait a few minutes and try again.")
            if result.throttled
            else (401, "Wrong e-mail or password.")
        )
        return render(
            "login.html",
            status_code=status,
            next=_safe_next(next_),
            error=error,
            email=email,
            demo_users=getattr(request.app.state, "demo_users", []),
        )
    # A new session on sign-in, so a session id planted before it is worth nothing.
    request.session.clear()
    request.session.update(
        user_id=result.user.id, fp=session_fingerprint(result.user), csrf=new_csrf_token()
    )
    return RedirectResponse(_safe_next(next_), status_code=303)


@pages.post("/logout", name="logout")
def logout(request: Request, session: SessionDep) -> Response:
    """End the session: here, and in any copy of its cookie (the user's session generation
    moves on, so every cookie issued before it is refused)."""
    user = getattr(request.state, "user", None)
    if user is not None:
        user.session_generation = (user.session_generation or 0) + 1
        session.flush()
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@api.get(
    "/healthz",
    response_model=HealthOut,
    responses={
        **refusals(401, s401="An `Authorization: Bearer` header with no valid token."),
        503: {
            "model": HealthOut | Refusal,
            "description": "The database cannot be reached (or is busy with another change).",
        },
    },
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


@api.get("/api/me", response_model=MeOut, responses=COMMON, name="api_me")
def me(user: CurrentUser) -> dict[str, Any]:
    """Who the request is made as."""
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "teams": [t.name for t in user.teams],
    }


router = APIRouter()
router.include_router(pages)
router.include_router(api)
