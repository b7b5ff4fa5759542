"""Admin pages for routing rules and teams: add, edit and remove a rule in the page (with
the reason it gives on a sample theme), and take a member out of a team. Only admins may."""
# The app, client and data fixtures are shared with test_web_pages by importing them, which
# ruff reads as redefinitions when tests take them as arguments.
# ruff: noqa: F811

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from rootline.errors import InputError
from rootline.rootcause.models import AuditEvent, RoutingRule, Team
from rootline.rootcause.routing import conditions_text, parse_conditions
from rootline.rootcause.service import create_problem
from rootline.rootcause.teams import add_member, create_team
from rootline.web.accounts import ensure_user
from tests.test_web_pages import (  # noqa: F401  (fixtures)
    PASSWORD,
    Seeded,
    _soup,
    anonymous,
    app,
    client,
    csrf_of,
    data,
    login,
)


def _post(client: TestClient, url: str, back: str = "/admin", **form: Any) -> Any:
    form.setdefault("csrf_token", csrf_of(client, "/themes"))
    return client.post(
        url, data=form, follow_redirects=False, headers={"Referer": f"http://testserver{back}"}
    )


def _audit(session: Session, kind: str, object_id: int) -> list[tuple[str, str | None]]:
    return [
        (a, f)
        for a, f in session.execute(
            sa.select(AuditEvent.action, AuditEvent.field)
            .where(AuditEvent.object_type == kind, AuditEvent.object_id == object_id)
            .order_by(AuditEvent.id)
        )
    ]


def test_conditions_read_and_write_as_lines() -> None:
    text = "keywords: card, declined\nchannel: web\n\n"
    assert parse_conditions(text) == {"keywords": ["card", "declined"], "channel": "web"}
    assert parse_conditions(conditions_text(parse_conditions(text))) == parse_conditions(text)
    assert parse_conditions("") == {}
    for bad in ("keywords card", ": web", "channel:", "a: 1\na: 2"):
        with pytest.raises(InputError) as info:
            parse_conditions(bad)
        assert info.value.field == "conditions" and "line " in str(info.value)


@pytest.fixture
def teams(session: Session) -> dict[str, int]:
    out = {
        "payments": create_team(session, "Payments", "business").id,
        "cards_is": create_team(session, "Cards IS", "is").id,
        "web": create_team(session, "Web shop", "business").id,
    }
    session.flush()
    return out


def test_add_edit_preview_and_remove_a_rule(
    client: TestClient, session: Session, data: Seeded, teams: dict[str, int]
) -> None:
    form = _soup(client, "/admin/rules/new").select_one("#rule-form")
    assert form.select_one("input[name=csrf_token]") is not None
    added = _post(
        client,
        "/admin/rules/new",
        back="/admin/rules/new",
        name="cards",
        priority="10",
        enabled="yes",
        conditions="keywords: card, declined",
        business_team_id=str(teams["payments"]),
        is_team_id=str(teams["cards_is"]),
    )
    assert added.status_code == 303
    rule = session.scalars(sa.select(RoutingRule).where(RoutingRule.name == "cards")).one()
    assert added.headers["location"] == f"/admin/rules/{rule.id}"
    # The admin page lists it, linked to its page; the page shows what was saved.
    assert _soup(client, "/admin").find("a", href=f"/admin/rules/{rule.id}") is not None
    page = _soup(client, f"/admin/rules/{rule.id}")
    assert page.select_one("#rule-conditions").get_text() == "keywords: card, declined"
    # The reason on a sample theme: it matches the card theme, not the password one.
    shown = _soup(client, f"/admin/rules/{rule.id}?theme={data.card}")
    result = shown.select_one("#preview-result")
    assert result["data-matches"] == "yes"
    assert "keywords include 'card', 'declined'" in result.get_text()
    assert "rule 'cards' (priority 10) matched" in shown.select_one("#preview-decision").get_text()
    other = _soup(client, f"/admin/rules/{rule.id}?theme={data.password}")
    assert other.select_one("#preview-result")["data-matches"] == "no"
    # Edit it: another team, another condition, lower priority; each change is audited.
    saved = _post(
        client,
        f"/admin/rules/{rule.id}",
        back=f"/admin/rules/{rule.id}",
        name="cards",
        priority="5",
        enabled="yes",
        conditions="keywords: password",
        business_team_id=str(teams["web"]),
        is_team_id=str(teams["cards_is"]),
        theme=str(data.password),
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/admin/rules/{rule.id}?theme={data.password}"
    session.refresh(rule)
    assert (rule.priority, rule.conditions, rule.business_team_id) == (
        5,
        {"keywords": "password"},
        teams["web"],
    )
    assert {f for a, f in _audit(session, "routing_rule", rule.id) if a == "update"} == {
        "priority",
        "conditions",
        "business_team_id",
    }
    # A new problem on the password theme now goes where the edited rule says.
    problem = create_problem(session, [data.password], title="Passwords", actor="t")
    assert (problem.business_team_id, problem.is_team_id) == (teams["web"], teams["cards_is"])
    # Removing asks first, then removes.
    asked = _post(client, f"/admin/rules/{rule.id}/delete", back=f"/admin/rules/{rule.id}")
    assert asked.status_code == 200 and "Problems it routed before keep their owners" in asked.text
    assert session.get(RoutingRule, rule.id) is not None
    soup = BeautifulSoup(asked.text, "html.parser")
    fields = {i["name"]: i["value"] for i in soup.select("#confirm form input[type=hidden]")}
    done = client.post(f"/admin/rules/{rule.id}/delete", data=fields, follow_redirects=False)
    assert done.status_code == 303 and session.get(RoutingRule, rule.id) is None
    assert ("delete", None) in _audit(session, "routing_rule", rule.id)


def test_a_rule_form_refused_says_why(
    client: TestClient, session: Session, teams: dict[str, int]
) -> None:
    refused = _post(
        client, "/admin/rules/new", back="/admin/rules/new", name="x", conditions="keywords card"
    )
    assert refused.status_code == 303 and refused.headers["location"] == "/admin/rules/new"
    flash = _soup(client, "/admin/rules/new").select_one("p.flash.error").get_text()
    assert "line 1" in flash
    # An IS team cannot be the business owner.
    _post(
        client,
        "/admin/rules/new",
        back="/admin/rules/new",
        name="y",
        business_team_id=str(teams["cards_is"]),
    )
    assert (
        "Cards IS is an IS team"
        in _soup(client, "/admin/rules/new").select_one("p.flash.error").text
    )
    assert session.scalar(sa.select(sa.func.count(RoutingRule.id))) == 0


def test_remove_a_member_and_a_lead(client: TestClient, session: Session) -> None:
    lead = ensure_user(session, "lead-of-cards@example.com", "is_owner", PASSWORD)
    other = ensure_user(session, "member@example.com", "is_owner", PASSWORD)
    team = create_team(session, "Cards IS", "is", lead_email=lead.email)
    add_member(session, team, other)
    session.flush()
    row = _soup(client, "/admin").select_one("table.teams tbody tr")
    assert len(row.select("ul.members form")) == 2
    gone = _post(client, f"/admin/teams/{team.id}/members/{other.id}/remove")
    assert gone.status_code == 303
    session.refresh(team)
    assert [m.email for m in team.members] == [lead.email]
    flash = _soup(client, "/admin").select_one("p.flash").get_text()
    assert "member@example.com left Cards IS" in flash
    _post(client, f"/admin/teams/{team.id}/members/{lead.id}/remove")
    session.refresh(team)
    assert team.members == [] and team.lead is None
    assert "which now has no lead" in _soup(client, "/admin").select_one("p.flash").get_text()
    assert [a for a, f in _audit(session, "team", team.id) if f == "members"]
    # Someone not in the team: refused in words.
    _post(client, f"/admin/teams/{team.id}/members/{other.id}/remove")
    assert "is not in team" in _soup(client, "/admin").select_one("p.flash.error").get_text()


@pytest.mark.parametrize("role", ["support_lead", "is_owner", "product_owner", "viewer"])
def test_only_admins_edit_rules_and_teams(
    anonymous: TestClient, session: Session, role: str, teams: dict[str, int]
) -> None:
    rule = RoutingRule(name="r", priority=1, conditions={}, enabled=True)
    member = ensure_user(session, "m@example.com", "viewer", PASSWORD)
    session.add(rule)
    session.flush()
    add_member(session, session.get(Team, teams["web"]), member)
    session.flush()
    login(anonymous, session, role)
    for url in ("/admin/rules/new", f"/admin/rules/{rule.id}"):
        assert anonymous.get(url).status_code == 403, url
    for url, form in (
        ("/admin/rules/new", {"name": "z"}),
        (f"/admin/rules/{rule.id}", {"name": "z"}),
        (f"/admin/rules/{rule.id}/delete", {"confirmed": "yes"}),
        (f"/admin/teams/{teams['web']}/members/{member.id}/remove", {}),
    ):
        assert _post(anonymous, url, **form).status_code == 403, url
    session.refresh(rule)
    assert rule.name == "r"
    assert len(session.scalars(sa.select(RoutingRule)).all()) == 1


def test_admin_forms_need_the_csrf_token(client: TestClient, session: Session) -> None:
    rule = RoutingRule(name="r", priority=1, conditions={}, enabled=True)
    session.add(rule)
    session.flush()
    response = client.post(
        f"/admin/rules/{rule.id}/delete", data={"confirmed": "yes"}, follow_redirects=False
    )
    assert response.status_code == 403
    assert session.get(RoutingRule, rule.id) is not None


def test_the_api_adds_edits_and_removes_rules_and_members(
    client: TestClient, session: Session, data: Seeded, teams: dict[str, int]
) -> None:
    csrf = {"X-CSRF-Token": csrf_of(client, "/themes")}
    body = {
        "name": "cards",
        "priority": 10,
        "conditions": {"keywords": ["card", "declined"]},
        "business_team_id": teams["payments"],
        "is_team_id": teams["cards_is"],
    }
    created = client.post("/api/admin/rules/new", json=body, headers=csrf)
    assert created.status_code == 201, created.text
    rule = created.json()
    assert rule["conditions"] == {"keywords": ["card", "declined"]} and rule["enabled"]
    changed = client.post(
        f"/api/admin/rules/{rule['id']}",
        json=body | {"priority": 3, "enabled": False},
        headers=csrf,
    )
    assert changed.status_code == 200 and changed.json()["priority"] == 3
    assert not changed.json()["enabled"]
    wrong = client.post(
        f"/api/admin/rules/{rule['id']}",
        json=body | {"business_team_id": teams["cards_is"]},
        headers=csrf,
    )
    assert wrong.status_code == 400 and "IS team" in wrong.json()["detail"]
    assert client.delete(f"/api/admin/rules/{rule['id']}", headers=csrf).status_code == 204
    assert client.delete(f"/api/admin/rules/{rule['id']}", headers=csrf).status_code == 404
    member = ensure_user(session, "m@example.com", "is_owner", PASSWORD)
    add_member(session, session.get(Team, teams["cards_is"]), member)
    session.flush()
    out = client.delete(f"/api/teams/{teams['cards_is']}/members/{member.id}", headers=csrf)
    assert out.status_code == 200 and "m@example.com" not in out.json()["members"]
    again = client.delete(f"/api/teams/{teams['cards_is']}/members/{member.id}", headers=csrf)
    assert again.status_code == 400
