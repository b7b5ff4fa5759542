"""Request dependencies: a database session per request and the page renderer.

The app factory puts the session factory and the templates on ``app.state``; routes reach
them only through these dependencies, so tests can override them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import Response

from rootline.db import begin_writing, session_scope

__all__ = [
    "ClustererDep",
    "Currency",
    "PageRenderer",
    "Renderer",
    "SessionDep",
    "WebhookUrl",
    "csv_response",
    "flash",
    "get_clusterer",
    "get_currency",
    "get_embedder",
    "get_figures",
    "get_renderer",
    "get_session",
    "get_webhook_url",
    "wants_csv",
]


#: Methods that never write: their transactions need no write lock.
_READ_ONLY = frozenset({"GET", "HEAD", "OPTIONS"})


def get_session(request: Request) -> Iterator[Session]:
    """A session for one request: committed if the route succeeds, rolled back if it raises.

    Yields:
        A session from the app's session factory, closed when the route is done.
    """
    factory: sessionmaker[Session] = request.app.state.sessions
    with session_scope(factory) as session:
        if request.method not in _READ_ONLY:
            begin_writing(session)
        yield session


class PageRenderer:
    """Renders a template for one request."""

    def __init__(self, templates: Jinja2Templates, request: Request) -> None:
        self._templates = templates
        self._request = request

    def __call__(self, name: str, status_code: int = 200, **context: Any) -> Response:
        """Render template ``name`` with ``context`` as an HTML response."""
        return self._templates.TemplateResponse(
            self._request, name, context, status_code=status_code
        )


def get_renderer(request: Request) -> PageRenderer:
    """The page renderer bound to this request and the app's templates."""
    return PageRenderer(request.app.state.templates, request)


# "function" scope: commit before the response goes out, so a failed commit is a 500.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
#: Largest row id the databases hold (a signed 64-bit integer); a larger id names nothing.
MAX_ID = 2**63 - 1
#: A row id in a URL path: at least 1, at most ``MAX_ID`` (else 422, never an overflow).
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
Renderer = Annotated[PageRenderer, Depends(get_renderer)]


def flash(request: Request, text: str, kind: str = "ok") -> None:
    """A one-line message shown on the next page the user sees."""
    request.session["flash"] = {"kind": kind, "text": text}


def get_figures(request: Request) -> Any:
    """The app's cache of costly figures (``rootline.web.cache.FigureCache``)."""
    return request.app.state.figures


def get_embedder(request: Request) -> Any:
    """The embedder for semantic search, built from the settings on first use."""
    if request.app.state.embedder is None:
        from rootline.pipeline import build_embedder

        request.app.state.embedder = build_embedder(request.app.state.settings)
    return request.app.state.embedder


def get_clusterer(request: Request) -> Any:
    """The clusterer the settings ask for (``rootline.pipeline.build_clusterer``)."""
    from rootline.pipeline import build_clusterer

    return build_clusterer(request.app.state.settings)


def get_webhook_url(request: Request) -> str | None:
    """Where problem events are posted (``Settings.webhook_url``), if anywhere."""
    url: str | None = request.app.state.settings.webhook_url
    return url


def get_currency(request: Request) -> str:
    """The ISO 4217 code of customer values (``Settings.currency``)."""
    return str(request.app.state.settings.currency)


#: The clusterer of the settings, for a split.
ClustererDep = Annotated[Any, Depends(get_clusterer)]
#: The webhook URL of the settings.
WebhookUrl = Annotated[str | None, Depends(get_webhook_url)]
#: The currency of customer values.
Currency = Annotated[str, Depends(get_currency)]


def wants_csv(request: Request) -> bool:
    """Whether the page was asked for as CSV (``?format=csv``)."""
    return request.query_params.get("format") == "csv"


def csv_response(name: str, header: list[str], rows: Iterable[Iterable[Any]]) -> Response:
    """A CSV download; cells that a spreadsheet would run as a formula are quoted with '.

    Args:
        name: The file name offered to the browser, without extension.
        header: The column names.
        rows: The rows, in order.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
