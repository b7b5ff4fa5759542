"""``rootline users``: people who own problems and tasks, the first admin, and the demo's
sign-in accounts."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from rootline.cli.console import out_console
from rootline.cli.context import app_state, cli_actor
from rootline.db import session_scope
from rootline.errors import InputError

__all__ = ["DEMO_USERS", "create_admin", "create_demo_users", "register", "users_app"]

users_app = typer.Typer(help="People who own problems and tasks.", no_args_is_help=True)

#: One demo account per role: (e-mail, role, name).
DEMO_USERS = (
    ("admin@demo.rootline.dev", "admin", "Avery Admin"),
    ("lead@demo.rootline.dev", "support_lead", "Sam Support-Lead"),
    ("is@demo.rootline.dev", "is_owner", "Ivy IS-Owner"),
    ("product@demo.rootline.dev", "product_owner", "Pat Product-Owner"),
    ("viewer@demo.rootline.dev", "viewer", "Vic Viewer"),
)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        raise InputError("the passwords do not match")
    return first


@users_app.command("create-admin")
def create_admin(
    ctx: typer.Context,
    email: Annotated[str, typer.Option("--email", help="The admin's e-mail (their sign-in).")],
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the password from the first line of standard input instead of prompting.",
        ),
    ] = False,
) -> None:
    """Create the first admin (or make an existing user an admin) with a password."""
    from rootline.web.accounts import ensure_user

    password = _read_password(password_stdin)
    with session_scope(ctx.obj.sessions) as session:
        user = ensure_user(session, email, "admin", password, actor="cli")
        out_console.print(f"admin {user.email} (user {user.id}) can now sign in", markup=False)


def create_demo_users(session: Session, password: str) -> list[dict[str, str]]:
    """Create one account per role with a known password. Only for the demo database.

    The IS and product owners join the triage team, which gets every problem no routing
    rule matches, so they can work on the demo's problems. An account that already has this
    role and password is left as it is, so running the demo again signs nobody out.

    Returns:
        The accounts as ``{"email", "role", "password"}``, to print and show on the sign-in page.
    """
    import sqlalchemy as sa

    from rootline.rootcause.models import User
    from rootline.rootcause.teams import add_member, triage_team
    from rootline.web.accounts import ensure_user
    from rootline.web.security import verify_password

    triage = triage_team(session)
    out = []
    for email, role, name in DEMO_USERS:
        user = session.scalar(sa.select(User).where(User.email == email))
        if (
            user is None
            or user.role != role
            or not user.active
            or not verify_password(user.password_hash, password)
        ):
            user = ensure_user(session, email, role, password, name=name, actor="demo")
        if role in {"is_owner", "product_owner"}:
            add_member(session, triage, user, actor="demo")
        out.append({"email": email, "role": role, "password": password})
    return out


@users_app.command("add")
def users_add(
    ctx: typer.Context,
    email: str,
    name: Annotated[str, typer.Option()] = "",
    role: Annotated[
        str, typer.Option(help="admin, support_lead, is_owner, product_owner, viewer.")
    ] = "viewer",
    team: Annotated[list[str] | None, typer.Option("--team", help="Team to join.")] = None,
) -> None:
    """Add a user (the web app sets passwords)."""
    from rootline.rootcause.teams import create_user

    with session_scope(app_state(ctx).sessions) as session:
        user = create_user(session, email, name, role, teams=team, actor=cli_actor())
        out_console.print(f"user {user.id} {user.email} ({user.role}) added", markup=False)


def register(app: typer.Typer) -> None:
    """Add ``users`` to the root app."""
    app.add_typer(users_app, name="users")
