"""Routing rules: which business team and which IS team own a problem, and why.

A rule's conditions all have to hold (AND); a list of values means any of them (OR).

``keywords``
    any of the words appears in the themes' keywords or titles.
any other key (``channel``, ``category``, ``product``, ``region`` ...)
    the majority value of that field over the themes' interactions; ``channel`` is the
    interaction's channel, every other name is looked up in its extra fields.

Rules are tried in ascending ``priority``; the first that matches wins; none -> triage team.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
import yaml
from sqlalchemy.orm import Session

from rootline.clustering.models import Theme, ThemeMembership
from rootline.errors import InputError, NotFoundError
from rootline.ingest.models import Interaction
from rootline.rootcause.audit import record
from rootline.rootcause.models import RoutingRule, Team
from rootline.rootcause.teams import TEAM_KINDS, find_team, triage_team, user_by_email

__all__ = [
    "RouteDecision",
    "ThemeFacts",
    "conditions_text",
    "delete_rule",
    "export_rules_yaml",
    "gather_facts",
    "get_rule",
    "import_rules_yaml",
    "list_rules",
    "match_conditions",
    "parse_conditions",
    "preview_rule",
    "route",
    "route_themes",
    "save_rule",
]

_WORD = re.compile(r"[\w'-]+")


@dataclass
class ThemeFacts:
    """What rules look at: the themes' words and the majority value of each field asked for."""

    words: set[str] = field(default_factory=set)
    #: field -> (majority value, its share of the contacts that have the field, contacts)
    fields: dict[str, tuple[str, float, int]] = field(default_factory=dict)


@dataclass
class RouteDecision:
    """Where a problem goes and the reason, in words."""

    business_team_id: int | None
    is_team_id: int | None
    rule_id: int | None
    explanation: str


def _values(spec: Any) -> list[str]:
    items = spec if isinstance(spec, list | tuple) else [spec]
    return [str(v).strip().lower() for v in items if str(v).strip()]


def match_conditions(conditions: dict[str, Any], facts: ThemeFacts) -> list[str] | None:
    """The reasons a rule's conditions hold, one per condition, or None if one fails.

    An empty condition set matches everything (a catch-all rule).
    """
    reasons = []
    for key, spec in sorted(conditions.items()):
        wanted = _values(spec)
        if key == "keywords":
            hits = [w for w in wanted if w in facts.words]
            if not hits:
                return None
            reasons.append(f"keywords include {', '.join(repr(h) for h in hits)}")
            continue
        fact = facts.fields.get(key)
        if fact is None or fact[0].lower() not in wanted:
            return None
        value, share, count = fact
        reasons.append(f"{key} = {value!r} (majority, {share:.0%} of {count} contacts)")
    return reasons or ["catch-all rule (no conditions)"]


def route(rules: Sequence[RoutingRule], facts: ThemeFacts, triage_id: int) -> RouteDecision:
    """Try the enabled rules in priority order; the first match decides, else triage."""
    for rule in sorted(rules, key=lambda r: (r.priority, r.id or 0)):
        if not rule.enabled:
            continue
        reasons = match_conditions(rule.conditions or {}, facts)
        if reasons is not None:
            return RouteDecision(
                rule.business_team_id,
                rule.is_team_id,
                rule.id,
                f"rule {rule.name!r} (priority {rule.priority}) matched: " + "; ".join(reasons),
            )
    return RouteDecision(
        triage_id, triage_id, None, "no routing rule matched; sent to the triage team"
    )


def gather_facts(session: Session, theme_ids: Iterable[int], fields: Iterable[str]) -> ThemeFacts:
    """Words of the themes and the majority value of each field over their interactions."""
    ids = list(theme_ids)
    facts = ThemeFacts()
    for title, keywords in session.execute(
        sa.select(Theme.title, Theme.keywords).where(Theme.id.in_(ids))
    ):
        for text in [title or "", *(keywords or [])]:
            lowered = text.lower()
            facts.words.add(lowered)
            facts.words.update(_WORD.findall(lowered))
    wanted = sorted(set(fields) - {"keywords"})
    if not wanted:
        return facts
    counters: dict[str, Counter[str]] = {f: Counter() for f in wanted}
    rows = session.execute(
        sa.select(Interaction.channel, Interaction.extra)
        .join(ThemeMembership, ThemeMembership.interaction_id == Interaction.id)
        .where(ThemeMembership.theme_id.in_(ids))
    )
    for channel, extra in rows:
        for name in wanted:
            value = channel if name == "channel" else (extra or {}).get(name)
            if value not in (None, ""):
                counters[name][str(value)] += 1
    for name, counter in counters.items():
        if counter:
            value, top = counter.most_common(1)[0]
            total = sum(counter.values())
            facts.fields[name] = (value, top / total, total)
    return facts


def list_rules(session: Session) -> list[RoutingRule]:
    """Every rule in the order they are tried."""
    return list(
        session.scalars(sa.select(RoutingRule).order_by(RoutingRule.priority, RoutingRule.id))
    )


def route_themes(session: Session, theme_ids: Iterable[int]) -> RouteDecision:
    """Route a set of themes with the rules in the database."""
    ids = list(theme_ids)
    rules = [r for r in list_rules(session) if r.enabled]
    fields = {key for r in rules for key in (r.conditions or {})}
    facts = gather_facts(session, ids, fields)
    return route(rules, facts, triage_team(session).id)


def export_rules_yaml(session: Session) -> str:
    """The teams and rules as YAML, in the form ``import_rules_yaml`` reads."""
    teams = [
        {
            k: v
            for k, v in {
                "name": t.name,
                "kind": t.kind,
                "email": t.email,
                "webhook_url": t.webhook_url,
                "lead": t.lead.email if t.lead else None,
            }.items()
            if v
        }
        for t in sorted(session.scalars(sa.select(Team)), key=lambda t: (t.kind, t.name))
    ]
    rules = [
        {
            "name": r.name,
            "priority": r.priority,
            "enabled": r.enabled,
            "match": dict(r.conditions or {}),
            "business_team": r.business_team.name if r.business_team else None,
            "is_team": r.is_team.name if r.is_team else None,
        }
        for r in list_rules(session)
    ]
    return yaml.safe_dump({"teams": teams, "rules": rules}, sort_keys=False, allow_unicode=True)


def _check_match(name: str, match: Any) -> dict[str, Any]:
    if match is None:
        return {}
    if not isinstance(match, dict):
        raise InputError(f"rule {name!r}: 'match' must be a mapping of field to value(s)")
    for key, spec in match.items():
        items = spec if isinstance(spec, list) else [spec]
        if not items or any(isinstance(v, dict | list) or v is None for v in items):
            raise InputError(
                f"rule {name!r}: condition {key!r} must be a value or a list of values"
            )
    return {str(k): v for k, v in match.items()}


def import_rules_yaml(session: Session, text: str, actor: str = "system") -> list[RoutingRule]:
    """Load teams and rules from YAML; rules not in the file are removed (the file is the truth).

    Raises:
        InputError: if the YAML is malformed or names an unknown team.
    """
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rules", []), list):
        raise InputError("expected a mapping with a 'rules' list (and optionally 'teams')")
    for i, item in enumerate(doc.get("teams") or [], start=1):
        if not isinstance(item, dict) or not item.get("name"):
            raise InputError(f"team #{i} needs a name")
        kind = item.get("kind", "business")
        if kind not in TEAM_KINDS:
            raise InputError(f"team {item['name']!r}: kind must be one of {', '.join(TEAM_KINDS)}")
        team = session.scalar(sa.select(Team).where(Team.name == item["name"]))
        if team is None:
            team = Team(name=item["name"], kind=kind)
            session.add(team)
        team.kind, team.email, team.webhook_url = kind, item.get("email"), item.get("webhook_url")
        if item.get("lead"):
            team.lead = user_by_email(session, item["lead"])
    session.flush()
    existing = {r.name: r for r in list_rules(session)}
    kept: list[RoutingRule] = []
    for i, item in enumerate(doc.get("rules") or [], start=1):
        if not isinstance(item, dict) or not item.get("name"):
            raise InputError(f"rule #{i} needs a name")
        name = str(item["name"])
        rule = existing.pop(name, None)
        created = rule is None
        if rule is None:
            rule = RoutingRule(name=name)
            session.add(rule)
        before = {
            "priority": rule.priority,
            "enabled": rule.enabled,
            "conditions": rule.conditions,
            "business_team_id": rule.business_team_id,
            "is_team_id": rule.is_team_id,
        }
        rule.priority = int(item.get("priority", 100 + i))
        rule.enabled = bool(item.get("enabled", True))
        rule.conditions = _check_match(name, item.get("match"))
        biz, is_ = item.get("business_team"), item.get("is_team")
        rule.business_team_id = find_team(session, biz).id if biz else None
        rule.is_team_id = find_team(session, is_).id if is_ else None
        session.flush()
        after = {
            "priority": rule.priority,
            "enabled": rule.enabled,
            "conditions": rule.conditions,
            "business_team_id": rule.business_team_id,
            "is_team_id": rule.is_team_id,
        }
        if created:
            record(session, actor, "routing_rule", rule.id, "create", new=after)
        for key in after:
            if not created and before[key] != after[key]:
                record(
                    session, actor, "routing_rule", rule.id, "update", key, before[key], after[key]
                )
        kept.append(rule)
    for rule in existing.values():
        record(session, actor, "routing_rule", rule.id, "delete", old=rule.name)
        session.delete(rule)
    session.flush()
    return kept


_FIELDS = ("name", "priority", "enabled", "conditions", "business_team_id", "is_team_id")


def get_rule(session: Session, rule_id: int) -> RoutingRule:
    """A routing rule by id.

    Raises:
        NotFoundError: if there is no such rule.
    """
    rule = session.get(RoutingRule, rule_id)
    if rule is None:
        raise NotFoundError(f"no routing rule {rule_id}")
    return rule


def parse_conditions(text: str) -> dict[str, Any]:
    """Conditions from lines of ``field: value, value`` (as the rule form shows them).

    Raises:
        InputError: a line without a colon, a field without a name or without values.
    """
    conditions: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, colon, values = line.partition(":")
        key = key.strip().lower()
        items = [v.strip() for v in values.split(",") if v.strip()]
        if not colon or not key or not items:
            raise InputError(
                f"line {number}: write a condition as 'field: value' or 'field: a, b'",
                field="conditions",
            )
        if key in conditions:
            raise InputError(f"line {number}: {key!r} is given twice", field="conditions")
        conditions[key] = items if len(items) > 1 else items[0]
    return conditions


def conditions_text(conditions: dict[str, Any] | None) -> str:
    """The conditions as the lines :func:`parse_conditions` reads."""
    lines = []
    for key, spec in (conditions or {}).items():
        values = spec if isinstance(spec, list) else [spec]
        lines.append(f"{key}: {', '.join(str(v) for v in values)}")
    return "\n".join(lines)


def _team_id(
    session: Session, team_id: int | None, kinds: tuple[str, ...], role: str
) -> int | None:
    if team_id is None:
        return None
    team = find_team(session, team_id)
    if team.kind not in kinds:
        words = {"business": "a business", "is": "an IS", "triage": "a triage", "board": "a board"}
        raise InputError(
            f"{team.name} is {words.get(team.kind, team.kind)} team; the {role} team must be "
            f"{' or '.join(words.get(k, k) for k in kinds)} team",
            field=f"{role.split()[0]}_team_id",
        )
    return team.id


def save_rule(
    session: Session,
    rule_id: int | None,
    *,
    name: str,
    priority: int,
    enabled: bool,
    conditions: dict[str, Any],
    business_team_id: int | None,
    is_team_id: int | None,
    actor: str,
) -> RoutingRule:
    """Add a rule (``rule_id`` None) or change one; every changed field is audited.

    Raises:
        NotFoundError: no such rule or team.
        InputError: no name, a name another rule has, a team of the wrong kind, or conditions
            that are not values or lists of values.
    """
    name = " ".join(name.split())
    if not name:
        raise InputError("a routing rule needs a name", field="name")
    taken = session.scalar(sa.select(RoutingRule.id).where(RoutingRule.name == name))
    if taken is not None and taken != rule_id:
        raise InputError(f"another routing rule is named {name!r}", field="name")
    after = {
        "name": name,
        "priority": int(priority),
        "enabled": bool(enabled),
        "conditions": _check_match(name, conditions),
        "business_team_id": _team_id(
            session, business_team_id, ("business", "triage"), "business owner"
        ),
        "is_team_id": _team_id(session, is_team_id, ("is", "triage"), "is owner"),
    }
    if rule_id is None:
        rule = RoutingRule(**after)
        session.add(rule)
        session.flush()
        record(session, actor, "routing_rule", rule.id, "create", new=after)
        return rule
    rule = get_rule(session, rule_id)
    for key in _FIELDS:
        if getattr(rule, key) != after[key]:
            record(
                session,
                actor,
                "routing_rule",
                rule.id,
                "update",
                key,
                getattr(rule, key),
                after[key],
            )
            setattr(rule, key, after[key])
    session.flush()
    return rule


def delete_rule(session: Session, rule_id: int, *, actor: str) -> str:
    """Remove a rule (audited); problems it routed keep their owners. Returns its name.

    Raises:
        NotFoundError: no such rule.
    """
    rule = get_rule(session, rule_id)
    name = rule.name
    record(session, actor, "routing_rule", rule.id, "delete", old=name)
    session.delete(rule)
    session.flush()
    return name


def preview_rule(
    session: Session, rule: RoutingRule, theme_id: int
) -> tuple[list[str] | None, RouteDecision]:
    """How ``rule`` judges a theme, and where the rules as a whole would send it.

    Returns:
        The rule's reasons (None: it does not match, or it is disabled), and the decision of
        every enabled rule in order, as a new problem on the theme would be routed.
    """
    facts = gather_facts(session, [theme_id], list((rule.conditions or {}).keys()))
    reasons = match_conditions(rule.conditions or {}, facts) if rule.enabled else None
    return reasons, route_themes(session, [theme_id])
