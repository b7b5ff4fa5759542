"""Teams and users: who owns problems, who leads a team, who belongs where."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.errors import InputError, NotFoundError
from rootline.rootcause.audit import record
from rootline.rootcause.models import Team, User

__all__ = [
    "ROLES",
    "TEAM_KINDS",
    "add_member",
    "create_team",
    "create_user",
    "find_team",
    "get_user",
    "list_teams",
    "remove_member",
    "triage_team",
    "user_by_email",
]

TEAM_KINDS = ("business", "is", "triage", "board")
ROLES = ("admin", "support_lead", "is_owner", "product_owner", "viewer")
DEFAULT_TRIAGE = "Triage"


def create_team(
    session: Session,
    name: str,
    kind: str,
    *,
    lead_email: str | None = None,
    email: str | None = None,
    webhook_url: str | None = None,
    actor: str = "system",
) -> Team:
    """Add a team.

    Raises:
        InputError: if the kind is unknown, the name is taken or the lead is not a user.
    """
    name = name.strip()
    if not name:
        raise InputError("a team needs a name")
    if kind not in TEAM_KINDS:
        raise InputError(f"team kind must be one of {', '.join(TEAM_KINDS)}, not {kind!r}")
    if session.scalar(sa.select(Team.id).where(Team.name == name)) is not None:
        raise InputError(f"a team named {name!r} exists already")
    lead = user_by_email(session, lead_email) if lead_email else None
    team = Team(name=name, kind=kind, lead=lead, email=email, webhook_url=webhook_url)
    session.add(team)
    session.flush()
    if lead is not None and lead not in team.members:
        team.members.append(lead)
    record(session, actor, "team", team.id, "create", new={"name": name, "kind": kind})
    return team


def list_teams(session: Session) -> list[Team]:
    """Every team, by kind then name."""
    return list(session.scalars(sa.select(Team).order_by(Team.kind, Team.name)))


def find_team(session: Session, ref: str | int) -> Team:
    """A team by id or by name (case-insensitive).

    Raises:
        NotFoundError: if there is no such team.
    """
    team: Team | None = None
    if isinstance(ref, int) or str(ref).isdigit():
        team = session.get(Team, int(ref))
    if team is None:
        team = session.scalar(sa.select(Team).where(sa.func.lower(Team.name) == str(ref).lower()))
    if team is None:
        raise NotFoundError(f"no team {ref!r}")
    return team


def triage_team(session: Session) -> Team:
    """The team that gets problems no routing rule matches (created on first use)."""
    team = session.scalar(sa.select(Team).where(Team.kind == "triage").order_by(Team.id).limit(1))
    if team is None:
        team = Team(name=DEFAULT_TRIAGE, kind="triage")
        session.add(team)
        session.flush()
    return team


def create_user(
    session: Session,
    email: str,
    name: str = "",
    role: str = "viewer",
    teams: list[str] | None = None,
    actor: str = "system",
) -> User:
    """Add a user (without a password; the web app sets it).

    Raises:
        InputError: if the e-mail is taken or malformed, or the role is unknown.
    """
    email = email.strip().lower()
    if "@" not in email:
        raise InputError(f"{email!r} is not an e-mail address")
    if role not in ROLES:
        raise InputError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if session.scalar(sa.select(User.id).where(User.email == email)) is not None:
        raise InputError(f"a user with e-mail {email!r} exists already")
    user = User(email=email, name=name, role=role)
    session.add(user)
    for ref in teams or []:
        user.teams.append(find_team(session, ref))
    session.flush()
    record(session, actor, "user", user.id, "create", new={"email": email, "role": role})
    return user


def user_by_email(session: Session, email: str) -> User:
    """A user by e-mail.

    Raises:
        NotFoundError: if there is no such user.
    """
    user = session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFoundError(f"no user with e-mail {email!r}")
    return user


def get_user(session: Session, user_id: int) -> User:
    """A user by id.

    Raises:
        NotFoundError: if there is no such user.
    """
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user {user_id}")
    return user


def add_member(session: Session, team: Team, user: User, actor: str = "system") -> None:
    """Put a user in a team (no-op if already there)."""
    if user not in team.members:
        team.members.append(user)
        session.flush()
        record(session, actor, "team", team.id, "add_member", field="members", new=user.email)


def remove_member(session: Session, team: Team, user: User, actor: str = "system") -> bool:
    """Take a user out of a team; a lead who leaves stops leading it (the team has no lead
    until one is named). Audited.

    Returns:
        Whether the user led the team.

    Raises:
        InputError: if the user is not in the team.
    """
    if user not in team.members:
        raise InputError(f"{user.email} is not in team {team.name}", field="user_id")
    team.members.remove(user)
    was_lead = team.lead_user_id == user.id
    if was_lead:
        team.lead = None
    record(
        session,
        actor,
        "team",
        team.id,
        "update",
        "members",
        old={"removed": user.email, "was_lead": was_lead},
    )
    session.flush()
    return was_lead
