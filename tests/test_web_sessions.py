"""Sessions as in production: error pages for signed-in users, and signing out for good.

The page tests elsewhere share one rolled-back session with the app; here every request gets
its own session from the app's factory, committed or rolled back and closed as in production,
so an error page that reads the user after the request's session ended shows up as a 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from rootline.config import Settings
from rootline.db import make_engine, migrate
from rootline.web.accounts import ensure_user
from rootline.web.app import create_app

PASSWORD = "correct horse battery staple"
ROLES = ("admin", "support_lead", "is_owner", "product_owner", "viewer")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'rootline.db'}"
    return str(request.getfixturevalue("own_postgres_url"))


@pytest.fixture
def app_client(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    engine = make_engine(database_url)
    migrate(engine)
    with Session(engine) as session:
        for role in ROLES:
            ensure_user(session, f"{role}@example.com", role, PASSWORD)
        session.commit()
    settings = Settings(data_dir=tmp_path, embedder="hashing", _env_file=None)  # type: ignore[call-arg]
    with TestClient(create_app(settings, engine), raise_server_exceptions=False) as client:
        yield client
    engine.dispose()


def _csrf(client: TestClient, url: str = "/login") -> str:
    field = BeautifulSoup(client.get(url).text, "html.parser").find(
        "input", attrs={"name": "csrf_token"}
    )
    assert field is not None
    return str(field["value"])


def _sign_in(client: TestClient, role: str) -> None:
    response = client.post(
        "/login",
        data={
            "email": f"{role}@example.com",
            "password": PASSWORD,
            "csrf_token": _csrf(client),
            "next": "/",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:300]


def _assert_error_page(response: object, status: int, email: str) -> None:
    assert response.status_code == status, response.text[:500]  # type: ignore[attr-defined]
    assert "text/html" in response.headers["content-type"]  # type: ignore[attr-defined]
    page = BeautifulSoup(response.text, "html.parser")  # type: ignore[attr-defined]
    # The page is the app's own, for the person signed in: their address in the header.
    assert email in page.get_text()
    assert "Internal Server Error" not in page.get_text()


@pytest.mark.parametrize("role", ROLES)
def test_missing_theme_is_a_404_page_for_every_role(app_client: TestClient, role: str) -> None:
    _sign_in(app_client, role)
    _assert_error_page(app_client.get("/themes/9999"), 404, f"{role}@example.com")


@pytest.mark.parametrize("role", ROLES)
def test_bad_date_filter_is_a_400_page_for_every_role(app_client: TestClient, role: str) -> None:
    _sign_in(app_client, role)
    response = app_client.get("/themes", params={"date_from": "yesterday"})
    _assert_error_page(response, 400, f"{role}@example.com")
    assert "YYYY-MM-DD" in response.text


def test_viewer_refused_a_page_gets_a_403_page(app_client: TestClient) -> None:
    _sign_in(app_client, "viewer")
    _assert_error_page(app_client.get("/tasks"), 403, "viewer@example.com")


@pytest.mark.parametrize("role", ROLES)
def test_stale_form_is_a_403_page_for_every_role(app_client: TestClient, role: str) -> None:
    _sign_in(app_client, role)
    response = app_client.post("/logout", data={"csrf_token": "stale"})
    _assert_error_page(response, 403, f"{role}@example.com")
    assert "CSRF" in response.text


@pytest.mark.parametrize("role", ROLES)
def test_sign_out_ends_every_copy_of_the_session(app_client: TestClient, role: str) -> None:
    _sign_in(app_client, role)
    copied = app_client.cookies.get("rootline_session")
    assert copied and app_client.get("/api/me").status_code == 200
    token = _csrf(app_client, "/themes")
    assert app_client.post("/logout", data={"csrf_token": token}).status_code == 200
    thief = TestClient(app_client.app, cookies={"rootline_session": copied})
    assert thief.get("/api/me").status_code == 401
    # Signing in again starts a fresh session that works.
    _sign_in(app_client, role)
    assert app_client.get("/api/me").status_code == 200
