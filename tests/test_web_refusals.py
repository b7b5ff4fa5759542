"""Requests that must be refused cleanly: another team's problem, ids beyond 64 bits, NULs."""

# ruff: noqa: F811

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from rootline.rootcause.models import Comment, Problem
from rootline.rootcause.service import create_problem
from rootline.rootcause.teams import add_member, create_team
from tests.test_web_pages import (  # noqa: F401  (fixtures)
    Seeded,
    anonymous,
    app,
    client,
    csrf_of,
    data,
    login,
)

HUGE = str(2**70)


def _problem_of_other_teams(session: Session, data: Seeded) -> int:
    business = create_team(session, "Web product", kind="business")
    it = create_team(session, "E-commerce IS", kind="is")
    problem = create_problem(session, [data.card], title="Card payments fail")
    problem.business_team_id, problem.is_team_id = business.id, it.id
    session.flush()
    return problem.id


def _sign_in_as_routed_is_owner(client: TestClient, session: Session, problem_id: int) -> None:
    """Sign ``client`` in as an IS owner in the problem's IS team."""
    user = login(client, session, "is_owner", "member@example.com")
    add_member(session, session.get(Problem, problem_id).is_team, user)
    session.flush()


@pytest.mark.parametrize("role", ["is_owner", "product_owner"])
def test_owners_cannot_comment_on_problems_of_other_teams(
    anonymous: TestClient, session: Session, data: Seeded, role: str
) -> None:
    problem_id = _problem_of_other_teams(session, data)
    login(anonymous, session, role, f"outsider-{role}@example.com")
    before = session.query(Comment).count()
    api = anonymous.post(
        f"/api/problems/{problem_id}/comments",
        json={"body": "not my team"},
        headers={"X-CSRF-Token": csrf_of(anonymous, "/themes")},
    )
    assert api.status_code == 403
    form = anonymous.post(
        f"/problems/{problem_id}/comments",
        data={"body": "not my team", "csrf_token": csrf_of(anonymous, "/themes")},
        follow_redirects=False,
    )
    assert form.status_code == 403
    assert session.query(Comment).count() == before


def test_a_member_of_the_routed_team_may_comment(
    anonymous: TestClient, session: Session, data: Seeded
) -> None:
    problem_id = _problem_of_other_teams(session, data)
    _sign_in_as_routed_is_owner(anonymous, session, problem_id)
    response = anonymous.post(
        f"/api/problems/{problem_id}/comments",
        json={"body": "on it"},
        headers={"X-CSRF-Token": csrf_of(anonymous, "/themes")},
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    "url",
    [
        f"/api/themes/{HUGE}",
        f"/api/problems/{HUGE}",
        f"/api/customers/{HUGE}",
        f"/themes/{HUGE}",
        f"/problems/{HUGE}",
        f"/customers/{HUGE}",
    ],
)
def test_ids_beyond_64_bits_are_refused_not_a_crash(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code in {404, 422}, response.text[:300]


def test_a_nul_in_a_search_is_no_crash(client: TestClient) -> None:
    assert client.get("/api/search", params={"q": "card\x00declined"}).status_code == 200
    assert client.get("/search", params={"q": "\x00"}).status_code == 200


def test_only_a_lead_may_accept_a_fix_without_data(
    anonymous: TestClient, session: Session, data: Seeded
) -> None:
    problem_id = _problem_of_other_teams(session, data)
    _sign_in_as_routed_is_owner(anonymous, session, problem_id)
    response = anonymous.post(
        f"/api/problems/{problem_id}/transition",
        json={"target": "verified", "accept_without_data": True, "reason": "trust me"},
        headers={"X-CSRF-Token": csrf_of(anonymous, "/themes")},
    )
    assert response.status_code == 403
    assert session.get(Problem, problem_id).state == "new"


SUBJECT = "Refund for jane.doe@example.com, call +44 20 7946 0958, card 4111 1111 1111 1111"
RAW = ("jane.doe@example.com", "7946 0958", "4111 1111 1111 1111")


def _with_subject(session: Session) -> int:
    from tests.test_web_pages import _interaction, _theme

    rows = [
        _interaction(session, 900 + k, "my refund never arrived", subject=SUBJECT) for k in range(3)
    ]
    return _theme(session, "Refund missing", ["refund"], rows).id


@pytest.mark.parametrize("role", ["viewer", "support_lead"])
def test_subjects_carry_no_personal_data_for_viewers(
    anonymous: TestClient, session: Session, role: str
) -> None:
    theme_id = _with_subject(session)
    login(anonymous, session, role, f"{role}-pii@example.com")
    pages = [
        anonymous.get(f"/themes/{theme_id}").text,
        anonymous.get(f"/api/themes/{theme_id}/interactions").text,
        anonymous.get("/search", params={"q": "refund", "mode": "keyword"}).text,
    ]
    for text in pages:
        assert "Refund for" in text
        shown = [raw for raw in RAW if raw in text]
        assert shown == ([] if role == "viewer" else list(RAW)), shown


@pytest.mark.parametrize("user_id", [True, False, 2**70, "1"])
def test_a_token_for_a_user_id_that_is_no_id_is_refused(
    client: TestClient, session: Session, user_id: object
) -> None:
    """``true`` is not user 1 and a 70-bit number names no one: 422, and no token is made."""
    from rootline.web.models import ApiToken

    before = session.query(ApiToken).count()
    response = client.post(
        "/api/admin/tokens",
        json={"name": "ci", "user_id": user_id},
        headers={"X-CSRF-Token": csrf_of(client, "/themes")},
    )
    assert response.status_code == 422, response.text[:300]
    assert session.query(ApiToken).count() == before


@pytest.mark.parametrize(
    "body",
    [
        {"target_id": True, "interaction_ids": [1]},
        {"target_id": 2, "interaction_ids": [2**70]},
        {"target_id": 2, "interaction_ids": [True]},
    ],
)
def test_ids_in_bodies_are_strict_64_bit_integers(
    client: TestClient, data: Seeded, body: dict[str, object]
) -> None:
    response = client.post(
        f"/api/themes/{data.card}/move",
        json=body,
        headers={"X-CSRF-Token": csrf_of(client, "/themes")},
    )
    assert response.status_code == 422, response.text[:300]


def test_an_in_theme_search_matches_percent_and_underscore_literally(
    client: TestClient, data: Seeded
) -> None:
    everything = client.get(f"/api/themes/{data.card}/interactions").json()
    assert everything["total"] > 0
    for q in ("%", "_", "%%_"):
        found = client.get(f"/api/themes/{data.card}/interactions", params={"q": q}).json()
        assert found["total"] == 0, q
        page = client.get(f"/themes/{data.card}", params={"q": q})
        assert page.status_code == 200 and "No contacts match" in page.text.replace("&#34;", ""), q


def test_a_new_user_is_a_viewer_unless_an_admin_chooses_more(client: TestClient) -> None:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(client.get("/admin").text, "html.parser")
    chosen = soup.select("#new-role option[selected]")
    assert [o["value"] for o in chosen] == ["viewer"]
