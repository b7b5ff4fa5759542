"""Security headers: a strict Content-Security-Policy and its companions on every response.

Checked for anonymous visitors and every role, on pages, JSON, error pages, redirects and static
files; the templates are read to prove the policy costs nothing (no inline script, style or
event handler anywhere), and the one inline script of the API docs is allowed by its hash only.
"""

# ruff: noqa: F811

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rootline.web.headers import POLICY
from tests.test_web_sessions import (  # noqa: F401  (fixtures)
    ROLES,
    _sign_in,
    app_client,
    database_url,
)

TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates"
URLS = (
    "/login",
    "/",
    "/themes",
    "/themes/9999",
    "/tasks",
    "/problems",
    "/api/me",
    "/api/themes",
    "/api/themes/99999999999999999999",
    "/static/app.css",
    "/no-such-page",
)


@pytest.fixture
def client(app_client: TestClient) -> TestClient:
    """The app with its real per-request sessions, on SQLite and PostgreSQL."""
    return app_client


def _assert_headers(response: object, url: str) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    assert headers.get("content-security-policy") == POLICY, url
    assert headers.get("x-content-type-options") == "nosniff", url
    assert headers.get("x-frame-options") == "DENY", url
    assert headers.get("referrer-policy") == "same-origin", url


@pytest.mark.parametrize("role", [None, *ROLES])
def test_every_response_carries_the_security_headers(client: TestClient, role: str | None) -> None:
    if role:
        _sign_in(client, role)
    statuses = set()
    for url in URLS:
        response = client.get(url, follow_redirects=False)
        statuses.add(response.status_code)
        _assert_headers(response, url)
    # Pages, redirects and refusals alike: the middleware sits outside every handler.
    assert 200 in statuses and statuses & {303, 307, 401, 403, 404, 422}


def test_the_policy_allows_no_inline_code_and_the_pages_need_none() -> None:
    assert "unsafe-inline" not in POLICY and "unsafe-eval" not in POLICY
    assert "frame-ancestors 'none'" in POLICY and "object-src 'none'" in POLICY
    found = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = re.sub(r"{#.*?#}", "", path.read_text("utf-8"), flags=re.DOTALL)
        for pattern in (
            r"<script(?![^>]*\bsrc=)[^>]*>",
            r"<style\b",
            r"\son[a-z]+\s*=",
            r"\sstyle\s*=",
        ):
            found += [f"{path.name}: {m.group(0)}" for m in re.finditer(pattern, text, re.I)]
    assert not found, found


def test_the_api_docs_allow_their_one_inline_script_by_its_hash(client: TestClient) -> None:
    _sign_in(client, "viewer")
    response = client.get("/docs")
    assert response.status_code == 200
    scripts = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    policy = response.headers["content-security-policy"]
    assert f"script-src 'self' 'sha256-{digest}';" in policy
    assert "unsafe-inline" not in policy
    assert policy.replace(f" 'sha256-{digest}'", "") == POLICY
    # Any other page keeps the plain policy.
    assert client.get("/themes").headers["content-security-policy"] == POLICY
