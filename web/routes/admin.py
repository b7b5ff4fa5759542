"""Administration: users, teams, routing rules and API tokens, pages beside their JSON twins."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import PlainTextResponse, RedirectResponse
from starlette.responses import Response

from rootline.clustering.models import Theme
from rootline.errors import InputError, NotFoundError
from rootline.rootcause.audit import record
from rootline.rootcause.models import RoutingRule, User
from rootline.rootcause.routing import (
    conditions_text,
    delete_rule,
    export_rules_yaml,
    get_rule,
    import_rules_yaml,
    list_rules,
    parse_conditions,
    preview_rule,
    save_rule,
)
from rootline.rootcause.schemas import TeamOut
from rootline.rootcause.teams import (
    ROLES,
    TEAM_KINDS,
    add_member,
    create_team,
    create_user,
    find_team,
    get_user,
    list_teams,
    remove_member,
)
from rootline.web import confirm
from rootline.web.accounts import create_token, list_tokens, revoke_token, set_password
from rootline.web.deps import MAX_ID, Renderer, RowId, SessionDep, csv_response, flash, wants_csv
from rootline.web.permissions import (
    CurrentUser,
)
from rootline.web.refusals import COMMON, as_json, refusals
from rootline.web.schemas import (
    RuleIn,
    RuleOut,
    RulesImportOut,
    TokenCreatedOut,
    TokenIn,
    TokenOut,
    TokenRevokedOut,
    UserCreatedOut,
    UserIn,
    UserOut,
)

__all__ = ["router"]

#: HTML pages (not in the API schema) and their JSON twins.
pages = APIRouter(include_in_schema=False)
api = APIRouter(tags=["admin"], responses=COMMON)


class YamlResponse(PlainTextResponse):
    """A YAML document (routing rules and teams)."""

    media_type = "application/yaml"


#: What the YAML of ``rootline rules export`` holds.
_RULES_YAML = {
    "type": "object",
    "required": ["rules", "teams"],
    "properties": {
        "rules": {"type": "array", "items": {"type": "object"}},
        "teams": {"type": "array", "items": {"type": "object"}},
    },
}


def _admin(request: Request) -> RedirectResponse:
    return RedirectResponse("/admin", status_code=303)


@pages.get("/admin", name="admin_page")
def admin_page(request: Request, session: SessionDep, render: Renderer) -> Response:
    """Users, teams, routing rules and API tokens on one page."""
    users = list(session.scalars(sa.select(User).order_by(User.email)))
    if wants_csv(request):
        return csv_response(
            "users",
            ["user_id", "email", "name", "role", "active", "teams"],
            (
                [u.id, u.email, u.name, u.role, u.active, " ".join(t.name for t in u.teams)]
                for u in users
            ),
        )
    new_token = request.session.pop("new_token", None)
    return render(
        "admin.html",
        nav="admin",
        users=users,
        teams=list_teams(session),
        rules=list_rules(session),
        tokens=list_tokens(session),
        roles=ROLES,
        team_kinds=TEAM_KINDS,
        new_token=new_token,
    )


@pages.post("/admin/users", name="admin_user_create")
def admin_user_create(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    email: Annotated[str, Form(max_length=255)],
    role: Annotated[str, Form(max_length=32)],
    password: Annotated[str, Form(max_length=1024)],
    name: Annotated[str, Form(max_length=255)] = "",
    team_id: Annotated[int | None, Form(ge=1)] = None,
) -> Response:
    """Add a user with a role, a password and optionally a team."""
    created = create_user(session, email, name, role, actor=user.email)
    set_password(session, created, password, actor=user.email)
    if team_id is not None:
        add_member(session, find_team(session, team_id), created, actor=user.email)
    flash(request, f"User {created.email} added.")
    return _admin(request)


@pages.post("/admin/users/{user_id}", name="admin_user_update")
def admin_user_update(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    user_id: RowId,
    role: Annotated[str, Form(max_length=32)] = "",
    active: Annotated[str, Form(max_length=8)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Change a user's role, deactivate or reactivate them, or set a new password."""
    target = get_user(session, user_id)
    if role:
        if role not in ROLES:
            raise InputError(f"role must be one of {', '.join(ROLES)}", field="role")
        if target.id == user.id and role != "admin":
            raise InputError("you cannot take the admin role from yourself", field="role")
        if role != target.role:
            record(session, user.email, "user", target.id, "update", "role", target.role, role)
            target.role = role
    if active in ("yes", "no"):
        if target.id == user.id and active == "no":
            raise InputError("you cannot deactivate yourself", field="active")
        if target.active != (active == "yes"):
            record(
                session,
                user.email,
                "user",
                target.id,
                "update",
                "active",
                target.active,
                active == "yes",
            )
            target.active = active == "yes"
    if password:
        set_password(session, target, password, actor=user.email)
    session.flush()
    flash(request, f"User {target.email} updated.")
    return _admin(request)


@pages.post("/admin/teams", name="admin_team_create")
def admin_team_create(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    name: Annotated[str, Form(max_length=128)],
    kind: Annotated[str, Form(max_length=16)],
    email: Annotated[str, Form(max_length=255)] = "",
    lead_email: Annotated[str, Form(max_length=255)] = "",
) -> Response:
    """Add a business, IS or triage team."""
    team = create_team(
        session,
        name,
        kind,
        lead_email=lead_email.strip() or None,
        email=email.strip() or None,
        actor=user.email,
    )
    flash(request, f"Team {team.name} added.")
    return _admin(request)


@pages.post("/admin/teams/{team_id}/members", name="admin_team_member")
def admin_team_member(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    team_id: RowId,
    user_id: Annotated[int, Form(ge=1)],
) -> Response:
    """Put a user in a team."""
    team = find_team(session, team_id)
    member = get_user(session, user_id)
    add_member(session, team, member, actor=user.email)
    flash(request, f"{member.email} joined {team.name}.")
    return _admin(request)


@pages.post("/admin/teams/{team_id}/members/{user_id}/remove", name="admin_team_member_remove")
def admin_team_member_remove(
    request: Request, session: SessionDep, user: CurrentUser, team_id: RowId, user_id: RowId
) -> Response:
    """Take a user out of a team (a lead who leaves stops leading it)."""
    team = find_team(session, team_id)
    member = get_user(session, user_id)
    was_lead = remove_member(session, team, member, actor=user.email)
    flash(
        request,
        f"{member.email} left {team.name}"
        + (", which now has no lead" if was_lead else "")
        + ". “Add” in the team's row puts them back.",
    )
    return _admin(request)


def _teams_by_role(session: SessionDep) -> dict[str, list[Any]]:
    teams = list_teams(session)
    return {
        "business": [t for t in teams if t.kind in ("business", "triage")],
        "is": [t for t in teams if t.kind in ("is", "triage")],
    }


def _rule_form(
    render: Renderer,
    session: SessionDep,
    *,
    rule: Any,
    theme_id: int | None,
    status_code: int = 200,
) -> Response:
    preview = None
    if rule.id is not None and theme_id is not None:
        theme = session.get(Theme, theme_id)
        if theme is not None:
            reasons, decision = preview_rule(session, rule, theme.id)
            preview = {"theme": theme, "reasons": reasons, "decision": decision}
    themes = session.execute(
        sa.select(Theme.id, Theme.title)
        .where(Theme.status.in_(["active", "proposed"]))
        .order_by(Theme.size.desc(), Theme.id)
        .limit(200)
    ).all()
    return render(
        "rule.html",
        status_code=status_code,
        nav="admin",
        rule=rule,
        conditions=conditions_text(rule.conditions),
        teams=_teams_by_role(session),
        themes=themes,
        theme_id=theme_id,
        preview=preview,
    )


@pages.get("/admin/rules/new", name="admin_rule_new")
def admin_rule_new(session: SessionDep, render: Renderer) -> Response:
    """The form for a new routing rule."""
    blank = RoutingRule(name="", priority=100, enabled=True, conditions={})
    return _rule_form(render, session, rule=blank, theme_id=None)


@pages.post("/admin/rules/new", name="admin_rule_create")
def admin_rule_create(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    name: Annotated[str, Form(max_length=128)],
    priority: Annotated[int, Form(ge=0, le=1_000_000)] = 100,
    enabled: Annotated[str, Form(max_length=3)] = "",
    conditions: Annotated[str, Form(max_length=20_000)] = "",
    business_team_id: Annotated[int | None, Form(ge=1, le=MAX_ID)] = None,
    is_team_id: Annotated[int | None, Form(ge=1, le=MAX_ID)] = None,
) -> Response:
    """Add a routing rule."""
    rule = save_rule(
        session,
        None,
        name=name,
        priority=priority,
        enabled=enabled == "yes",
        conditions=parse_conditions(conditions),
        business_team_id=business_team_id,
        is_team_id=is_team_id,
        actor=user.email,
    )
    flash(request, f"Routing rule {rule.name} added.")
    return RedirectResponse(f"/admin/rules/{rule.id}", status_code=303)


@pages.get("/admin/rules/{rule_id}", name="admin_rule_page")
def admin_rule_page(
    session: SessionDep,
    render: Renderer,
    rule_id: RowId,
    theme: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    """One routing rule, to edit, with how it judges a sample theme (``theme``)."""
    return _rule_form(render, session, rule=get_rule(session, rule_id), theme_id=theme)


@pages.post("/admin/rules/{rule_id}", name="admin_rule_save")
def admin_rule_save(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    rule_id: RowId,
    name: Annotated[str, Form(max_length=128)],
    priority: Annotated[int, Form(ge=0, le=1_000_000)] = 100,
    enabled: Annotated[str, Form(max_length=3)] = "",
    conditions: Annotated[str, Form(max_length=20_000)] = "",
    business_team_id: Annotated[int | None, Form(ge=1, le=MAX_ID)] = None,
    is_team_id: Annotated[int | None, Form(ge=1, le=MAX_ID)] = None,
    theme: Annotated[int | None, Form(ge=1, le=MAX_ID)] = None,
) -> Response:
    """Change a routing rule; problems routed before keep their owners."""
    rule = save_rule(
        session,
        rule_id,
        name=name,
        priority=priority,
        enabled=enabled == "yes",
        conditions=parse_conditions(conditions),
        business_team_id=business_team_id,
        is_team_id=is_team_id,
        actor=user.email,
    )
    flash(request, f"Routing rule {rule.name} saved.")
    return RedirectResponse(
        f"/admin/rules/{rule.id}" + (f"?theme={theme}" if theme else ""), status_code=303
    )


@pages.post("/admin/rules/{rule_id}/delete", name="admin_rule_delete")
def admin_rule_delete(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    render: Renderer,
    rule_id: RowId,
    confirmed: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    """Remove a routing rule (after a confirmation)."""
    if not confirm.confirmed(confirmed):
        rule = get_rule(session, rule_id)
        return render("confirm.html", nav="admin", confirm=confirm.rule_delete_confirmation(rule))
    name = delete_rule(session, rule_id, actor=user.email)
    flash(request, f"Routing rule {name} removed.")
    return _admin(request)


@pages.post("/admin/rules", name="admin_rules_import")
def admin_rules_import(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    yaml_text: Annotated[str, Form(max_length=200_000)],
) -> Response:
    """Replace or add routing rules (and teams) from YAML, as ``rootline rules import``."""
    rules = import_rules_yaml(session, yaml_text, actor=user.email)
    flash(request, f"{len(rules)} routing rule(s) imported.")
    return _admin(request)


@pages.get("/admin/rules.yaml", name="admin_rules_export")
def admin_rules_export(session: SessionDep) -> Response:
    """The routing rules and teams as YAML, as ``rootline rules export``."""
    return Response(
        export_rules_yaml(session),
        media_type="application/yaml",
        headers={"Content-Disposition": 'attachment; filename="rules.yaml"'},
    )


@pages.post("/admin/tokens", name="admin_token_create")
def admin_token_create(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    name: Annotated[str, Form(max_length=128)],
    user_id: Annotated[int | None, Form(ge=1)] = None,
    scope: Annotated[str, Form(pattern="^(all|triage)$")] = "all",
) -> Response:
    """Create an API token for a user; it is shown once, on the next page."""
    owner = get_user(session, user_id) if user_id else user
    _, token = create_token(session, owner, name, actor=user.email, scope=scope)
    request.session["new_token"] = token
    return _admin(request)


@pages.post("/admin/tokens/{token_id}/revoke", name="admin_token_revoke")
def admin_token_revoke(
    request: Request, session: SessionDep, user: CurrentUser, token_id: RowId
) -> Response:
    """Stop a token from working."""
    revoke_token(session, token_id, actor=user.email)
    flash(request, "Token revoked.")
    return _admin(request)


@api.get("/api/admin/users", response_model=list[UserOut], name="api_users")
def users(session: SessionDep) -> list[dict[str, Any]]:
    """Every user with role and teams."""
    return [
        {
            "id": u.id,
            "email": u.email,
            "name": u.name,
            "role": u.role,
            "active": u.active,
            "teams": [t.name for t in u.teams],
        }
        for u in session.scalars(sa.select(User).order_by(User.email))
    ]


@api.post(
    "/api/admin/users",
    status_code=201,
    response_model=UserCreatedOut,
    responses=refusals(
        400,
        404,
        s400="The e-mail is taken, the role unknown, the password too weak, or the body "
        "could not be read.",
        s404="No team of a name in `teams`.",
    ),
    name="api_user_create",
)
def user_create(session: SessionDep, user: CurrentUser, body: UserIn) -> dict[str, Any]:
    """Add a user with a role and a password."""
    created = create_user(
        session, body.email, body.name, body.role, teams=body.teams, actor=user.email
    )
    set_password(session, created, body.password, actor=user.email)
    return {"id": created.id, "email": created.email, "role": created.role}


@api.get("/api/teams", response_model=list[TeamOut], name="api_teams")
def teams(session: SessionDep) -> list[TeamOut]:
    """Every team with its lead and members."""
    return [TeamOut.of(t) for t in list_teams(session)]


@api.get(
    "/api/admin/rules",
    response_class=YamlResponse,
    responses={
        200: {
            "description": "The YAML document `rootline rules import` reads.",
            "content": {"application/yaml": {"schema": _RULES_YAML}},
        },
        **as_json(COMMON),
    },
    name="api_rules",
)
def rules(session: SessionDep) -> Response:
    """Routing rules and teams as YAML."""
    return YamlResponse(export_rules_yaml(session))


@api.post(
    "/api/admin/rules",
    response_model=RulesImportOut,
    responses=refusals(400, s400="The YAML is not valid, or names what does not exist."),
    name="api_rules_import",
)
async def rules_import(request: Request, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """Import routing rules (and teams) from a YAML request body."""
    text = (await request.body()).decode("utf-8", errors="replace")
    return {"imported": [r.name for r in import_rules_yaml(session, text, actor=user.email)]}


_RULE = refusals(
    400,
    404,
    s400="No name, a name another rule has, a team of the wrong kind, or conditions that are "
    "not values or lists of values.",
    s404="No rule (or team) with this id.",
)


def _rule_out(rule: RoutingRule) -> RuleOut:
    return RuleOut(
        id=rule.id,
        name=rule.name,
        priority=rule.priority,
        enabled=rule.enabled,
        conditions=dict(rule.conditions or {}),
        business_team_id=rule.business_team_id,
        is_team_id=rule.is_team_id,
    )


@api.post(
    "/api/admin/rules/new",
    status_code=201,
    response_model=RuleOut,
    responses=_RULE,
    name="api_rule_create",
)
def rule_create(session: SessionDep, user: CurrentUser, body: RuleIn) -> RuleOut:
    """Add one routing rule (the other rules stay as they are)."""
    return _rule_out(save_rule(session, None, actor=user.email, **body.model_dump()))


@api.post(
    "/api/admin/rules/{rule_id}", response_model=RuleOut, responses=_RULE, name="api_rule_update"
)
def rule_update(session: SessionDep, user: CurrentUser, rule_id: RowId, body: RuleIn) -> RuleOut:
    """Change one routing rule; problems routed before keep their owners."""
    return _rule_out(save_rule(session, rule_id, actor=user.email, **body.model_dump()))


@api.delete(
    "/api/admin/rules/{rule_id}",
    status_code=204,
    responses=refusals(404, s404="No rule with this id."),
    name="api_rule_delete",
)
def rule_delete(session: SessionDep, user: CurrentUser, rule_id: RowId) -> Response:
    """Remove one routing rule."""
    delete_rule(session, rule_id, actor=user.email)
    return Response(status_code=204)


@api.delete(
    "/api/teams/{team_id}/members/{user_id}",
    response_model=TeamOut,
    responses=refusals(
        400, 404, s400="The user is not in the team.", s404="No team or user with this id."
    ),
    name="api_team_member_remove",
)
def team_member_remove(
    session: SessionDep, user: CurrentUser, team_id: RowId, user_id: RowId
) -> TeamOut:
    """Take a user out of a team (a lead who leaves stops leading it); returns the team."""
    team = find_team(session, team_id)
    remove_member(session, team, get_user(session, user_id), actor=user.email)
    return TeamOut.of(team)


@api.get("/api/admin/tokens", response_model=list[TokenOut], name="api_tokens")
def tokens(session: SessionDep) -> list[dict[str, Any]]:
    """API tokens (never the tokens themselves)."""
    return [
        {
            "id": t.id,
            "name": t.name,
            "user": t.user.email,
            "prefix": t.prefix,
            "created_at": t.created_at,
            "last_used_at": t.last_used_at,
            "revoked": t.revoked_at is not None,
            "scope": t.scope,
        }
        for t in list_tokens(session)
    ]


@api.post(
    "/api/admin/tokens",
    status_code=201,
    response_model=TokenCreatedOut,
    responses=refusals(400, 404, s404="No user with the id `user_id`."),
    name="api_token_create",
)
def token_create(session: SessionDep, user: CurrentUser, body: TokenIn) -> dict[str, Any]:
    """Create a token; the response is the only place it is ever shown."""
    owner = session.get(User, body.user_id) if body.user_id else user
    if owner is None:
        raise NotFoundError(f"no user {body.user_id}")
    row, token = create_token(session, owner, body.name, actor=user.email, scope=body.scope)
    return {"id": row.id, "token": token, "user": owner.email, "scope": row.scope}


@api.post(
    "/api/admin/tokens/{token_id}/revoke",
    response_model=TokenRevokedOut,
    responses=refusals(404, s404="No token with this id."),
    name="api_token_revoke",
)
def token_revoke(session: SessionDep, user: CurrentUser, token_id: RowId) -> dict[str, Any]:
    """Stop a token from working."""
    row = revoke_token(session, token_id, actor=user.email)
    return {"id": row.id, "revoked": True}


router = APIRouter()
router.include_router(pages)
router.include_router(api)
