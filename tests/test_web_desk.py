"""The agent's desk: a contact's page with its triage panel, and the desk for a new contact.

The panel must say what ``rootcause.triage`` says (the theme, problem, workaround, similar
resolved contacts, the customer's other contacts), for every signed-in role, with raw text
only for roles that may see personal data; the desk's form carries the CSRF token.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from rootline.clustering.embedding import HashingEmbedder
from rootline.clustering.models import ThemeMembership
from rootline.config import Settings
from rootline.ingest.models import Interaction
from rootline.ingest.service import ingest_file
from rootline.pipeline import cluster
from rootline.rootcause.knowledge import publish_known_error
from rootline.rootcause.service import create_problem
from rootline.rootcause.triage import triage, triage_contact
from tests.factories import themed_texts, write_csv
from tests.test_triage import _desk
from tests.test_web_pages import (  # noqa: F401  (fixtures)
    anonymous,
    app,
    csrf_of,
    login,
)

ROLES = ("viewer", "support_lead", "is_owner", "product_owner", "admin")


@pytest.fixture
def desk(session: Session, tmp_path: Path, settings: Settings) -> dict[str, int]:
    """The themed help desk, one problem with a published workaround, and a themed contact."""
    ingest_file(session, _desk(tmp_path))
    cluster(session, settings, full=True)
    text = themed_texts(1, seed=7)[0][0]
    theme_id = triage(session, HashingEmbedder(), text).theme_id
    assert theme_id is not None
    problem = create_problem(session, [theme_id], actor="lead@example.com")
    problem.root_cause = "The reset link expires before the mail arrives."
    problem.workaround = "Ask the customer to retry after midnight."
    publish_known_error(session, problem)
    contact = session.scalars(
        sa.select(Interaction.id)
        .join(ThemeMembership, ThemeMembership.interaction_id == Interaction.id)
        .where(ThemeMembership.theme_id == theme_id)
        .order_by(Interaction.id)
    ).first()
    assert contact is not None
    return {"theme": theme_id, "problem": problem.id, "contact": contact}


def _soup(client: TestClient, url: str) -> BeautifulSoup:
    got = client.get(url)
    assert got.status_code == 200, got.text[:300]
    return BeautifulSoup(got.text, "html.parser")


def test_a_stored_contact_shows_its_run_theme_and_leaves_itself_out(
    session: Session, desk: dict[str, int]
) -> None:
    answer = triage_contact(session, HashingEmbedder(), desk["contact"])
    assert answer.placed_by == "run" and answer.theme_id == desk["theme"]
    assert answer.problem is not None and answer.problem["id"] == desk["problem"]
    assert answer.workaround and "midnight" in answer.workaround["workaround"]
    assert answer.similar and desk["contact"] not in {s["interaction_id"] for s in answer.similar}
    assert answer.customer is not None
    assert desk["contact"] not in {r["interaction_id"] for r in answer.customer["recent"]}


def test_a_contact_no_run_placed_is_triaged_as_the_next_run_would(
    session: Session, tmp_path: Path, settings: Settings, desk: dict[str, int]
) -> None:
    text = themed_texts(1, seed=7)[0][0]
    row = {"ticket_id": "LATE1", "description": text, "created_at": "2026-10-02T10:00:00Z"}
    ingest_file(session, write_csv(tmp_path / "late.csv", [row]))
    late = session.scalar(sa.select(Interaction.id).where(Interaction.external_id == "LATE1"))
    assert late is not None
    answer = triage_contact(session, HashingEmbedder(), late)
    assert answer.placed_by == "triage" and answer.theme_id == desk["theme"]
    cluster(session, settings)
    placed = session.scalar(
        sa.select(ThemeMembership.theme_id).where(ThemeMembership.interaction_id == late)
    )
    assert placed == answer.theme_id


def test_every_role_sees_the_panel_and_only_staff_the_raw_text(
    anonymous: TestClient,  # noqa: F811
    session: Session,
    desk: dict[str, int],
) -> None:
    url = f"/contacts/{desk['contact']}"
    assert anonymous.get(url, follow_redirects=False).status_code == 303
    contact = session.get(Interaction, desk["contact"])
    assert contact is not None
    contact.body_raw = "Hello, reach me at 555 0100. " + contact.body_clean
    session.flush()
    for role in ROLES:
        login(anonymous, session, role)
        soup = _soup(anonymous, url)
        panel = soup.select_one("#triage-answer")
        assert panel is not None, role
        assert soup.select_one("#triage-theme a")["href"] == f"/themes/{desk['theme']}"
        assert soup.select_one("#triage-problem a")["href"] == f"/problems/{desk['problem']}"
        assert "midnight" in soup.select_one("#triage-workaround").get_text()
        assert len(soup.select("#triage-similar li")) >= 1
        shown = soup.select_one("blockquote.contact-text").get_text()
        assert ("555 0100" in shown) == (role != "viewer"), role
        api = anonymous.get(f"/api/contacts/{desk['contact']}/triage")
        assert api.status_code == 200 and api.json()["theme_id"] == desk["theme"]
    assert anonymous.get("/contacts/999999").status_code == 404


def test_the_desk_triages_a_new_contact_with_csrf(
    anonymous: TestClient,  # noqa: F811
    session: Session,
    desk: dict[str, int],
) -> None:
    text = themed_texts(1, seed=7)[0][0]
    for role in ROLES:
        login(anonymous, session, role)
        token = csrf_of(anonymous, "/desk")
        refused = anonymous.post("/desk", data={"text": text})
        assert refused.status_code == 403
        got = anonymous.post(
            "/desk", data={"text": text, "csrf_token": token}, headers={"HX-Request": "true"}
        )
        assert got.status_code == 200, got.text[:300]
        panel = BeautifulSoup(got.text, "html.parser")
        assert panel.select_one("section#triage-answer") and not panel.select_one("main")
        assert panel.select_one("#triage-problem a")["href"] == f"/problems/{desk['problem']}"
    page = anonymous.post("/desk", data={"text": "   ", "csrf_token": token})
    soup = BeautifulSoup(page.text, "html.parser")
    assert (
        page.status_code == 200 and "empty once cleaned" in soup.select_one("#triage-answer").text
    )


def test_without_themes_the_panel_says_what_to_do(
    anonymous: TestClient,  # noqa: F811
    session: Session,
    tmp_path: Path,
) -> None:
    ingest_file(session, _desk(tmp_path))
    contact = session.scalar(sa.select(Interaction.id).order_by(Interaction.id))
    login(anonymous, session, "viewer")
    soup = _soup(anonymous, f"/contacts/{contact}")
    assert "rootline cluster" in soup.select_one("#triage-answer").get_text()


def test_a_subject_line_is_read_as_ingest_reads_it(
    session: Session, tmp_path: Path, settings: Settings, desk: dict[str, int]
) -> None:
    subject = "Re: " + themed_texts(1, seed=11)[0][0]
    body = "Hello, please see the subject. Thanks"
    with_subject = triage(session, HashingEmbedder(), body, subject=subject)
    row = {
        "ticket_id": "SUBJ1",
        "subject": subject,
        "description": body,
        "created_at": "2026-10-03T10:00:00Z",
    }
    ingest_file(session, write_csv(tmp_path / "subject.csv", [row]))
    cluster(session, settings)
    placed = session.scalar(
        sa.select(ThemeMembership.theme_id)
        .join(Interaction, Interaction.id == ThemeMembership.interaction_id)
        .where(Interaction.external_id == "SUBJ1")
    )
    assert with_subject.theme_id is not None and placed == with_subject.theme_id
