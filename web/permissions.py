"""Who may do what: one table from route name to the roles allowed, enforced on every route.

``authorize`` runs before every route of the app (pages, API, docs). It finds the user from
the session cookie or an ``Authorization: Bearer`` API token, refuses routes the table does
not list (so a new route is closed until someone decides who may use it), checks the role,
and checks the CSRF token of every state-changing request that rides on the cookie.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from rootline.rootcause.models import Problem, User
from rootline.rootcause.service import get_problem
from rootline.rootcause.teams import ROLES
from rootline.web.accounts import active_token
from rootline.web.deps import RowId, SessionDep
from rootline.web.security import check_csrf, new_csrf_token

__all__ = [
    "ALL",
    "PERMISSIONS",
    "PUBLIC",
    "AuthRequired",
    "CurrentUser",
    "Forbidden",
    "SignedIn",
    "WorkableProblem",
    "allowed",
    "app_routes",
    "authorize",
    "can_see_pii",
    "can_work_on",
    "check_can_work_on",
    "csrf_token",
    "session_fingerprint",
]

ALL = frozenset(ROLES)
ADMIN = frozenset({"admin"})
LEADS = frozenset({"admin", "support_lead"})
#: Roles that work on problems: leads triage, IS and product owners work on their teams' ones.
WORKERS = frozenset({"admin", "support_lead", "is_owner", "product_owner"})
#: Anyone but a viewer; viewers see no personal data.
STAFF = WORKERS

#: Routes anyone may use, signed in or not.
PUBLIC = frozenset({"login_page", "login_submit", "healthz"})
#: The routes a token of a narrower scope than ``all`` may call.
TOKEN_SCOPE_ROUTES = {"triage": frozenset({"api_triage", "api_contact_triage"})}

#: Route name -> roles allowed. Every route of the app must be here or in PUBLIC
#: (tests/test_web_auth.py checks it, and unknown routes are refused at run time).
PERMISSIONS: dict[str, frozenset[str]] = {
    "logout": ALL,
    "docs": ALL,
    "openapi": ALL,
    # themes
    "home": ALL,
    "themes_page": ALL,
    "theme_page": ALL,
    "theme_rename": LEADS,
    "theme_merge": LEADS,
    "theme_split": LEADS,
    "theme_move": LEADS,
    "theme_noise": LEADS,
    "theme_accept": LEADS,
    "theme_promote": LEADS,
    "theme_undo": LEADS,
    # problems
    "board_page": ALL,
    "problem_page": ALL,
    "problem_transition": WORKERS,
    "problem_update": WORKERS,
    "problem_fix": WORKERS,
    "problem_comment": WORKERS,
    "problem_task_add": WORKERS,
    "task_state": WORKERS,
    "problem_assign": LEADS,
    # daily work
    "my_tasks_page": WORKERS,
    "backlog_page": ALL,
    # product owners propose UX improvements from the backlog candidates, as leads may
    "ux_propose": frozenset({"admin", "support_lead", "product_owner"}),
    "customer_page": ALL,
    "search_page": ALL,
    # the agent's desk: every signed-in role triages
    "contact_page": ALL,
    "desk_page": ALL,
    "desk_triage": ALL,
    # governance board: owners and leads see decisions, board members (checked per route) decide
    "governance_page": WORKERS,
    "governance_decide": WORKERS,
    "governance_review": WORKERS,
    # knowledge base: every role searches and reads; leads and the problem's owners edit
    "knowledge_page": ALL,
    "article_page": ALL,
    "article_save": WORKERS,
    "article_propose": WORKERS,
    # admin
    "admin_page": ADMIN,
    "admin_user_create": ADMIN,
    "admin_user_update": ADMIN,
    "admin_team_create": ADMIN,
    "admin_team_member": ADMIN,
    "admin_rules_import": ADMIN,
    "admin_rule_delete": ADMIN,
    "admin_rule_save": ADMIN,
    "admin_rule_page": ADMIN,
    "admin_rule_create": ADMIN,
    "admin_rule_new": ADMIN,
    "admin_team_member_remove": ADMIN,
    "admin_rules_export": ADMIN,
    "admin_token_create": ADMIN,
    "admin_token_revoke": ADMIN,
    # JSON API
    "api_me": ALL,
    "api_dashboard": ALL,
    "api_themes": ALL,
    "api_theme": ALL,
    "api_theme_interactions": ALL,
    "api_theme_rename": LEADS,
    "api_theme_merge": LEADS,
    "api_theme_split": LEADS,
    "api_theme_move": LEADS,
    "api_theme_noise": LEADS,
    "api_theme_accept": LEADS,
    "api_theme_promote": LEADS,
    "api_theme_undo": LEADS,
    "api_runs": ALL,
    "api_alerts": ALL,
    "api_problems": ALL,
    "api_problem": ALL,
    "api_problem_transition": WORKERS,
    "api_problem_update": WORKERS,
    "api_problem_fix": WORKERS,
    "api_problem_comment": WORKERS,
    "api_problem_task_add": WORKERS,
    "api_task_state": WORKERS,
    "api_problem_assign": LEADS,
    "api_problem_verification": ALL,
    "api_my_tasks": WORKERS,
    "api_backlog": ALL,
    "api_ux_candidates": ALL,
    "api_customer": ALL,
    "api_customer_erase": ADMIN,
    "api_search": ALL,
    "api_theme_figures": ALL,
    "api_triage": ALL,
    "api_contact_triage": ALL,
    "api_governance": WORKERS,
    "api_governance_decide": WORKERS,
    "api_governance_decisions": WORKERS,
    "api_governance_review": WORKERS,
    "api_knowledge": ALL,
    "api_article": ALL,
    "api_article_save": WORKERS,
    "api_article_propose": WORKERS,
    "api_users": ADMIN,
    "api_user_create": ADMIN,
    "api_teams": ALL,
    "api_rules": ADMIN,
    "api_rules_import": ADMIN,
    "api_team_member_remove": ADMIN,
    "api_rule_delete": ADMIN,
    "api_rule_update": ADMIN,
    "api_rule_create": ADMIN,
    "api_tokens": ADMIN,
    "api_token_create": ADMIN,
    "api_token_revoke": ADMIN,
    # pushed contacts (a help desk's webhook): adding data sources is an admin's job
    "api_ingest": ADMIN,
    # customer impact: figures by dimension, forecasts, service quality, account books
    "impact_page": ALL,
    "impact_panel": ALL,
    "forecast_page": ALL,
    "forecast_svg": ALL,
    "service_page": ALL,
    "survey_import": LEADS,
    "accounts_page": ALL,
    "account_page": ALL,
    "api_impact": ALL,
    "api_forecasts": ALL,
    "api_theme_forecast": ALL,
    "api_service": ALL,
    "api_accounts": ALL,
    "api_account": ALL,
    "weights_page": ALL,
    "weights_update": ADMIN,
    "api_weights": ALL,
    "api_weights_update": ADMIN,
}

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class AuthRequired(Exception):
    """Nobody is signed in: pages redirect to the sign-in page, the API answers 401."""


class Forbidden(Exception):
    """The user's role may not use this route, or the CSRF token is missing or wrong."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class SignedIn:
    """Who is signed in, as plain values: pages and error pages read it after the request's
    database session has ended (an ORM row would be expired and detached by then)."""

    id: int
    email: str
    name: str
    role: str

    @classmethod
    def of(cls, user: User) -> SignedIn:
        return cls(id=user.id, email=user.email, name=user.name, role=user.role)


def allowed(user: User | SignedIn | None, route_name: str) -> bool:
    """Whether ``user`` may use the route named ``route_name`` (used to hide links too)."""
    if route_name in PUBLIC:
        return True
    return user is not None and user.role in PERMISSIONS.get(route_name, frozenset())


def can_see_pii(user: User | SignedIn | None) -> bool:
    """Raw contact text and customers' e-mail addresses and phones are not for viewers."""
    return user is not None and user.role in STAFF


def can_work_on(user: User | None, problem: Problem) -> bool:
    """Leads work on any problem; IS and product owners on those routed to a team of theirs."""
    if user is None:
        return False
    if user.role in LEADS:
        return True
    if user.role not in WORKERS:
        return False
    mine = {t.id for t in user.teams}
    return bool(mine & {problem.business_team_id, problem.is_team_id})


def session_fingerprint(user: User) -> str:
    """Ties a browser session to the user's password and session generation: changing the
    password, or signing out (which raises the generation), ends every session issued before."""
    material = f"{user.password_hash or ''}:{user.session_generation or 0}"
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def csrf_token(request: Request) -> str:
    """The CSRF token of this browser session, created on first use."""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = new_csrf_token()
    return str(token)


def _user_from_cookie(request: Request, session: Session) -> User | None:
    user_id = request.session.get("user_id")
    if not isinstance(user_id, int):
        return None
    user = session.get(User, user_id)
    if user is None or not user.active or request.session.get("fp") != session_fingerprint(user):
        request.session.pop("user_id", None)
        return None
    return user


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else None


async def _form_token(request: Request) -> str | None:
    """The CSRF token a state-changing request on the cookie sends (header or form field).

    Read here, on the event loop, because the form is read asynchronously; ``authorize``, which
    queries the database, runs in a worker thread. None where no check is made, so no body is
    read for it: safe methods and API-token calls.
    """
    if request.method in _SAFE_METHODS or _bearer(request) is not None:
        return None
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    if request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        # Starlette keeps the parsed form, so the route's Form() fields read it again for free.
        value = (await request.form()).get("csrf_token")
        return value if isinstance(value, str) else None
    return None


def authorize(
    request: Request,
    session: SessionDep,
    form_token: Annotated[str | None, Depends(_form_token)],
) -> None:
    """Find the user, then allow or refuse the route (see the module docstring).

    A plain function, so FastAPI runs it in a worker thread: waiting there for a pooled
    connection is harmless, while on the event loop it would stop the requests that hold the
    connections from finishing, and the server would stall.

    Raises:
        AuthRequired: nobody is signed in and the route is not public.
        Forbidden: the role may not use the route, or the CSRF token is wrong.
    """
    route = request.scope.get("route")
    name = getattr(route, "name", "")
    bearer = _bearer(request)
    by_token = bearer is not None
    token = active_token(session, bearer) if bearer is not None else None
    user = (
        token.user
        if token is not None
        else None
        if by_token
        else _user_from_cookie(request, session)
    )
    request.state.user = user
    request.state.signed_in = SignedIn.of(user) if user is not None else None
    if user is None and (by_token or name not in PUBLIC):
        raise AuthRequired()
    # A cookie is sent by the browser on its own; only our forms know the token.
    if (
        request.method not in _SAFE_METHODS
        and not by_token
        and not check_csrf(request.session.get("csrf"), form_token)
    ):
        raise Forbidden(
            "the form was out of date or not sent by Rootline (CSRF check); "
            "reload the page and try again"
        )
    if name in PUBLIC:
        return
    if token is not None and token.scope != "all" and name not in TOKEN_SCOPE_ROUTES[token.scope]:
        raise Forbidden(f"this API token may only {token.scope}")
    if user is None or user.role not in PERMISSIONS.get(name, frozenset()):
        raise Forbidden(f"your role ({getattr(user, 'role', 'none')}) may not do this")


def app_routes(routes: Iterable[Any]) -> Iterator[tuple[str, str, frozenset[str]]]:
    """(name, path, methods) of every route, looking inside included routers."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from app_routes(inner.routes)
        elif getattr(route, "methods", None):
            yield route.name, route.path, frozenset(route.methods)


def _current_user(request: Request) -> User:
    user = getattr(request.state, "user", None)
    if user is None:  # only on a PUBLIC route, which should not ask for the user
        raise AuthRequired()
    return user


CurrentUser = Annotated[User, Depends(_current_user)]


def _problem_to_work_on(session: SessionDep, user: CurrentUser, problem_id: RowId) -> Problem:
    """The problem in the path, refused unless the user may work on it (see ``can_work_on``).

    Raises:
        NotFoundError: no such problem.
        Forbidden: the problem is routed to teams the user is not in.
    """
    problem = get_problem(session, problem_id)
    if not can_work_on(user, problem):
        raise Forbidden("this problem is routed to teams you are not in")
    return problem


#: A route parameter: the path's problem, loaded and checked for the signed-in user.
WorkableProblem = Annotated[Problem, Depends(_problem_to_work_on)]


def check_can_work_on(user: User, problem: Problem) -> None:
    """Refuse work on a problem routed to other teams (leads may work on any).

    Raises:
        Forbidden: if the user is neither a lead nor in one of the problem's teams.
    """
    if not can_work_on(user, problem):
        raise Forbidden("this problem is routed to teams you are not in")
