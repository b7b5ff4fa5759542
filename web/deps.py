"""Request dependencies: a database session per request and the page renderer.

The app factory puts the session factory and the templates on ``app.state``; routes reach
them only through these dependencies, so tests can override them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import Response

__all__ = ["PageRenderer", "Renderer", "SessionDep", "get_renderer", "get_session"]


def get_session(request: Request) -> Iterator[Session]:
    """A session for one request: committed if the route succeeds, rolled back if it raises.

    Yields:
        A session from the app's session factory, closed when the route is done.
    """
    factory: sessionmaker[Session] = request.app.state.sessions
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


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
Renderer = Annotated[PageRenderer, Depends(get_renderer)]
