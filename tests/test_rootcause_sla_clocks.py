"""SLA clocks as people read them: met, done late, overdue, time left; on the problem page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from rootline.rootcause.audit import in_words
from rootline.rootcause.models import AuditEvent, Problem, SlaBreach
from rootline.rootcause.service import add_task, create_problem
from rootline.rootcause.sla import Policy, clocks
from tests.factories import ThemeFactory
from tests.test_web_pages import (  # noqa: F401  (fixtures)
    anonymous,
    app,
    login,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
POLICY = Policy(assess=4, root_cause=48, fix=7 * 24)


def _problem(**stamps: datetime | None) -> Problem:
    return Problem(created_at=T0, reopen_count=0, **stamps)


def test_each_status_by_hand() -> None:
    # Assessed 1 h early, root cause found 10 h late, the fix not shipped 8 d 3 h after creation.
    p = _problem(assessed_at=T0 + timedelta(hours=3), root_caused_at=T0 + timedelta(hours=58))
    now = T0 + timedelta(days=8, hours=3)
    got = {c.stage: (c.status, c.hours, c.words) for c in clocks(p, POLICY, now)}
    assert got == {
        "assess": ("met", 1.0, "met"),
        "root_cause": ("late", 10.0, "done 10 h late"),
        "fix": ("breached", 27.0, "overdue by 1 d 3 h"),
    }
    early = {c.stage: c.words for c in clocks(_problem(), POLICY, T0 + timedelta(hours=1))}
    assert early == {"assess": "3 h left", "root_cause": "1 d 23 h left", "fix": "6 d 23 h left"}


def test_the_problem_page_says_which_stage_is_late(
    anonymous: TestClient,  # noqa: F811
    session: Session,
) -> None:
    ThemeFactory._meta.sqlalchemy_session = session
    theme = ThemeFactory()
    problem = create_problem(session, [theme.id], actor="lead@example.com")
    problem.created_at = datetime.now(UTC) - timedelta(days=400)  # every stage long past due
    problem.assessed_at = problem.created_at + timedelta(hours=1)
    session.flush()
    login(anonymous, session, "viewer")
    page = BeautifulSoup(anonymous.get(f"/problems/{problem.id}").text, "html.parser")
    rows = {
        r.find_all("td")[0].get_text(): (r["class"][0], r.find_all("td")[3].get_text())
        for r in page.select("table.sla tbody tr")
    }
    assert rows["assess"] == ("sla-met", "met")
    assert rows["root cause"][0] == "sla-breached"
    assert rows["root cause"][1].startswith("overdue by ")
    detail = anonymous.get(f"/api/problems/{problem.id}").json()
    fix = next(c for c in detail["sla"] if c["stage"] == "fix")
    assert fix["status"] == "breached" and fix["hours"] > 24 * 300


def test_the_audit_trail_in_words() -> None:
    teams = {3: "Payments", 7: "Web shop"}

    def said(
        action: str, field: str | None, old: object, new: object, actor: str = "lead@x"
    ) -> str:
        event = AuditEvent(
            actor=actor, object_type="problem", object_id=1, action=action, field=field,
            old_value=old, new_value=new,
        )  # fmt: skip
        return in_words(event, teams)

    assert said("assign", "business_team_id", 3, 7) == (
        "lead@x changed the business team from Payments to Web shop"
    )
    assert (
        said("assign", "is_team_id", None, 3)
        == "lead@x changed the IS team from no team to Payments"
    )
    assert (
        said("transition", "state", "new", "assessed") == 'lead@x moved it from "new" to "assessed"'
    )
    assert said("update", "root_cause", None, "Gateway timeout") == (
        'lead@x set the root cause to "Gateway timeout"'
    )
    assert said("update", "priority", "P3", "P1") == 'lead@x changed the priority from "P3" to "P1"'
    breach = said(
        "sla_breach", "root_cause", None, {"due": "2026-11-04", "escalated_to": ["a@x", "b@x"]},
        actor="worker",
    )  # fmt: skip
    assert breach == "the worker escalated the overdue root cause stage to a@x, b@x"


def test_board_cards_flag_overdue_and_escalated_problems(
    anonymous: TestClient,  # noqa: F811
    session: Session,
) -> None:
    ThemeFactory._meta.sqlalchemy_session = session
    late = create_problem(session, [ThemeFactory().id], title="Late one", actor="lead@x")
    fresh = create_problem(session, [ThemeFactory().id], title="Fresh one", actor="lead@x")
    late.created_at = datetime.now(UTC) - timedelta(days=10)
    session.add(
        SlaBreach(problem_id=late.id, stage="assess", due_at=late.created_at, escalated_to=[])
    )
    session.flush()
    login(anonymous, session, "viewer")
    page = BeautifulSoup(anonymous.get("/problems").text, "html.parser")
    card = page.select_one(f"#problem-{late.id}")
    assert card.select_one(".flag.breach").get_text().startswith("SLA: assess overdue by ")
    assert card.select_one(".flag.escalated").get_text() == "escalated 1×"
    calm = page.select_one(f"#problem-{fresh.id}")
    assert calm.select_one(".flag") is None


def test_my_tasks_flags_overdue_tasks(
    anonymous: TestClient,  # noqa: F811
    session: Session,
) -> None:
    ThemeFactory._meta.sqlalchemy_session = session
    problem = create_problem(session, [ThemeFactory().id], title="Tasks", actor="lead@x")
    user = login(anonymous, session, "is_owner")
    today = datetime.now(UTC).date()
    add_task(session, problem.id, "Late task", owner_user_id=user.id,
             due_date=today - timedelta(days=3), actor="lead@x")  # fmt: skip
    add_task(session, problem.id, "Future task", owner_user_id=user.id,
             due_date=today + timedelta(days=3), actor="lead@x")  # fmt: skip
    session.flush()
    page = BeautifulSoup(anonymous.get("/tasks").text, "html.parser")
    rows = {r.find("td").get_text(): r for r in page.select("table.tasks tbody tr")}
    assert rows["Late task"].select_one(".flag").get_text() == "overdue by 3 days"
    assert rows["Future task"].select_one(".flag") is None
