"""The web app factory: the composition root of the web layer.

``create_app`` gets settings and a migrated engine from its caller (the CLI, the tests) and
wires the session factory, sign-in sessions, permissions, templates, static files, routes and
error pages. Importing this module does nothing else; the embedder for semantic search is
built on first use, from the settings, unless the caller hands one in.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import jinja2
import sqlalchemy as sa
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import Response

import rootline
from rootline.config import Settings, resolve_secret_key
from rootline.db import make_session_factory
from rootline.errors import ConflictError, NotFoundError, RootlineError
from rootline.ingest.cleaning import redact_pii
from rootline.web.cache import FigureCache
from rootline.web.headers import SecurityHeaders, policy_with_script
from rootline.web.permissions import (
    AuthRequired,
    Forbidden,
    allowed,
    authorize,
    can_see_pii,
    csrf_token,
)
from rootline.web.routes import (
    admin,
    auth,
    contacts,
    governance,
    impact,
    ingest,
    knowledge,
    problems,
    search,
    themes,
    triage,
    work,
)

__all__ = ["create_app"]

_HERE = Path(__file__).parent
_SWAGGER = "/static/vendor/swagger-ui"


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive UTC; PostgreSQL hands back the connection's time zone.
    return value.astimezone(UTC) if value.tzinfo else value


def _local(value: datetime, zone: tzinfo) -> datetime:
    utc = _utc(value)
    return (utc if utc.tzinfo else utc.replace(tzinfo=UTC)).astimezone(zone)


def _when_in(zone: tzinfo) -> Any:
    """The ``when`` filter: a moment in the display time zone, with the zone's name, inside a
    ``<time>`` element that carries the UTC instant."""

    def when(value: datetime | None) -> Markup | str:
        if not value:
            return "—"
        local = _local(value, zone)
        instant = _local(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        text = local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or "UTC")
        return Markup('<time datetime="{}">{}</time>').format(instant, text)

    return when


def _day_in(zone: tzinfo) -> Any:
    """The ``day`` filter: the date in the display time zone (plain text, fit for inputs)."""

    def day(value: datetime | None) -> str:
        return _local(value, zone).strftime("%Y-%m-%d") if value else "—"

    return day


def _percent(share: float) -> str:
    return f"{share * 100:.1f}%"


#: Symbols of the currencies people read by symbol; any other shows its ISO code.
_SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$", "JPY": "¥", "INR": "₹"}


def _money_in(currency: str) -> Any:
    """The ``money`` filter: a whole amount with the configured currency ("£12,340")."""
    symbol = _SYMBOLS.get(currency)

    def money(amount: float | None) -> str:
        if amount is None:
            return "—"
        text = f"{abs(amount):,.0f}"
        sign = "-" if round(amount) < 0 else ""
        return f"{sign}{symbol}{text}" if symbol else f"{sign}{currency} {text}"

    return money


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@jinja2.pass_context
def _subject(context: Any, subject: str | None) -> str:
    """A contact's subject line as the viewer may see it: PII redacted for non-staff, as the
    body is (a subject is the customer's words too)."""
    if not subject:
        return ""
    return subject if context.get("see_pii") else redact_pii(subject)


def _auth_context(request: Request) -> dict[str, Any]:
    # Plain values, not the ORM row: an error page renders after the session has ended.
    user = getattr(request.state, "signed_in", None)
    return {
        "current_user": user,
        "csrf_token": csrf_token(request) if "session" in request.scope else "",
        "can": lambda name: allowed(user, name),
        "see_pii": can_see_pii(user),
        "flash": request.session.pop("flash", None) if "session" in request.scope else None,
    }


def _templates(zone: tzinfo = UTC, currency: str = "EUR") -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        # Every page escapes what it prints; nothing a customer wrote is ever marked safe.
        autoescape=jinja2.select_autoescape(["html", "svg", "xml"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=_when_in(zone),
        day=_day_in(zone),
        percent=_percent,
        count=_count,
        subject=_subject,
        money=_money_in(currency),
    )
    env.globals["version"] = rootline.__version__
    env.globals["currency"] = currency
    return Jinja2Templates(env=env, context_processors=[_auth_context])


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/healthz"


def _error_page(request: Request, status_code: int, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"detail": message}, status_code=status_code)
    name = "404.html" if status_code == 404 else "error.html"
    return request.app.state.templates.TemplateResponse(
        request, name, {"message": message, "status_code": status_code}, status_code=status_code
    )


def _back(request: Request) -> str | None:
    """The page a form was posted from, if it is one of ours (never another site)."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc and referer.netloc != request.url.netloc:
        return None
    return (referer.path + (f"?{referer.query}" if referer.query else "")) or None


def _install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(AuthRequired)
    async def sign_in_first(request: Request, exc: AuthRequired) -> Response:
        if _wants_json(request) or request.headers.get("authorization"):
            return JSONResponse(
                {"detail": "sign in or send an API token"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return _error_page(request, 403, exc.message)

    @app.exception_handler(RootlineError)
    async def refused(request: Request, exc: RootlineError) -> Response:
        status = (
            404
            if isinstance(exc, NotFoundError)
            else 409
            if isinstance(exc, ConflictError)
            else 400
        )
        back = _back(request)
        if request.method == "POST" and not _wants_json(request) and back and status != 404:
            # A refused form goes back to its page with the reason on top, input intact.
            request.session["flash"] = {"kind": "error", "text": str(exc)}
            return RedirectResponse(back, status_code=303)
        return _error_page(request, status, str(exc))

    @app.exception_handler(sa.exc.OperationalError)
    async def database_busy(request: Request, exc: sa.exc.OperationalError) -> Response:
        # SQLite has one writer at a time: a long load can hold the lock past the busy timeout.
        if "database is locked" not in str(exc.orig):
            raise exc
        message = "The database is busy with another change; nothing was saved. Try again."
        if _wants_json(request) or request.headers.get("authorization"):
            return JSONResponse({"detail": message}, status_code=503, headers={"Retry-After": "5"})
        page = _error_page(request, 503, message)
        page.headers["Retry-After"] = "5"
        return page

    @app.exception_handler(NotFoundError)
    async def not_found(request: Request, exc: NotFoundError) -> Response:
        return _error_page(request, 404, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = "There is no page at this address." if exc.status_code == 404 else str(exc.detail)
        return _error_page(request, exc.status_code, message)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": exc.errors()}, status_code=422)
        errors = exc.errors()
        if any(e.get("loc", ("",))[0] == "path" for e in errors):
            # /themes/abc names no theme: that is a missing page, not a malformed request.
            return _error_page(request, 404, "There is no page at this address.")
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "the request"
        return _error_page(request, 400, f"{where}: {first.get('msg', 'invalid value')}")


def _install_docs(app: FastAPI) -> None:
    @app.get("/openapi.json", include_in_schema=False, name="openapi")
    def openapi() -> JSONResponse:
        # Served by a route of ours, so the permission check covers it like every other.
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, name="docs")
    def docs() -> HTMLResponse:
        # FastAPI's default page pulls Swagger UI from a CDN; ours is vendored under /static.
        page = get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{_SWAGGER}/swagger-ui-bundle.js",
            swagger_css_url=f"{_SWAGGER}/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
            swagger_ui_parameters={"validatorUrl": None},
        )
        # Swagger UI starts from one inline script: allowed by its hash, on this page only.
        page.headers["Content-Security-Policy"] = policy_with_script(bytes(page.body).decode())
        return page


def create_app(settings: Settings, engine: Engine, embedder: Any | None = None) -> FastAPI:
    """Build the Rootline web app around an already migrated database.

    Args:
        settings: The settings the caller read; kept on ``app.state.settings``.
        engine: A migrated engine; each request gets its own session from it.
        embedder: The embedder for semantic search; default: built from the settings
            (``rootline.pipeline.build_embedder``) on the first search that needs it.

    Returns:
        The FastAPI application, ready for uvicorn or a test client.
    """
    app = FastAPI(
        title="Rootline",
        summary="Recurring issue themes from customer contacts.",
        version=rootline.__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # Every route, page or API, passes the permission table (rootline.web.permissions).
        dependencies=[Depends(authorize)],
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=resolve_secret_key(settings.secret_key, settings.data_dir),
        session_cookie="rootline_session",
        max_age=settings.session_max_age,
        same_site="lax",
        https_only=settings.session_https_only,
    )
    # Outermost, so error pages and redirects carry the headers too.
    app.add_middleware(SecurityHeaders)
    app.state.settings = settings
    app.state.embedder = embedder
    app.state.figures = FigureCache(ttl=60.0)
    app.state.search_index = FigureCache(ttl=600.0, size=2)
    app.state.sessions = make_session_factory(engine)
    app.state.templates = _templates(ZoneInfo(settings.timezone), settings.currency)
    app.mount("/static", StaticFiles(directory=_HERE / "static"), name="static")
    _install_error_pages(app)
    _install_docs(app)
    for module in (
        auth,
        themes,
        problems,
        work,
        search,
        admin,
        ingest,
        triage,
        contacts,
        impact,
        governance,
        knowledge,
    ):
        app.include_router(module.router)
    return app
