"""The worker: SLA breaches escalated once (also across restarts), automatic problems, and the
service pieces it relies on (tasks, comments, known errors, UX backlog)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from rootline.config import Settings
from rootline.errors import InputError
from rootline.rootcause import service
from rootline.rootcause.knowledge import (
    known_errors_for_interaction,
    known_errors_for_theme,
    search_known_errors,
)
from rootline.rootcause.models import Notification, Problem, SlaBreach
from rootline.rootcause.sla import Policy, set_policy
from rootline.rootcause.teams import add_member, create_team, create_user
from rootline.rootcause.worker import run_once
from tests.factories import ThemeFactory, add_timeline

T0 = datetime(2026, 8, 3, 9, 0, tzinfo=UTC)


def _sessions(session: Session) -> sessionmaker[Session]:
    # The worker commits; on the test's connection each commit only releases a savepoint, so
    # the test's rollback still undoes everything.
    return sessionmaker(
        bind=session.connection(), join_transaction_mode="create_savepoint", expire_on_commit=False
    )


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(
        data_dir=tmp_path,
        embedder="hashing",
        _env_file=None,  # type: ignore[call-arg]
        **{"problem_auto_threshold": 0, **kw},
    )


def _owned_problem(session: Session) -> Problem:
    ThemeFactory._meta.sqlalchemy_session = session
    lead = create_user(session, "lead@x.org", "Lena", "product_owner")
    it_lead = create_user(session, "it@x.org", "Ivan", "is_owner")
    create_team(session, "Web shop", "business", lead_email=lead.email)
    create_team(session, "Shop IS", "is", lead_email=it_lead.email, email="shop-is@x.org")
    theme = ThemeFactory(title="Checkout fails")
    problem = service.create_problem(session, [theme.id], actor="x", now=T0)
    service.assign(session, problem.id, business="Web shop", is_team="Shop IS", actor="x", now=T0)
    service.update_problem(session, problem.id, {"priority": "P1"}, actor="x", now=T0)
    return problem


def _breaches(session: Session) -> list[tuple[str, int]]:
    return [
        (b.stage, b.cycle) for b in session.scalars(sa.select(SlaBreach).order_by(SlaBreach.id))
    ]


def test_sla_breach_is_escalated_once_across_restarts(session: Session, tmp_path: Path) -> None:
    problem = _owned_problem(session)
    settings = _settings(tmp_path)
    assert run_once(_sessions(session), settings, now=T0 + timedelta(hours=3)).sla_breaches == 0
    report = run_once(_sessions(session), settings, now=T0 + timedelta(hours=5))
    assert report.sla_breaches == 1 and _breaches(session) == [("assess", 0)]
    mails = session.scalars(
        sa.select(Notification).where(Notification.event == "problem.sla_breached")
    ).all()
    assert sorted(n.target for n in mails) == ["it@x.org", "lead@x.org", "shop-is@x.org"]
    assert all(n.status == "pending" for n in mails)  # no SMTP configured: kept, not lost
    # A new worker process (new session factory) finds the breach in the database.
    for hours in (6, 7):
        again = run_once(_sessions(session), settings, now=T0 + timedelta(hours=hours))
        assert again.sla_breaches == 0
    assert _breaches(session) == [("assess", 0)]
    # Assessing stops that clock; the root-cause clock (48 h for P1) runs on.
    service.transition(session, problem.id, "assessed", actor="x", now=T0 + timedelta(hours=8))
    assert run_once(_sessions(session), settings, now=T0 + timedelta(hours=49)).sla_breaches == 1
    assert _breaches(session) == [("assess", 0), ("root_cause", 0)]


def test_stored_policy_overrides_the_default(session: Session, tmp_path: Path) -> None:
    _owned_problem(session)
    set_policy(session, "P1", Policy(assess=10, root_cause=48, fix=100))
    with pytest.raises(InputError):
        set_policy(session, "P9", Policy(1, 1, 1))
    settings = _settings(tmp_path)
    assert run_once(_sessions(session), settings, now=T0 + timedelta(hours=5)).sla_breaches == 0
    assert run_once(_sessions(session), settings, now=T0 + timedelta(hours=11)).sla_breaches == 1


def test_worker_opens_problems_for_high_impact_themes(session: Session, tmp_path: Path) -> None:
    ThemeFactory._meta.sqlalchemy_session = session
    big, small = ThemeFactory(title="Login loop"), ThemeFactory(title="Font too small")
    add_timeline(session, big, start=T0, days=20, per_day=30, tag="big")
    add_timeline(session, small, start=T0, days=20, per_day=0.2, tag="small")
    settings = _settings(tmp_path, problem_auto_threshold=20)
    report = run_once(_sessions(session), settings, now=T0 + timedelta(days=21))
    assert report.problems_created == 1
    (problem,) = session.scalars(sa.select(Problem)).all()
    assert problem.theme_ids == [big.id] and problem.auto_created
    assert "reached the threshold 20" in problem.description
    assert run_once(_sessions(session), settings).problems_created == 0  # never twice


def test_tasks_comments_known_errors_and_ux_backlog(session: Session) -> None:
    ThemeFactory._meta.sqlalchemy_session = session
    team = create_team(session, "Shop IS", "is")
    me = create_user(session, "me@x.org", role="is_owner")
    add_member(session, team, me)
    theme = ThemeFactory(title="Checkout button hidden", keywords=["checkout", "button"])
    add_timeline(session, theme, start=T0, days=2, per_day=2, tag="ux")
    problem = service.create_problem(session, [theme.id], actor="x", tags=["UX"])
    other = service.create_problem(session, [ThemeFactory().id], actor="x")

    late = service.add_task(
        session,
        problem.id,
        "Move the button",
        owner_team="Shop IS",
        due_date=date(2026, 9, 1),
        actor="x",
    )
    soon = service.add_task(
        session,
        problem.id,
        "Check analytics",
        owner_user_id=me.id,
        due_date=date(2026, 8, 20),
        actor="x",
    )
    service.add_task(
        session,
        other.id,
        "Someone else's",
        owner_team="Shop IS",
        owner_user_id=create_user(session, "you@x.org").id,
        actor="x",
    )
    assert [t.id for t in service.my_tasks(session, me.id)] == [soon.id, late.id]
    service.set_task_state(session, soon.id, "done", actor="me@x.org")
    assert [t.id for t in service.my_tasks(session, me.id)] == [late.id]
    with pytest.raises(InputError):
        service.set_task_state(session, late.id, "finished", actor="x")

    service.add_comment(session, problem.id, "Seen on mobile only", actor="me@x.org")
    with pytest.raises(InputError):
        service.add_comment(session, problem.id, "  ", actor="x")

    assert known_errors_for_theme(session, theme.id) == []
    service.update_problem(
        session,
        problem.id,
        {
            "root_cause": "Cookie banner covers the checkout button on small screens",
            "workaround": "Scroll down or rotate the phone",
        },
        actor="me@x.org",
    )
    (article,) = known_errors_for_theme(session, theme.id)
    assert article.workaround == "Scroll down or rotate the phone"
    assert search_known_errors(session, "cookie CHECKOUT") == [article]
    assert search_known_errors(session, "cookie refund") == []
    interaction_id = session.scalar(
        sa.text("SELECT interaction_id FROM theme_membership WHERE theme_id = :t LIMIT 1"),
        {"t": theme.id},
    )
    assert known_errors_for_interaction(session, interaction_id) == [article]

    assert [p.id for p in service.ux_backlog(session)] == [problem.id]
    assert problem.tags == ["ux"]
