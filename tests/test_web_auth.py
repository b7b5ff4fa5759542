"""Web security: the permission table on every route for every role, sign-in, CSRF, rate
limiting, API tokens and personal data hidden from viewers."""
# The app, client and data fixtures are shared with test_web_pages by importing them, which
# ruff reads as redefinitions when tests take them as arguments.
# ruff: noqa: F811

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from rootline.config import DEFAULT_SECRET_KEY, Settings, resolve_secret_key
from rootline.errors import ConfigError
from rootline.ingest.models import Customer, CustomerIdentity, Interaction
from rootline.rootcause.teams import ROLES
from rootline.web.accounts import ensure_user
from rootline.web.models import ApiToken
from rootline.web.permissions import PERMISSIONS, PUBLIC, app_routes
from tests.test_web_pages import (  # noqa: F401  (fixtures)
    PASSWORD,
    anonymous,
    app,
    client,
    csrf_of,
    data,
    login,
)

MISSING = 999_999


def _url(path: str) -> str:
    # Ids that name nothing: allowed calls end in 404/422 and change nothing.
    return re.sub(r"\{[^}]+\}", str(MISSING), path)


def _routes(app: FastAPI) -> list[tuple[str, str, str]]:
    out = []
    for name, path, methods in app_routes(app.routes):
        for method in sorted(methods - {"HEAD"}):
            out.append((name, method, path))
    return sorted(out)


def test_every_route_is_in_the_permission_table(app: FastAPI) -> None:
    names = {name for name, _, _ in _routes(app)}
    assert names - set(PERMISSIONS) - PUBLIC == set(), "routes nobody decided about"
    assert set(PERMISSIONS) - names == set(), "permissions for routes that do not exist"
    assert all(roles <= set(ROLES) for roles in PERMISSIONS.values())


def _call(client: TestClient, method: str, url: str, csrf: str | None) -> int:
    headers = {"X-CSRF-Token": csrf} if csrf else {}
    return client.request(method, url, headers=headers, follow_redirects=False).status_code


@pytest.mark.parametrize("role", [None, *ROLES])
def test_authorization_matrix(app: FastAPI, session: Session, role: str | None) -> None:
    """Every route x every role: allowed roles get past the check, others get 403, nobody
    signed in is sent to sign in (pages) or gets 401 (API)."""
    wrong = []
    with TestClient(app) as client:
        csrf = None
        if role is not None:
            login(client, session, role)
            csrf = csrf_of(client, "/themes" if role else "/login")
        for name, method, path in _routes(app):
            if name in {"logout", "login_submit"}:
                continue  # they change the client's own session; tested below
            status = _call(client, method, _url(path), csrf)
            if name in PUBLIC:
                ok = status not in {401, 403}
            elif role is None:
                is_api = path.startswith("/api/")
                ok = status == 401 if is_api else status == 303
            elif role in PERMISSIONS[name]:
                ok = status not in {401, 403}
            else:
                ok = status == 403
            if not ok:
                wrong.append(f"{role} {method} {path} ({name}) -> {status}")
    assert not wrong, "\n".join(wrong)


def test_anonymous_pages_redirect_to_sign_in_and_come_back(
    anonymous: TestClient, session: Session
) -> None:
    response = anonymous.get("/problems?priority=P1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/problems%3Fpriority%3DP1"
    login(anonymous, session, "viewer")
    token = csrf_of(anonymous, "/themes")
    anonymous.post("/logout", data={"csrf_token": token})
    soup = BeautifulSoup(anonymous.get("/login?next=/problems").text, "html.parser")
    assert soup.find("input", attrs={"name": "next"})["value"] == "/problems"
    answer = anonymous.post(
        "/login",
        data={
            "email": "viewer@example.com",
            "password": PASSWORD,
            "next": "/problems",
            "csrf_token": str(soup.find("input", attrs={"name": "csrf_token"})["value"]),
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/problems"


def test_sign_in_refuses_offsite_next_and_wrong_passwords(
    anonymous: TestClient, session: Session
) -> None:
    login(anonymous, session, "viewer")
    anonymous.post("/logout", data={"csrf_token": csrf_of(anonymous, "/themes")})
    csrf = csrf_of(anonymous)
    bad = anonymous.post(
        "/login", data={"email": "viewer@example.com", "password": "nope", "csrf_token": csrf}
    )
    assert bad.status_code == 401 and "Wrong e-mail or password" in bad.text
    good = anonymous.post(
        "/login",
        data={
            "email": "viewer@example.com",
            "password": PASSWORD,
            "csrf_token": csrf,
            "next": "//evil.example/x",
        },
        follow_redirects=False,
    )
    assert good.headers["location"] == "/"
    cookie = good.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


def test_forms_without_the_csrf_token_are_refused(client: TestClient, data) -> None:  # type: ignore[no-untyped-def]
    url = f"/themes/{data.card}/rename"
    assert client.post(url, data={"title": "x"}).status_code == 403
    assert client.post(url, data={"title": "x", "csrf_token": "forged"}).status_code == 403
    # JSON calls riding on the cookie need the token in a header.
    assert client.post(f"/api/themes/{data.card}/rename", json={"title": "x"}).status_code == 403
    token = csrf_of(client, "/themes")
    ok = client.post(
        url, data={"title": "Card problems", "csrf_token": token}, follow_redirects=False
    )
    assert ok.status_code == 303
    api = client.post(
        f"/api/themes/{data.card}/rename", json={"title": "Cards"}, headers={"X-CSRF-Token": token}
    )
    assert api.status_code == 200 and api.json()["title"] == "Cards"
    # Sign-in itself needs the token, so another site cannot sign a browser in.
    anon = TestClient(client.app)
    assert anon.post("/login", data={"email": "a@b.c", "password": "x"}).status_code == 403


def test_sign_in_is_rate_limited_per_user_and_address(
    anonymous: TestClient, session: Session
) -> None:
    login(anonymous, session, "viewer")
    anonymous.post("/logout", data={"csrf_token": csrf_of(anonymous, "/themes")})
    csrf = csrf_of(anonymous)
    for _ in range(5):
        r = anonymous.post(
            "/login", data={"email": "viewer@example.com", "password": "guess", "csrf_token": csrf}
        )
        assert r.status_code == 401
    # The right password is refused too while the window is full.
    locked = anonymous.post(
        "/login", data={"email": "viewer@example.com", "password": PASSWORD, "csrf_token": csrf}
    )
    assert locked.status_code == 429 and "Too many" in locked.text
    # Another account is not locked by someone guessing this one.
    login(anonymous, session, "admin")


def test_api_tokens_are_stored_hashed_and_can_be_revoked(
    client: TestClient, session: Session
) -> None:
    csrf = csrf_of(client, "/themes")
    made = client.post("/api/admin/tokens", json={"name": "etl"}, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201
    token = made.json()["token"]
    row = session.scalar(sa.select(ApiToken).where(ApiToken.id == made.json()["id"]))
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in {row.token_hash, row.prefix}
    bearer = TestClient(client.app)
    auth = {"Authorization": f"Bearer {token}"}
    me = bearer.get("/api/me", headers=auth)
    assert me.status_code == 200 and me.json()["role"] == "admin"
    # No CSRF token is needed: a bearer token is never sent by a browser on its own.
    renamed = bearer.post("/api/admin/tokens", json={"name": "second"}, headers=auth)
    assert renamed.status_code == 201
    assert bearer.get("/api/me", headers={"Authorization": "Bearer rl_wrong"}).status_code == 401
    assert (
        client.post(f"/api/admin/tokens/{row.id}/revoke", headers={"X-CSRF-Token": csrf}).json()[
            "revoked"
        ]
        is True
    )
    assert bearer.get("/api/me", headers=auth).status_code == 401


def test_viewers_see_no_personal_data(anonymous: TestClient, session: Session) -> None:
    customer = Customer(name="Ada Lovelace", segment="gold", value=900.0)
    session.add(customer)
    session.flush()
    session.add(CustomerIdentity(customer_id=customer.id, kind="email", value="ada@example.com"))
    session.add(
        Interaction(
            source="mail",
            external_id="P1",
            channel="email",
            customer_id=customer.id,
            body_raw="call me on +44 20 7946 0958",
            body_clean="call me on [PHONE]",
            content_hash="p" * 64,
        )
    )
    session.flush()
    login(anonymous, session, "viewer")
    page = anonymous.get(f"/customers/{customer.id}").text
    api = anonymous.get(f"/api/customers/{customer.id}").json()
    for text in (page, str(api)):
        assert "ada@example.com" not in text and "7946" not in text and "Ada" not in text
    assert "[PHONE]" in page and "body_raw" not in api
    login(anonymous, session, "support_lead")
    page = anonymous.get(f"/customers/{customer.id}").text
    assert "ada@example.com" in page and "7946 0958" in page


def test_the_public_default_secret_never_signs_sessions(client: TestClient, tmp_path: Path) -> None:
    """With no secret key configured, sessions are signed with a random key kept in the data
    folder, so nobody can forge a session with the placeholder everybody knows."""
    from itsdangerous import BadSignature, TimestampSigner

    settings = client.app.state.settings
    assert settings.secret_key == DEFAULT_SECRET_KEY  # the test app runs on the defaults
    cookie = client.cookies.get("rootline_session")
    assert cookie
    with pytest.raises(BadSignature):
        TimestampSigner(DEFAULT_SECRET_KEY).unsign(cookie.encode())
    key_file = settings.data_dir / "secret_key"
    TimestampSigner(key_file.read_text().strip()).unsign(cookie.encode())
    assert key_file.stat().st_mode & 0o777 == 0o600
    # Every process of the install shares the key; a configured key is used as given.
    assert resolve_secret_key(DEFAULT_SECRET_KEY, settings.data_dir) == key_file.read_text().strip()
    assert resolve_secret_key("s3cret-from-env", tmp_path / "other") == "s3cret-from-env"
    assert not (tmp_path / "other").exists()
    empty = tmp_path / "broken"
    empty.mkdir()
    (empty / "secret_key").write_text("")
    with pytest.raises(ConfigError, match="empty"):
        resolve_secret_key(DEFAULT_SECRET_KEY, empty)


def test_rotating_addresses_meet_the_account_limit_and_it_lifts(session: Session) -> None:
    """Forged or rotating addresses do not get unlimited guesses; the backoff ends with the
    window, so a stranger cannot lock the owner out for good."""
    from datetime import timedelta

    from rootline.db import utcnow
    from rootline.web.accounts import ACCOUNT_FAILURES_FACTOR, sign_in

    ensure_user(session, "owner@example.com", "viewer", PASSWORD)
    session.flush()
    start = utcnow()
    limit = 5 * ACCOUNT_FAILURES_FACTOR
    for k in range(limit):
        result = sign_in(session, "owner@example.com", "guess", f"10.0.0.{k}", now=start)
        assert result.user is None and not result.throttled
    refused = sign_in(session, "owner@example.com", PASSWORD, "10.0.1.1", now=start)
    assert refused.throttled
    later = start + timedelta(minutes=16)
    assert sign_in(session, "owner@example.com", PASSWORD, "10.0.1.1", now=later).user


def test_forwarded_headers_are_believed_only_from_configured_proxies(tmp_path: Path) -> None:
    from rootline.cli.main import proxy_options

    plain = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    assert proxy_options(plain) == (False, None)
    behind = Settings(data_dir=tmp_path, trusted_proxies="10.1.2.3, 10.1.2.4", _env_file=None)  # type: ignore[call-arg]
    assert proxy_options(behind) == (True, "10.1.2.3,10.1.2.4")
