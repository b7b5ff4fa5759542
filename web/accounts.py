"""Web accounts: sign-in with rate limiting, passwords, API tokens.

Users and roles belong to ``rootline.rootcause`` (``User``, ``teams.create_user``); this module
adds what only the web app needs. Functions take a Session and flush; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.db import utcnow
from rootline.errors import InputError, NotFoundError
from rootline.rootcause.audit import record
from rootline.rootcause.models import User
from rootline.rootcause.teams import create_user
from rootline.web.models import ApiToken, LoginAttempt
from rootline.web.security import (
    MIN_PASSWORD_LENGTH,
    hash_password,
    hash_token,
    needs_rehash,
    new_api_token,
    verify_password,
)

__all__ = [
    "TOKEN_SCOPES",
    "LoginResult",
    "active_token",
    "create_token",
    "ensure_user",
    "list_tokens",
    "revoke_token",
    "set_password",
    "sign_in",
    "user_for_token",
]


@dataclass(frozen=True)
class LoginResult:
    """The outcome of a sign-in: the user, or why not."""

    user: User | None
    throttled: bool = False


#: Failures for one account from all addresses together, as a multiple of the per-address
#: limit: forged or rotating addresses still meet a limit, and it lifts with the window.
ACCOUNT_FAILURES_FACTOR = 4


def _recent_failures(session: Session, username: str, address: str | None, since: datetime) -> int:
    query = (
        sa.select(sa.func.count())
        .select_from(LoginAttempt)
        .where(
            LoginAttempt.username == username,
            LoginAttempt.succeeded.is_(False),
            LoginAttempt.at >= since,
        )
    )
    if address is not None:
        query = query.where(LoginAttempt.address == address)
    return session.scalar(query) or 0


def sign_in(
    session: Session,
    email: str,
    password: str,
    address: str,
    *,
    max_failures: int = 5,
    window: timedelta = timedelta(minutes=15),
    now: datetime | None = None,
) -> LoginResult:
    """Check an e-mail and password, counting failures per e-mail and client address.

    After ``max_failures`` failures from one address within ``window``, or
    ``ACCOUNT_FAILURES_FACTOR`` times as many for the account from any addresses, every try
    is refused (even with the right password) until the oldest failure leaves the window: a
    backoff that makes guessing slow, never a lockout that outlasts the window.
    """
    now = now or utcnow()
    username = email.strip().lower()[:255]
    address = (address or "unknown")[:64]
    since = now - window
    if (
        _recent_failures(session, username, address, since) >= max_failures
        or _recent_failures(session, username, None, since)
        >= max_failures * ACCOUNT_FAILURES_FACTOR
    ):
        return LoginResult(None, throttled=True)
    user = session.scalar(sa.select(User).where(User.email == username))
    ok = verify_password(user.password_hash if user else None, password)
    ok = ok and user is not None and user.active
    session.add(LoginAttempt(username=username, address=address, succeeded=ok, at=now))
    if ok and user is not None and user.password_hash and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    session.flush()
    return LoginResult(user if ok else None)


def set_password(session: Session, user: User, password: str, *, actor: str) -> None:
    """Give a user a new password.

    Raises:
        InputError: if the password is shorter than 8 characters.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
    user.password_hash = hash_password(password)
    session.flush()
    record(session, actor, "user", user.id, "set_password")


def ensure_user(
    session: Session, email: str, role: str, password: str, *, name: str = "", actor: str = "system"
) -> User:
    """The user with this e-mail (created if missing) with this role and password."""
    user = session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None:
        user = create_user(session, email, name, role, actor=actor)
    elif user.role != role:
        record(session, actor, "user", user.id, "update", "role", user.role, role)
        user.role = role
    user.active = True
    set_password(session, user, password, actor=actor)
    return user


#: What an API token may be limited to.
TOKEN_SCOPES = ("all", "triage")


def create_token(
    session: Session, user: User, name: str, *, actor: str, scope: str = "all"
) -> tuple[ApiToken, str]:
    """A new API token for ``user``. Returns the row and the token, which is not kept.

    ``scope`` is ``all`` (what the user's role may do) or ``triage`` (only triage, for an
    agent desk or a help-desk integration).

    Raises:
        InputError: if the name is empty or the scope unknown.
    """
    name = name.strip()
    if not name:
        raise InputError("an API token needs a name", field="name")
    if scope not in TOKEN_SCOPES:
        raise InputError(f"unknown token scope {scope!r} (known: all, triage)", field="scope")
    token = new_api_token()
    row = ApiToken(
        user_id=user.id,
        name=name[:128],
        token_hash=hash_token(token),
        prefix=token[:10],
        scope=scope,
    )
    session.add(row)
    session.flush()
    record(
        session,
        actor,
        "api_token",
        row.id,
        "create",
        new={"user": user.email, "name": name, "scope": scope},
    )
    return row, token


def list_tokens(session: Session) -> list[ApiToken]:
    """Every API token, newest first, with its user."""
    return list(session.scalars(sa.select(ApiToken).order_by(ApiToken.id.desc())))


def revoke_token(session: Session, token_id: int, *, actor: str) -> ApiToken:
    """Stop a token from working.

    Raises:
        NotFoundError: if there is no such token.
    """
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFoundError(f"no API token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
        record(session, actor, "api_token", row.id, "revoke")
    return row


def user_for_token(session: Session, token: str) -> User | None:
    """The active user a bearer token belongs to, or None for an unknown or revoked token."""
    row = active_token(session, token)
    return row.user if row is not None else None


def active_token(session: Session, token: str) -> ApiToken | None:
    """The row of a bearer token that works (known, not revoked, its user active)."""
    row = session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None or not row.user.active:
        return None
    now = utcnow()
    last = row.last_used_at
    # Written at most once a minute, so a busy API client does not write on every call.
    if last is None or now - (last if last.tzinfo else last.replace(tzinfo=now.tzinfo)) > timedelta(
        minutes=1
    ):
        _record_use(session, row, now)
    return row


def _record_use(session: Session, row: ApiToken, now: datetime) -> None:
    """Note when a token was used, unless the database is busy with another writer.

    The note rides on the request's transaction. A read on SQLite starts without the write
    lock and cannot wait for it (another process holding it, say a long ingest, makes the
    write fail at once): the note is then dropped, in a savepoint, and the read answered; a
    later call records it.
    """
    try:
        with session.begin_nested():
            row.last_used_at = now
    except sa.exc.OperationalError as exc:
        if "database is locked" not in str(exc.orig):
            raise
