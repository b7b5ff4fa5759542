"""UX candidates on the backlog: themes with no problem that look like UX problems (web or
app contacts, words about pages, buttons and errors), ranked by impact, each with its reasons,
and a one-click "propose as UX improvement" for product owners and leads."""
# The app, client and data fixtures are shared with test_web_pages by importing them, which
# ruff reads as redefinitions when tests take them as arguments.
# ruff: noqa: F811

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from rootline.rootcause.models import Problem
from rootline.rootcause.service import create_problem
from tests.test_web_pages import (  # noqa: F401  (fixtures)
    MONDAY,
    _interaction,
    _soup,
    _theme,
    anonymous,
    app,
    client,
    csrf_of,
    login,
)


@dataclass
class Ux:
    button: int
    refund: int
    freeze: int
    typo: int


@pytest.fixture
def ux(session: Session) -> Ux:
    def rows(start: int, n: int, text: str, channel: str) -> list[Any]:
        return [
            _interaction(
                session,
                start + i,
                f"{text} {i}",
                channel=channel,
                created_at=MONDAY + timedelta(days=i),
            )
            for i in range(n)
        ]

    button = _theme(
        session, "Pay now does nothing", ["pay", "nothing"], rows(40_000, 20, "x", "web")
    )
    refund = _theme(session, "Refund delayed", ["refund"], rows(40_100, 30, "refund", "email"))
    freeze = _theme(session, "App freezes", ["freezes"], rows(40_200, 10, "freeze", "app"))
    typo = _theme(session, "Error on the address form", ["form"], rows(40_300, 5, "e", "phone"))
    create_problem(session, [freeze.id], title="Freezes", actor="t")
    session.flush()
    return Ux(button.id, refund.id, freeze.id, typo.id)


def _post(client: TestClient, url: str, **form: Any) -> Any:
    form.setdefault("csrf_token", csrf_of(client, "/themes"))
    return client.post(
        url, data=form, follow_redirects=False, headers={"Referer": "http://testserver/backlog"}
    )


def test_candidates_are_the_ux_looking_themes_without_a_problem(
    anonymous: TestClient, session: Session, ux: Ux
) -> None:
    login(anonymous, session, "product_owner")
    page = _soup(anonymous, "/backlog")
    rows = page.select("#candidates tbody tr")
    assert [r["id"] for r in rows] == [f"candidate-{ux.button}", f"candidate-{ux.typo}"]
    why = {r["id"]: r.select("td")[1].get_text(" ", strip=True) for r in rows}
    assert why[f"candidate-{ux.button}"] == "100% of its contacts come through the web or the app"
    assert why[f"candidate-{ux.typo}"] == "its title and keywords speak of error, form"
    api = anonymous.get("/api/backlog/candidates").json()
    assert [c["theme_id"] for c in api] == [ux.button, ux.typo]
    assert api[0]["ux_channel_share"] == 1.0 and api[1]["words"] == ["error", "form"]
    # Ranked by the dashboard's impact score, with the dashboard's rank.
    board = anonymous.get("/api/dashboard").json()["themes"]
    ranks = {t["id"]: i for i, t in enumerate(board, start=1)}
    assert [c["rank"] for c in api] == [ranks[ux.button], ranks[ux.typo]]
    assert api[0]["impact_score"] >= api[1]["impact_score"]


def test_a_product_owner_proposes_one_in_one_click(
    anonymous: TestClient, session: Session, ux: Ux
) -> None:
    login(anonymous, session, "product_owner")
    form = _soup(anonymous, "/backlog").select_one(f"#candidate-{ux.button} form")
    assert form["action"] == "/backlog/propose"
    assert form.select_one("input[name=csrf_token]") is not None
    done = _post(anonymous, "/backlog/propose", theme_id=str(ux.button))
    assert done.status_code == 303 and done.headers["location"] == "/backlog"
    problem = session.scalars(sa.select(Problem).order_by(Problem.id.desc())).first()
    assert problem is not None and problem.theme_ids == [ux.button] and "ux" in problem.tags
    page = _soup(anonymous, "/backlog")
    assert "proposed as a UX improvement" in page.select_one("p.flash").get_text()
    assert page.find("a", href=f"/problems/{problem.id}") is not None
    assert page.select_one(f"#candidate-{ux.button}") is None
    # Twice is refused, in words, and makes nothing.
    again = _post(anonymous, "/backlog/propose", theme_id=str(ux.button))
    assert again.status_code == 303
    flash = _soup(anonymous, "/backlog").select_one("p.flash.error").get_text()
    assert f"already has problem #{problem.id}" in flash
    assert session.scalar(sa.select(sa.func.count(Problem.id))) == 2


@pytest.mark.parametrize("role", ["is_owner", "viewer"])
def test_other_roles_see_candidates_but_do_not_propose(
    anonymous: TestClient, session: Session, ux: Ux, role: str
) -> None:
    login(anonymous, session, role)
    page = _soup(anonymous, "/backlog")
    assert page.select_one(f"#candidate-{ux.button}") is not None
    assert page.select_one("#candidates form") is None
    assert _post(anonymous, "/backlog/propose", theme_id=str(ux.button)).status_code == 403
    assert session.scalar(sa.select(sa.func.count(Problem.id))) == 1


def test_a_lead_may_propose_and_the_token_is_needed(
    anonymous: TestClient, session: Session, ux: Ux
) -> None:
    login(anonymous, session, "support_lead")
    assert _soup(anonymous, "/backlog").select_one("#candidates form") is not None
    refused = anonymous.post(
        "/backlog/propose", data={"theme_id": str(ux.typo)}, follow_redirects=False
    )
    assert refused.status_code == 403
    assert _post(anonymous, "/backlog/propose", theme_id=str(ux.typo)).status_code == 303


def test_no_candidates_says_so(client: TestClient) -> None:
    page = _soup(client, "/backlog")
    assert page.select_one("#no-candidates") is not None
