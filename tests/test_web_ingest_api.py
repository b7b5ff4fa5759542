"""POST /api/ingest: a help desk pushes batches of contacts with an API token.

Runs on SQLite and PostgreSQL (the ``engine`` fixture); requests share the test's rolled-back
session, so each test sees only its own rows.
"""
# The app, client and data fixtures are shared with test_web_pages by importing them, which
# ruff reads as redefinitions when tests take them as arguments.
# ruff: noqa: F811

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from rootline.config import Settings
from rootline.ingest.models import CustomerIdentity, Interaction
from rootline.rootcause.notify import sign
from rootline.web.accounts import create_token, ensure_user, revoke_token
from rootline.web.app import create_app
from rootline.web.deps import get_session
from rootline.web.routes import ingest as ingest_api
from tests.test_web_pages import (  # noqa: F401  (fixtures)
    PASSWORD,
    anonymous,
    app,
    client,
    csrf_of,
    login,
)

BATCH = [
    {
        "ticket_id": "T1",
        "subject": "Card declined",
        "description": "My card is declined at checkout",
        "via": "Web Form",
        "created_at": "2026-09-07T10:15:00Z",
        "requester_email": "Ada@Example.com",
        "csat": "2",
        "product": "shop",
        "custom": {"plan": "gold"},
    },
    {
        "ticket_id": "T2",
        "description": "refund has not arrived",
        "channel": "email",
        "customer_id": "ACC-9",
        "created_at": 1788775200,
    },
]


def _token(session: Session, role: str = "admin") -> dict[str, str]:
    user = ensure_user(session, f"{role}-hook@example.com", role, PASSWORD)
    _, token = create_token(session, user, "help desk", actor="test")
    session.flush()
    return {"Authorization": f"Bearer {token}"}


def _rows(session: Session, source: str = "zendesk") -> dict[str, Interaction]:
    session.expire_all()
    found = session.scalars(sa.select(Interaction).where(Interaction.source == source))
    return {i.external_id: i for i in found}


def _push(client: TestClient, headers: dict[str, str], payload: Any, **params: str) -> Any:
    return client.post("/api/ingest", json=payload, headers=headers, params=params)


def test_a_batch_is_stored_once_and_changed_records_are_updated(
    anonymous: TestClient, session: Session
) -> None:
    auth = _token(session)
    first = _push(anonymous, auth, {"source": "zendesk", "interactions": BATCH})
    assert first.status_code == 200, first.text
    assert first.json() == {
        "received": 2,
        "inserted": 2,
        "updated": 0,
        "unchanged": 0,
        "customers_created": 2,
        "sources": {
            "zendesk": {"inserted": 2, "updated": 0, "unchanged": 0, "known_elsewhere": {}}
        },
    }
    rows = _rows(session)
    assert set(rows) == {"T1", "T2"}
    card = rows["T1"]
    assert card.channel == "web" and card.subject == "Card declined" and card.csat == 2.0
    assert card.created_at.replace(tzinfo=UTC) == datetime(2026, 9, 7, 10, 15, tzinfo=UTC)
    assert card.extra["product"] == "shop" and "gold" in card.extra["custom"]
    assert (
        session.scalar(
            sa.select(CustomerIdentity.customer_id).where(
                CustomerIdentity.value == "ada@example.com"
            )
        )
        == card.customer_id
    )
    assert rows["T2"].channel == "email" and rows["T2"].customer_id != card.customer_id

    again = _push(anonymous, auth, {"source": "zendesk", "interactions": BATCH})
    assert again.json()["unchanged"] == 2 and again.json()["inserted"] == 0
    assert len(_rows(session)) == 2

    changed = [BATCH[0], {**BATCH[1], "description": "refund arrived, thanks"}]
    update = _push(anonymous, auth, changed, source="zendesk")
    assert (update.json()["updated"], update.json()["unchanged"]) == (1, 1)
    assert _rows(session)["T2"].body_raw == "refund arrived, thanks"

    # The same tickets pushed under another name are new there, and said to be known.
    twice = _push(anonymous, auth, {"source": "zendesk-eu", "interactions": BATCH})
    assert twice.json()["sources"]["zendesk-eu"] == {
        "inserted": 2,
        "updated": 0,
        "unchanged": 0,
        "known_elsewhere": {"zendesk": 2},
    }


@pytest.mark.parametrize(
    ("record", "index", "field", "words"),
    [
        (
            {"ticket_id": "B", "description": "x", "created_at": "yesterday"},
            2,
            "created_at",
            "not a date",
        ),
        ({"ticket_id": "B", "description": "x", "csat": "great"}, 2, "csat", "not a number"),
        ({"ticket_id": "B", "channel": "chat"}, 2, "body", "no text"),
        ({"id": "x" * 300, "body": "hello"}, 2, "id", "longer than 255"),
        ({"ticket_id": "B", "body": "x", "source": ""}, 2, "source", "source must be"),
        ("just text", 2, None, "expected a JSON object"),
    ],
)
def test_a_bad_record_writes_nothing_and_is_named(
    anonymous: TestClient, session: Session, record: Any, index: int, field: str | None, words: str
) -> None:
    auth = _token(session)
    response = _push(anonymous, auth, [*BATCH, record], source="zendesk")
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["index"] == index and error["field"] == field
    assert error["loc"] == ["body", "interactions", index, *([field] if field else [])]
    assert words in error["msg"] and f"record {index}" in error["msg"]
    assert _rows(session) == {}


def test_a_bad_record_in_a_later_source_undoes_the_earlier_ones(
    anonymous: TestClient, session: Session
) -> None:
    auth = _token(session)
    records = [
        BATCH[0],
        {**BATCH[1], "source": "freshdesk"},
        {"ticket_id": "B", "body": "x", "created_at": "soon", "source": "freshdesk"},
    ]
    response = _push(anonymous, auth, {"source": "zendesk", "interactions": records})
    assert response.status_code == 422 and response.json()["detail"][0]["index"] == 2
    assert _rows(session) == {} and _rows(session, "freshdesk") == {}
    good = _push(anonymous, auth, {"source": "zendesk", "interactions": records[:2]})
    assert good.json()["sources"] == {
        "zendesk": {"inserted": 1, "updated": 0, "unchanged": 0, "known_elsewhere": {}},
        "freshdesk": {"inserted": 1, "updated": 0, "unchanged": 0, "known_elsewhere": {}},
    }
    assert set(_rows(session)) == {"T1"} and set(_rows(session, "freshdesk")) == {"T2"}


def test_a_record_names_its_system_in_source_system_as_in_a_file(
    anonymous: TestClient, session: Session
) -> None:
    """``source_system``, the column a mixed spreadsheet names each row's system in, is read
    in a pushed record too; one id under two systems is two contacts."""
    auth = _token(session)
    records = [
        {**BATCH[0], "ticket_id": "7", "source_system": "freshdesk"},
        {**BATCH[1], "ticket_id": "7"},
    ]
    response = _push(anonymous, auth, {"source": "zendesk", "interactions": records})
    assert response.status_code == 200, response.text
    assert set(response.json()["sources"]) == {"freshdesk", "zendesk"}
    assert set(_rows(session)) == {"7"} and set(_rows(session, "freshdesk")) == {"7"}
    assert "source_system" not in _rows(session, "freshdesk")["7"].extra
    clash = {**BATCH[0], "source": "zendesk", "source_system": "freshdesk"}
    refused = _push(anonymous, auth, {"source": "zendesk", "interactions": [clash]})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "interactions", 0, "source_system"]


@pytest.mark.parametrize(
    ("body", "loc", "kind"),
    [
        (b"{not json", ["body"], "json_invalid"),
        (b'{"source": "zendesk"}', ["body", "interactions"], "missing"),
        (
            b'{"source": "zendesk", "interactions": {"id": 1}}',
            ["body", "interactions"],
            "list_type",
        ),
        (b'[{"id": "1", "body": "x"}]', ["body", "source"], "missing"),
        (
            b'{"source": "' + b"s" * 65 + b'", "interactions": []}',
            ["body", "source"],
            "invalid_source",
        ),
    ],
)
def test_malformed_batches_are_refused_clearly(
    anonymous: TestClient, session: Session, body: bytes, loc: list[str], kind: str
) -> None:
    auth = {**_token(session), "Content-Type": "application/json"}
    response = anonymous.post("/api/ingest", content=body, headers=auth)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == loc and error["type"] == kind and error["msg"]


def test_batches_over_the_limits_are_refused_with_413(
    anonymous: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = _token(session)
    many = [{"id": str(n), "body": "hello"} for n in range(ingest_api.MAX_RECORDS + 1)]
    response = _push(anonymous, auth, many, source="zendesk")
    assert response.status_code == 413 and "1001 records" in response.json()["detail"][0]["msg"]
    monkeypatch.setattr(ingest_api, "MAX_BODY_BYTES", 200)
    big = [{"id": "1", "body": "x" * 300}]
    assert _push(anonymous, auth, big, source="zendesk").status_code == 413
    assert _rows(session) == {}
    assert _push(anonymous, auth, [], source="zendesk").json()["received"] == 0


def test_only_admins_may_push_and_browsers_need_the_csrf_token(
    anonymous: TestClient, session: Session
) -> None:
    payload = {"source": "zendesk", "interactions": BATCH}
    assert anonymous.post("/api/ingest", json=payload).status_code == 401
    assert _push(anonymous, {"Authorization": "Bearer rl_wrong"}, payload).status_code == 401
    for role in ("support_lead", "is_owner", "product_owner", "viewer"):
        assert _push(anonymous, _token(session, role), payload).status_code == 403, role
    auth = _token(session)
    assert _rows(session) == {}
    # A signed-in admin's browser is refused without the form token, allowed with it.
    login(anonymous, session, "admin")
    assert anonymous.post("/api/ingest", json=payload).status_code == 403
    csrf = csrf_of(anonymous, "/themes")
    ok = anonymous.post("/api/ingest", json=payload, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200 and ok.json()["inserted"] == 2
    assert _push(TestClient(anonymous.app), auth, payload).json()["unchanged"] == 2


def test_a_revoked_token_cannot_push(anonymous: TestClient, session: Session) -> None:
    user = ensure_user(session, "hook@example.com", "admin", PASSWORD)
    row, token = create_token(session, user, "help desk", actor="test")
    auth = {"Authorization": f"Bearer {token}"}
    payload = {"source": "zendesk", "interactions": BATCH[:1]}
    assert _push(anonymous, auth, payload).status_code == 200
    revoke_token(session, row.id, actor="test")
    session.flush()
    assert _push(anonymous, auth, payload).status_code == 401


def test_the_endpoint_is_documented(client: TestClient, app: FastAPI) -> None:
    spec = client.get("/openapi.json").json()["paths"]["/api/ingest"]["post"]
    assert spec["requestBody"]["content"]["application/json"]["example"]["source"] == "zendesk"
    assert {"413", "422"} <= set(spec["responses"])


@pytest.fixture
def signed(engine: Engine, session: Session, tmp_path: Path) -> Iterator[TestClient]:
    """A client of an app configured with an ingest secret."""
    settings = Settings(
        data_dir=tmp_path, embedder="hashing", ingest_secret="s3cret", _env_file=None
    )  # type: ignore[call-arg]
    web = create_app(settings, engine)

    def _test_session() -> Iterator[Session]:
        yield session
        session.flush()

    web.dependency_overrides[get_session] = _test_session
    with TestClient(web) as test_client:
        yield test_client


def test_with_an_ingest_secret_calls_must_be_signed_and_fresh(
    signed: TestClient, session: Session
) -> None:
    auth = _token(session)
    body = json.dumps({"source": "zendesk", "interactions": BATCH}).encode()

    def post(secret: str, stamp: int, payload: bytes = body) -> Any:
        headers = {
            **auth,
            "Content-Type": "application/json",
            "X-Rootline-Timestamp": str(stamp),
            "X-Rootline-Signature": "sha256=" + sign(secret, str(stamp), payload),
        }
        return signed.post("/api/ingest", content=payload, headers=headers)

    now = int(time.time())
    unsigned = signed.post(
        "/api/ingest", content=body, headers={**auth, "Content-Type": "application/json"}
    )
    assert unsigned.status_code == 401
    assert unsigned.json()["detail"][0]["loc"] == ["header", "X-Rootline-Timestamp"]
    wrong = post("guess", now)
    assert wrong.status_code == 401 and "X-Rootline-Signature" in wrong.json()["detail"][0]["msg"]
    assert post("s3cret", now - 3600).status_code == 401  # a replayed old call
    tampered = body.replace(b"refund", b"REFUND")
    headers = {
        **auth,
        "Content-Type": "application/json",
        "X-Rootline-Timestamp": str(now),
        "X-Rootline-Signature": "sha256=" + sign("s3cret", str(now), body),
    }
    assert signed.post("/api/ingest", content=tampered, headers=headers).status_code == 401
    assert _rows(session) == {}
    ok = post("s3cret", now)
    assert ok.status_code == 200 and ok.json()["inserted"] == 2
