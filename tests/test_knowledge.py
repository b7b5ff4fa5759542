"""The knowledge base shared across the enterprise: versioned articles, proposals from a theme,
search by words and by meaning, for every role; only leads and the problem's owners change it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from rootline.clustering.embedding import HashingEmbedder
from rootline.clustering.models import Theme
from rootline.config import Settings
from rootline.errors import ConflictError, InputError
from rootline.ingest.service import ingest_file
from rootline.pipeline import cluster
from rootline.rootcause.audit import history
from rootline.rootcause.knowledge import (
    propose_article,
    revisions_of,
    save_article,
    search_articles,
)
from rootline.rootcause.models import AuditEvent, KnownError, KnownErrorRevision, Problem
from rootline.rootcause.service import assign, create_problem, update_problem
from rootline.rootcause.teams import add_member, create_team, find_team
from rootline.rootcause.triage import triage
from tests.factories import themed_texts
from tests.test_triage import _desk
from tests.test_web_pages import (  # noqa: F401  (fixtures)
    anonymous,
    app,
    csrf_of,
    login,
)

ROLES = ("viewer", "support_lead", "is_owner", "product_owner", "admin")


@pytest.fixture
def kb(session: Session, tmp_path: Path, settings: Settings) -> dict[str, int]:
    """Themes, a problem with its cause and workaround recorded (an article), and a second
    problem with nothing recorded yet."""
    ingest_file(session, _desk(tmp_path))
    cluster(session, settings, full=True)
    text = themed_texts(1, seed=7)[0][0]
    theme = triage(session, HashingEmbedder(), text).theme_id
    other = session.scalar(
        sa.select(Theme.id).where(Theme.status == "active", Theme.id != theme).order_by(Theme.id)
    )
    assert theme is not None and other is not None
    create_team(session, "Web shop", "business")
    create_team(session, "E-commerce IS", "is")
    problem = create_problem(session, [theme], actor="lead@example.com")
    assign(session, problem.id, business="Web shop", is_team="E-commerce IS", actor="lead")
    update_problem(
        session,
        problem.id,
        {"root_cause": "The reset link expires early.", "workaround": "Resend the link twice."},
        actor="is@example.com",
    )
    bare = create_problem(session, [other], actor="lead@example.com")
    article = session.scalars(
        sa.select(KnownError).where(KnownError.problem_id == problem.id)
    ).one()
    return {
        "theme": theme,
        "other": other,
        "problem": problem.id,
        "bare": bare.id,
        "article": article.id,
    }


def test_articles_are_versioned_with_who_changed_what(session: Session, kb: dict[str, int]) -> None:
    article = session.get(KnownError, kb["article"])
    assert article is not None and article.revision == 1 and article.updated_by == "is@example.com"
    assert article.public
    update_problem(session, kb["problem"], {"fix_description": "Links last 24 h"}, actor="dev@x")
    assert article.revision == 2 and article.fix == "Links last 24 h"
    save_article(
        session, article.id, {"workaround": "Send a fresh link."}, actor="lead@x", note="shorter"
    )
    revs = revisions_of(session, article.id)
    assert [(r.revision, r.changed_by) for r in revs] == [
        (3, "lead@x"),
        (2, "dev@x"),
        (1, "is@example.com"),
    ]
    assert revs[0].note == "shorter" and revs[1].workaround == "Resend the link twice."
    trail = [(e.actor, e.field) for e in history(session, "known_error", article.id)]
    assert ("lead@x", "workaround") in trail and ("dev@x", "fix") in trail
    save_article(session, article.id, {"workaround": "Send a fresh link."}, actor="lead@x")
    assert article.revision == 3  # nothing changed: no revision
    with pytest.raises(ConflictError, match="revision 3"):
        save_article(session, article.id, {"title": "x"}, actor="a", expected_revision=2)
    with pytest.raises(InputError, match="needs a title"):
        save_article(session, article.id, {"title": " "}, actor="a")
    with pytest.raises(InputError, match="not an article field"):
        save_article(session, article.id, {"owner": "me"}, actor="a")


def test_an_article_is_proposed_from_typical_contacts_and_the_fix_and_is_a_draft(
    session: Session, kb: dict[str, int]
) -> None:
    with pytest.raises(InputError, match="no problem yet"):
        propose_article(session, _unpromoted(session, kb), actor="lead@x")
    bare = session.get(Problem, kb["bare"])
    assert bare is not None
    bare.workaround = "Use the phone line."
    article = propose_article(session, kb["other"], actor="lead@x")
    theme = session.get(Theme, kb["other"])
    assert theme is not None
    assert not article.public and article.workaround == "Use the phone line."
    assert article.symptoms.count("\n- ") == 2 and article.symptoms.startswith("- ")
    assert [t.id for t in article.themes] == [kb["other"]]
    assert revisions_of(session, article.id)[0].note.startswith(
        f"proposed from theme #{kb['other']}"
    )
    # A draft is not what the desk shows; once public it is.
    own_text = session.scalars(
        sa.text("SELECT body_clean FROM interaction WHERE id = :i"), {"i": theme.examples[0]}
    ).one()
    assert triage(session, HashingEmbedder(), own_text).workaround is None
    save_article(session, article.id, {"public": True}, actor="lead@x")
    shown = triage(session, HashingEmbedder(), own_text).workaround
    assert shown is not None and shown["id"] == article.id


def _unpromoted(session: Session, kb: dict[str, int]) -> int:
    theme = session.scalar(
        sa.select(Theme.id)
        .where(Theme.status == "active", Theme.id.not_in([kb["theme"], kb["other"]]))
        .order_by(Theme.id)
    )
    assert theme is not None
    return theme


def test_search_by_words_and_by_meaning(session: Session, kb: dict[str, int]) -> None:
    words, meaning = search_articles(session, "reset link", HashingEmbedder())
    assert [a.id for a in words] == [kb["article"]]
    assert meaning and meaning[0].article.id == kb["article"]
    words, _ = search_articles(session, "parcel voucher zebra", None)
    assert words == []
    save_article(session, kb["article"], {"public": False}, actor="lead@x")
    assert search_articles(session, "reset link", None, public_only=True)[0] == []


def _counts(session: Session) -> tuple[int, int, int]:
    return (
        session.scalar(sa.select(sa.func.count(KnownError.id))) or 0,
        session.scalar(sa.select(sa.func.count(KnownErrorRevision.id))) or 0,
        session.scalar(sa.select(sa.func.count(AuditEvent.id))) or 0,
    )


def test_every_role_searches_and_reads_a_viewer_changes_nothing(
    anonymous: TestClient,  # noqa: F811
    session: Session,
    kb: dict[str, int],
) -> None:
    aid = kb["article"]
    assert anonymous.get("/api/knowledge?q=reset").status_code == 401
    for role in ROLES:
        login(anonymous, session, role)
        page = BeautifulSoup(anonymous.get("/knowledge?q=reset+link").text, "html.parser")
        assert [li["data-article"] for li in page.select("#kb-word-results li")] == [str(aid)], role
        assert page.select("#kb-meaning-results li"), role
        found = anonymous.get("/api/knowledge", params={"q": "expires early"}).json()
        assert [a["id"] for a in found["keyword"]] == [aid], role
        article = BeautifulSoup(anonymous.get(f"/knowledge/{aid}").text, "html.parser")
        assert "Resend the link twice." in article.select_one("#article-workaround").text
        assert anonymous.get(f"/api/knowledge/{aid}").json()["revisions"][0]["revision"] == 1
    login(anonymous, session, "viewer")
    page = BeautifulSoup(anonymous.get(f"/knowledge/{aid}").text, "html.parser")
    assert not page.select("form.article-edit")
    token = csrf_of(anonymous, "/knowledge")
    before = _counts(session)
    attempts = [
        anonymous.post(
            f"/knowledge/{aid}", data={"csrf_token": token, "revision": 1, "title": "x"}
        ),
        anonymous.post(
            f"/api/knowledge/{aid}", json={"title": "x"}, headers={"X-CSRF-Token": token}
        ),
        anonymous.post("/knowledge/propose", data={"csrf_token": token, "theme_id": kb["other"]}),
        anonymous.post(
            "/api/knowledge/propose",
            json={"theme_id": kb["other"]},
            headers={"X-CSRF-Token": token},
        ),
    ]
    assert [a.status_code for a in attempts] == [403, 403, 403, 403]
    assert _counts(session) == before


def test_owners_of_the_problem_and_leads_edit_others_may_not(
    anonymous: TestClient,  # noqa: F811
    session: Session,
    kb: dict[str, int],
) -> None:
    aid = kb["article"]
    login(anonymous, session, "is_owner", email="stranger@example.com")
    token = csrf_of(anonymous, f"/knowledge/{aid}")
    refused = anonymous.post(
        f"/api/knowledge/{aid}", json={"workaround": "x"}, headers={"X-CSRF-Token": token}
    )
    assert refused.status_code == 403 and "teams you are not in" in refused.text
    owner = login(anonymous, session, "is_owner", email="owner@example.com")

    add_member(session, find_team(session, "E-commerce IS"), owner)
    token = csrf_of(anonymous, f"/knowledge/{aid}")
    page = BeautifulSoup(anonymous.get(f"/knowledge/{aid}").text, "html.parser")
    assert page.select_one("form.article-edit input[name=revision]")["value"] == "1"
    saved = anonymous.post(
        f"/knowledge/{aid}",
        data={
            "csrf_token": token,
            "revision": "1",
            "title": "Reset links expire",
            "workaround": "Send a fresh link.",
            "note": "clearer",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    got = anonymous.get(f"/api/knowledge/{aid}").json()
    assert got["revision"] == 2 and got["updated_by"] == "owner@example.com"
    assert got["public"] is False  # the unchecked box unpublished it
    stale = anonymous.post(
        f"/api/knowledge/{aid}",
        json={"revision": 1, "public": True},
        headers={"X-CSRF-Token": token},
    )
    assert stale.status_code == 409
    login(anonymous, session, "support_lead")
    token = csrf_of(anonymous, "/knowledge")
    made = anonymous.post(
        "/api/knowledge/propose", json={"theme_id": kb["other"]}, headers={"X-CSRF-Token": token}
    )
    assert made.status_code == 201 and made.json()["public"] is False
    assert made.json()["revisions"][0]["changed_by"] == "support_lead@example.com"
