"""Routing rules: priority order, keyword and extra-field matches, triage, explanation, YAML."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml
from sqlalchemy.orm import Session

from rootline.errors import InputError, NotFoundError
from rootline.rootcause import service
from rootline.rootcause.audit import history
from rootline.rootcause.models import RoutingRule
from rootline.rootcause.routing import (
    ThemeFacts,
    export_rules_yaml,
    import_rules_yaml,
    list_rules,
    match_conditions,
    route,
)
from rootline.rootcause.teams import create_team, create_user
from tests.factories import ThemeFactory, add_timeline

RULES = """
teams:
  - {name: Web shop, kind: business, email: shop@example.com}
  - {name: E-commerce IS, kind: is}
  - {name: Payments, kind: business}
  - {name: Payments IS, kind: is}
  - {name: EU desk, kind: business}
  - {name: Triage, kind: triage}
rules:
  - name: eu-web
    priority: 5
    match: {region: EU, channel: [web, chat]}
    business_team: EU desk
    is_team: E-commerce IS
  - name: checkout
    priority: 10
    match: {keywords: [checkout, basket]}
    business_team: Web shop
    is_team: E-commerce IS
  - name: payments
    priority: 20
    match: {keywords: [checkout, card]}
    business_team: Payments
    is_team: Payments IS
  - name: disabled
    priority: 1
    enabled: false
    match: {}
    business_team: Payments
"""


def _facts(words: set[str], **fields: tuple[str, float, int]) -> ThemeFacts:
    return ThemeFacts(words=words, fields=dict(fields))


def test_conditions_are_anded_and_values_ored() -> None:
    facts = _facts({"checkout", "fails"}, channel=("web", 0.8, 10), product=("Shop", 1.0, 4))
    assert match_conditions(
        {"keywords": ["basket", "checkout"], "channel": ["chat", "web"]}, facts
    ) == ["channel = 'web' (majority, 80% of 10 contacts)", "keywords include 'checkout'"]
    assert match_conditions({"keywords": "checkout", "channel": "phone"}, facts) is None
    assert match_conditions({"product": "shop"}, facts) is not None  # case-insensitive
    assert match_conditions({"category": "billing"}, facts) is None  # field absent
    assert match_conditions({}, facts) == ["catch-all rule (no conditions)"]


def test_route_tries_rules_in_priority_order_and_falls_back_to_triage() -> None:
    rules = [
        RoutingRule(
            id=1,
            name="late",
            priority=50,
            conditions={"keywords": "card"},
            business_team_id=10,
            is_team_id=11,
            enabled=True,
        ),
        RoutingRule(
            id=2,
            name="early",
            priority=5,
            conditions={"keywords": "card"},
            business_team_id=20,
            is_team_id=21,
            enabled=True,
        ),
        RoutingRule(
            id=3,
            name="off",
            priority=1,
            conditions={},
            business_team_id=30,
            is_team_id=31,
            enabled=False,
        ),
    ]
    decision = route(rules, _facts({"card"}), triage_id=99)
    assert (decision.rule_id, decision.business_team_id, decision.is_team_id) == (2, 20, 21)
    assert decision.explanation.startswith("rule 'early' (priority 5) matched: keywords")
    fallback = route(rules, _facts({"delivery"}), triage_id=99)
    assert (fallback.rule_id, fallback.business_team_id, fallback.is_team_id) == (None, 99, 99)
    assert "triage" in fallback.explanation


def _theme(
    session: Session, title: str, keywords: list[str], channel: str, extra: dict[str, object]
) -> int:
    ThemeFactory._meta.sqlalchemy_session = session
    theme = ThemeFactory(title=title, keywords=keywords)
    add_timeline(
        session,
        theme,
        start=datetime(2026, 5, 1, tzinfo=UTC),
        days=3,
        per_day=3,
        channel=channel,
        extra=extra,
        tag=f"r{theme.id}",
    )
    return theme.id


def test_problems_are_routed_by_the_stored_rules(session: Session) -> None:
    import_rules_yaml(session, RULES, actor="admin@x.org")
    eu = _theme(session, "Checkout fails", ["checkout"], "web", {"region": "EU"})
    us = _theme(session, "Checkout fails", ["checkout"], "web", {"region": "US"})
    other = _theme(session, "Parcel late", ["delivery"], "email", {})
    p_eu = service.create_problem(session, [eu], actor="x")
    assert (p_eu.business_team.name, p_eu.is_team.name) == ("EU desk", "E-commerce IS")
    assert "region = 'EU'" in p_eu.routing_explanation
    assert "channel = 'web'" in p_eu.routing_explanation
    p_us = service.create_problem(session, [us], actor="x")
    assert p_us.business_team.name == "Web shop"  # checkout (10) beats payments (20)
    assert p_us.routed_by_rule_id == next(r.id for r in list_rules(session) if r.name == "checkout")
    p_other = service.create_problem(session, [other], actor="x")
    assert p_other.business_team.kind == "triage" and p_other.routed_by_rule_id is None
    assert p_other.business_team.name == "Triage"
    # A hand assignment overrides routing and says so.
    service.assign(session, p_other.id, business="Payments", is_team="Payments IS", actor="me")
    assert p_other.routing_explanation == "assigned by hand by me"
    with pytest.raises(InputError, match="is a is team"):
        service.assign(session, p_other.id, business="Payments IS", actor="me")
    with pytest.raises(NotFoundError):
        service.assign(session, p_other.id, business="Nobody", actor="me")


def test_yaml_round_trip(session: Session) -> None:
    create_user(session, "lead@example.com", "Lee", "product_owner")
    text = RULES.replace(
        "email: shop@example.com}", "email: shop@example.com, lead: lead@example.com}"
    )
    import_rules_yaml(session, text)
    exported = export_rules_yaml(session)
    doc = yaml.safe_load(exported)
    assert [r["name"] for r in doc["rules"]] == ["disabled", "eu-web", "checkout", "payments"]
    assert doc["rules"][1]["match"] == {"region": "EU", "channel": ["web", "chat"]}
    assert {
        "name": "Web shop",
        "kind": "business",
        "email": "shop@example.com",
        "lead": "lead@example.com",
    } in doc["teams"]
    # Importing the export changes nothing and writes no audit events.
    before = [(r.id, r.name, r.priority, r.conditions) for r in list_rules(session)]
    events = len(history(session, "routing_rule", before[0][0]))
    import_rules_yaml(session, exported)
    assert [(r.id, r.name, r.priority, r.conditions) for r in list_rules(session)] == before
    assert export_rules_yaml(session) == exported
    assert len(history(session, "routing_rule", before[0][0])) == events
    # The file is the truth: a rule left out is removed, a changed one updated and audited.
    doc["rules"] = [r for r in doc["rules"] if r["name"] != "disabled"]
    doc["rules"][0]["priority"] = 99
    import_rules_yaml(session, yaml.safe_dump(doc), actor="admin@x.org")
    assert [r.name for r in list_rules(session)] == ["checkout", "payments", "eu-web"]
    changes = history(session, "routing_rule", before[1][0])
    assert (changes[-1].field, changes[-1].old_value, changes[-1].new_value) == ("priority", 5, 99)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [{priority: 1}]", "needs a name"),
        ("rules: [{name: a, business_team: Nowhere}]", "no team 'Nowhere'"),
        ("rules: [{name: a, match: [x]}]", "must be a mapping"),
        ("rules: [{name: a, match: {channel: {a: b}}}]", "value or a list"),
        ("teams: [{name: T, kind: sales}]", "kind must be one of"),
        ("rules: [unclosed", "not valid YAML"),
    ],
)
def test_bad_yaml_is_refused(session: Session, text: str, message: str) -> None:
    with pytest.raises((InputError, NotFoundError), match=message):
        import_rules_yaml(session, text)


def test_team_kinds_are_checked(session: Session) -> None:
    with pytest.raises(InputError, match="kind"):
        create_team(session, "Sales", "sales")
    create_team(session, "Sales", "business")
    with pytest.raises(InputError, match="exists already"):
        create_team(session, "Sales", "business")
