"""Triage of a contact that has just arrived, against themes a full run built.

The theme triage names must be the one the next incremental run gives the text once it is
ingested; the answer carries the theme's open problem, its workaround and similar resolved
contacts, and the customer's recent contacts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from rootline.clustering.embedding import HashingEmbedder
from rootline.clustering.models import Theme, ThemeMembership
from rootline.config import Settings
from rootline.errors import InputError, StateError
from rootline.ingest.models import Interaction
from rootline.ingest.service import ingest_file
from rootline.pipeline import cluster
from rootline.rootcause.knowledge import publish_known_error
from rootline.rootcause.service import create_problem
from rootline.rootcause.triage import triage
from tests.cli_runner import run_rootline
from tests.factories import themed_texts, write_csv
from tests.test_web_pages import (  # noqa: F401  (fixtures)
    anonymous,
    app,
    csrf_of,
    login,
)


def _desk(tmp_path: Path, name: str = "desk.csv", start: int = 0) -> Path:
    rows = [
        {
            "ticket_id": f"T{start + i}",
            "description": text,
            "requester_email": f"c{i % 40}@example.com",
            "created_at": f"2026-09-{i % 28 + 1:02d}T10:00:00Z",
            "resolved_at": f"2026-09-{i % 28 + 1:02d}T16:00:00Z",
            "intent": theme,
        }
        for i, (text, theme) in enumerate(themed_texts(25, seed=start + 1))
    ]
    return write_csv(tmp_path / name, rows)


def _theme_of(session: Session, external_id: str) -> int | None:
    return session.scalar(
        sa.select(ThemeMembership.theme_id)
        .join(Interaction, Interaction.id == ThemeMembership.interaction_id)
        .join(Theme, Theme.id == ThemeMembership.theme_id)
        .where(Interaction.external_id == external_id, Theme.status == "active")
    )


def test_the_theme_is_the_one_the_next_incremental_run_gives(
    session: Session, tmp_path: Path, settings: Settings
) -> None:
    ingest_file(session, _desk(tmp_path))
    cluster(session, settings, full=True)
    fresh = themed_texts(3, seed=99)
    answers = [triage(session, HashingEmbedder(), text) for text, _ in fresh]
    assert any(a.theme_id is not None for a in answers)
    rows = [
        {"ticket_id": f"N{i}", "description": text, "created_at": "2026-10-01T10:00:00Z"}
        for i, (text, _) in enumerate(fresh)
    ]
    ingest_file(session, write_csv(tmp_path / "new.csv", rows))
    cluster(session, settings)
    for i, answer in enumerate(answers):
        assert _theme_of(session, f"N{i}") == answer.theme_id, fresh[i]
        assert 0.0 <= answer.confidence <= 1.0


def test_the_answer_carries_problem_workaround_similar_and_customer(
    session: Session, tmp_path: Path, settings: Settings
) -> None:
    ingest_file(session, _desk(tmp_path))
    cluster(session, settings, full=True)
    text = themed_texts(1, seed=7)[0][0]
    first = triage(session, HashingEmbedder(), text)
    assert first.theme_id is not None and first.problem is None and first.workaround is None
    problem = create_problem(session, [first.theme_id], actor="lead@example.com")
    problem.root_cause = "The reset link expires before the mail arrives."
    problem.workaround = "Ask the customer to retry after midnight."
    publish_known_error(session, problem)
    member = session.scalars(
        sa.select(Interaction)
        .join(ThemeMembership, ThemeMembership.interaction_id == Interaction.id)
        .where(ThemeMembership.theme_id == first.theme_id)
    ).first()
    assert member is not None and member.customer_id is not None
    email = session.scalars(
        sa.text("SELECT value FROM customer_identity WHERE customer_id = :c AND kind = 'email'"),
        {"c": member.customer_id},
    ).first()
    again = triage(session, HashingEmbedder(), text, customer_email=str(email).upper())
    assert again.problem is not None and again.problem["id"] == problem.id
    assert again.problem["state"] == "new" and again.problem["open"]
    assert again.workaround and "retry after midnight" in again.workaround["workaround"]
    assert 1 <= len(again.similar) <= 3
    sims = [s["similarity"] for s in again.similar]
    assert sims == sorted(sims, reverse=True)
    assert again.customer is not None and again.customer["id"] == member.customer_id
    assert again.customer["recent"] and again.customer["open_problems"][0]["id"] == problem.id


def test_unrelated_text_is_new_and_bad_input_is_refused(
    session: Session, tmp_path: Path, settings: Settings
) -> None:
    with pytest.raises(StateError, match="no themes yet"):
        triage(session, HashingEmbedder(), "my parcel is late")
    ingest_file(session, _desk(tmp_path))
    cluster(session, settings, full=True)
    odd = triage(session, HashingEmbedder(), "zyxwv qutsr ponml kjihg fedcba")
    assert odd.theme_id is None and odd.problem is None and odd.similar == []
    assert odd.confidence < odd.floor
    with pytest.raises(InputError, match="empty once cleaned"):
        triage(session, HashingEmbedder(), "   ")
    with pytest.raises(InputError, match="not an e-mail"):
        triage(session, HashingEmbedder(), "my parcel", customer_email="nobody")


def test_the_api_answers_every_signed_in_role(
    anonymous: TestClient,  # noqa: F811
    session: Session,
    tmp_path: Path,
    settings: Settings,
) -> None:
    ingest_file(session, _desk(tmp_path))
    cluster(session, settings, full=True)
    text = themed_texts(1, seed=7)[0][0]
    expected = triage(session, HashingEmbedder(), text).as_dict()
    assert anonymous.post("/api/triage", json={"text": text}).status_code == 401
    for role in ("viewer", "support_lead", "is_owner", "product_owner", "admin"):
        login(anonymous, session, role)
        token = csrf_of(anonymous, "/themes")
        got = anonymous.post("/api/triage", json={"text": text}, headers={"X-CSRF-Token": token})
        assert got.status_code == 200, (role, got.text)
        assert got.json() == expected
    refused = anonymous.post(
        "/api/triage", json={"text": text, "extra": 1}, headers={"X-CSRF-Token": token}
    )
    assert refused.status_code == 422


@pytest.mark.slow
def test_the_command_line_prints_the_json_answer(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    run_rootline("ingest", str(_desk(tmp_path)), db=db, folder=tmp_path)
    run_rootline("cluster", "--full", db=db, folder=tmp_path)
    text = themed_texts(1, seed=7)[0][0]
    out = json.loads(run_rootline("triage", text, "--json", db=db, folder=tmp_path).stdout)
    assert {"theme_id", "confidence", "problem", "workaround", "similar", "customer"} <= set(out)
    assert out["theme_id"] is not None
    words = run_rootline("triage", text, db=db, folder=tmp_path).stdout
    assert f"theme #{out['theme_id']}" in words


def test_a_triage_token_can_triage_and_do_nothing_else(
    anonymous: TestClient,  # noqa: F811
    session: Session,
    tmp_path: Path,
    settings: Settings,
) -> None:
    ingest_file(session, _desk(tmp_path))
    cluster(session, settings, full=True)
    login(anonymous, session, "admin")
    csrf = {"X-CSRF-Token": csrf_of(anonymous, "/themes")}
    made = anonymous.post(
        "/api/admin/tokens", json={"name": "agent desk", "scope": "triage"}, headers=csrf
    )
    assert made.status_code == 201 and made.json()["scope"] == "triage"
    full = anonymous.post("/api/admin/tokens", json={"name": "etl"}, headers=csrf).json()
    assert full["scope"] == "all"
    bad = anonymous.post("/api/admin/tokens", json={"name": "x", "scope": "root"}, headers=csrf)
    assert bad.status_code == 422
    anonymous.cookies.clear()
    agent = {"Authorization": f"Bearer {made.json()['token']}"}
    text = themed_texts(1, seed=7)[0][0]
    assert anonymous.post("/api/triage", json={"text": text}, headers=agent).status_code == 200
    for method, url in [
        ("GET", "/api/themes"),
        ("GET", "/api/me"),
        ("GET", "/api/search?q=parcel"),
        ("POST", "/api/admin/tokens"),
    ]:
        refused = anonymous.request(method, url, headers=agent, json={"name": "more"})
        assert refused.status_code == 403, (url, refused.text)
        assert "may only triage" in refused.text
    etl = {"Authorization": f"Bearer {full['token']}"}
    assert anonymous.get("/api/themes", headers=etl).status_code == 200
    listed = anonymous.get("/api/admin/tokens", headers=etl).json()
    assert {t["name"]: t["scope"] for t in listed} == {"agent desk": "triage", "etl": "all"}
