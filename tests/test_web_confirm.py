"""Actions that are hard to take back ask first and say what will change: merging a theme,
marking it "not a theme", splitting it, closing a problem as won't fix and reopening one; a
merge and a "not a theme" mark can be undone from the theme's page. As each role would."""
# The app, client and data fixtures are shared with test_web_pages by importing them, which
# ruff reads as redefinitions when tests take them as arguments.
# ruff: noqa: F811

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from rootline.clustering.models import Theme, ThemeMembership
from rootline.rootcause.models import Problem
from rootline.rootcause.service import create_problem, record_fix, transition, update_problem
from tests.test_web_pages import (  # noqa: F401  (fixtures)
    Seeded,
    _soup,
    anonymous,
    app,
    client,
    csrf_of,
    data,
    login,
)


def _post(client: TestClient, url: str, **form: Any) -> Any:
    form.setdefault("csrf_token", csrf_of(client, "/themes"))
    return client.post(url, data=form, follow_redirects=False)


def _confirm_page(response: Any) -> BeautifulSoup:
    assert response.status_code == 200, response.text[:300]
    soup = BeautifulSoup(response.text, "html.parser")
    assert soup.select_one("#confirm") is not None
    return soup


def _members(session: Session, theme_id: int) -> set[int]:
    return set(
        session.scalars(
            sa.select(ThemeMembership.interaction_id).where(ThemeMembership.theme_id == theme_id)
        )
    )


def _confirm(client: TestClient, soup: BeautifulSoup) -> Any:
    """Press the confirmation's button: post exactly the fields its form carries."""
    form = soup.select_one("#confirm form")
    fields = {i["name"]: i["value"] for i in form.select("input[type=hidden]")}
    return client.post(form["action"], data=fields, follow_redirects=False)


def test_merge_asks_first_then_merges_then_undoes(
    client: TestClient, session: Session, data: Seeded
) -> None:
    card, password = _members(session, data.card), _members(session, data.password)
    soup = _confirm_page(_post(client, f"/themes/{data.password}/merge", target_id=data.card))
    changes = [li.get_text(" ", strip=True) for li in soup.select("ul.changes li")]
    assert changes[0] == (
        f"5 contacts of “Password reset link” (#{data.password}) move to “Card declined at "
        f"checkout” (#{data.card}), which will then have 65."
    )
    assert "undo the merge" in soup.select_one("#undo-note").get_text()
    # Nothing has changed yet.
    assert session.get(Theme, data.password).status == "active"
    assert _members(session, data.card) == card
    done = _confirm(client, soup)
    assert done.status_code == 303 and done.headers["location"] == f"/themes/{data.card}"
    assert session.get(Theme, data.password).status == "merged"
    assert _members(session, data.card) == card | password
    # The merged theme's page offers the undo, and the undo asks first too.
    page = _soup(client, f"/themes/{data.password}")
    assert "Undo the merge" in page.select_one("#undo-form button").get_text()
    soup = _confirm_page(_post(client, f"/themes/{data.password}/undo"))
    assert session.get(Theme, data.password).status == "merged"
    assert _confirm(client, soup).status_code == 303
    back = session.get(Theme, data.password)
    assert back.status == "active" and back.merged_into_id is None and back.size == 5
    assert _members(session, data.password) == password
    assert _members(session, data.card) == card
    assert session.get(Theme, data.card).size == len(card)
    history = _soup(client, f"/themes/{data.password}").select_one("ol.history").get_text()
    assert "merge undone" in history and "merged into theme" in history
    # Nothing left to undo: the form is gone and a direct post is refused in words.
    assert _soup(client, f"/themes/{data.password}").select_one("#undo-form") is None
    refused = _post(client, f"/themes/{data.password}/undo", confirmed="yes")
    assert refused.status_code in (303, 400)


def test_not_a_theme_asks_first_and_can_be_undone(
    client: TestClient, session: Session, data: Seeded
) -> None:
    soup = _confirm_page(_post(client, f"/themes/{data.password}/noise"))
    assert "leave the dashboard" in soup.select_one("ul.changes").get_text()
    assert session.get(Theme, data.password).status == "active"
    assert _confirm(client, soup).status_code == 303
    assert session.get(Theme, data.password).status == "noise"
    assert f"/themes/{data.password}" not in _soup(client, "/themes").decode()
    _confirm(client, _confirm_page(_post(client, f"/themes/{data.password}/undo")))
    assert session.get(Theme, data.password).status == "active"
    assert _soup(client, "/themes").select_one(f"#theme-{data.password}") is not None


def test_split_asks_first(client: TestClient, session: Session, data: Seeded) -> None:
    soup = _confirm_page(_post(client, f"/themes/{data.card}/split"))
    assert "two or more new themes" in soup.select_one("ul.changes").get_text()
    assert "cannot be undone in one step" in soup.select_one("#undo-note").get_text()
    assert session.get(Theme, data.card).status == "active"


def test_a_merge_refused_is_refused_before_asking(client: TestClient, data: Seeded) -> None:
    response = _post(client, f"/themes/{data.card}/merge", target_id=data.card)
    assert "#confirm" not in response.text and response.status_code in (303, 400)


def test_the_api_acts_at_once_and_undoes(
    client: TestClient, session: Session, data: Seeded
) -> None:
    csrf = {"X-CSRF-Token": csrf_of(client, "/themes")}
    merged = client.post(
        f"/api/themes/{data.password}/merge", json={"target_id": data.card}, headers=csrf
    )
    assert merged.status_code == 200
    undone = client.post(f"/api/themes/{data.password}/undo", headers=csrf)
    assert undone.status_code == 200 and undone.json()["status"] == "active"
    again = client.post(f"/api/themes/{data.password}/undo", headers=csrf)
    assert again.status_code == 400 and "no merge" in again.json()["detail"]


@pytest.mark.parametrize("role", ["is_owner", "product_owner", "viewer"])
def test_only_leads_are_asked(
    anonymous: TestClient, session: Session, data: Seeded, role: str
) -> None:
    login(anonymous, session, role)
    for url, form in (
        (f"/themes/{data.password}/merge", {"target_id": data.card}),
        (f"/themes/{data.password}/noise", {}),
        (f"/themes/{data.password}/split", {}),
        (f"/themes/{data.password}/undo", {}),
    ):
        response = _post(anonymous, url, **form)
        assert response.status_code == 403, url
        assert "#confirm" not in response.text
    assert session.get(Theme, data.password).status == "active"
    page = _soup(anonymous, f"/themes/{data.password}")
    assert page.select_one("form[action$='/merge']") is None


def test_a_lead_is_asked_without_a_csrf_token_refused(
    anonymous: TestClient, session: Session, data: Seeded
) -> None:
    login(anonymous, session, "support_lead")
    response = anonymous.post(
        f"/themes/{data.password}/merge",
        data={"target_id": str(data.card), "confirmed": "yes"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert session.get(Theme, data.password).status == "active"


# -- problems ---------------------------------------------------------------------------------


def _resolved(session: Session, theme_id: int) -> Problem:
    problem = create_problem(session, [theme_id], title="Cards", actor="t")
    for state in ("assessed", "root_cause_analysis"):
        transition(session, problem.id, state, actor="t")
    update_problem(session, problem.id, {"root_cause": "Gateway timeout"}, actor="t")
    transition(session, problem.id, "fix_in_progress", actor="t")
    record_fix(session, problem.id, "2026-10-20", actor="t")
    session.flush()
    return problem


def test_closing_as_wont_fix_asks_for_a_reason_first(
    client: TestClient, session: Session, data: Seeded
) -> None:
    problem = create_problem(session, [data.card], title="Cards", actor="t")
    url = f"/problems/{problem.id}/transition"
    soup = _confirm_page(_post(client, url, target="closed_wont_fix", version=problem.version))
    assert "This cannot be undone." in soup.get_text()
    assert soup.select_one("#confirm textarea[name=reason]") is not None
    assert session.get(Problem, problem.id).state == "new"
    form = soup.select_one("#confirm form")
    fields = {i["name"]: i["value"] for i in form.select("input[type=hidden]")}
    done = client.post(
        form["action"], data=fields | {"reason": "Card scheme rule"}, follow_redirects=False
    )
    assert done.status_code == 303
    assert session.get(Problem, problem.id).state == "closed_wont_fix"
    trail = _soup(client, f"/problems/{problem.id}").select_one("table.audit").get_text()
    assert "Card scheme rule" in trail


def test_reopening_asks_first_and_other_moves_do_not(
    client: TestClient, session: Session, data: Seeded
) -> None:
    problem = _resolved(session, data.card)
    url = f"/problems/{problem.id}/transition"
    soup = _confirm_page(_post(client, url, target="reopened"))
    assert "root cause analysis" in soup.select_one("ul.changes").get_text()
    assert session.get(Problem, problem.id).state == "resolved"
    assert _confirm(client, soup).status_code == 303
    assert session.get(Problem, problem.id).state == "reopened"
    # An everyday move needs no confirmation.
    moved = _post(client, url, target="root_cause_analysis")
    assert moved.status_code == 303
    # A move the life cycle refuses is refused at once, not confirmed.
    refused = _post(client, url, target="reopened")
    assert refused.status_code in (303, 409, 400) and "#confirm" not in refused.text


def test_owners_of_other_teams_are_not_asked(
    anonymous: TestClient, session: Session, data: Seeded
) -> None:
    problem = create_problem(session, [data.card], title="Cards", actor="t")
    login(anonymous, session, "is_owner")  # in no team
    response = _post(anonymous, f"/problems/{problem.id}/transition", target="closed_wont_fix")
    assert response.status_code == 403 and "#confirm" not in response.text
    assert session.get(Problem, problem.id).state == "new"


def test_merge_targets_come_most_alike_first(
    client: TestClient, session: Session, data: Seeded
) -> None:
    """The card theme's centroid is closest to "Zebra", then the password theme, then
    "Aardvark"; a theme without a centroid comes last. Titles would order them otherwise."""

    def vector(*xs: float) -> bytes:
        return np.asarray(xs, dtype=np.float32).tobytes()

    session.get(Theme, data.card).centroid = vector(1.0, 0.0, 0.0)
    session.get(Theme, data.password).centroid = vector(0.6, 0.8, 0.0)
    zebra = Theme(title="Zebra", keywords=[], size=0, status="active", centroid=vector(0.9, 0.1, 0))
    aardvark = Theme(
        title="Aardvark", keywords=[], size=0, status="active", centroid=vector(0, 0, 1)
    )
    bare = Theme(title="Anteater", keywords=[], size=0, status="active")
    session.add_all([zebra, aardvark, bare])
    session.flush()
    page = _soup(client, f"/themes/{data.card}")
    options = [o.get_text() for o in page.select("#merge-target option")]
    assert options == [
        f"#{zebra.id} Zebra",
        f"#{data.password} Password reset link",
        f"#{aardvark.id} Aardvark",
        f"#{bare.id} Anteater",
    ]
    # Without a centroid of its own, a theme's targets are listed by title.
    page = _soup(client, f"/themes/{bare.id}")
    titles = [o.get_text().split(" ", 1)[1] for o in page.select("#merge-target option")]
    assert titles == sorted(titles)


def test_an_undo_after_the_target_changed_is_refused(
    client: TestClient, session: Session, data: Seeded
) -> None:
    """Once the merge target is itself merged away, the contacts are not where the undo would
    look for them: it says so and changes nothing."""
    csrf = {"X-CSRF-Token": csrf_of(client, "/themes")}
    third = Theme(title="Third", keywords=[], size=0, status="active")
    session.add(third)
    session.flush()
    for source, target in ((data.password, data.card), (data.card, third.id)):
        merged = client.post(
            f"/api/themes/{source}/merge", json={"target_id": target}, headers=csrf
        )
        assert merged.status_code == 200
    refused = client.post(f"/api/themes/{data.password}/undo", headers=csrf)
    assert refused.status_code == 400
    assert "move the contacts back by hand" in refused.json()["detail"]
    assert session.get(Theme, data.password).status == "merged"
    assert session.get(Theme, third.id).size == 65
