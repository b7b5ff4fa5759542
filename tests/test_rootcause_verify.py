"""Fix verification on generated timelines, and the recurrence watch that reopens problems."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.errors import StateError
from rootline.rootcause import service
from rootline.rootcause.models import Notification, Problem
from rootline.rootcause.teams import create_team
from rootline.rootcause.verification import compare_rates, verify_problem
from rootline.rootcause.watch import check_recurrence, verify_resolved
from tests.factories import ThemeFactory, add_timeline

START = datetime(2026, 6, 1, tzinfo=UTC)
FIX_DAY = 28
FIX = START + timedelta(days=FIX_DAY)


def _setup(
    session: Session,
    *,
    factor_after: float,
    days_after: int,
    theme_per_day: float = 5.0,
    other_per_day: float = 45.0,
) -> Problem:
    """A theme at ``theme_per_day`` among ``other_per_day`` other contacts; after the fix day
    the theme runs at ``factor_after`` of its volume."""
    ThemeFactory._meta.sqlalchemy_session = session
    theme = ThemeFactory(title="Checkout fails", keywords=["checkout"])
    days = FIX_DAY + days_after
    add_timeline(
        session,
        theme,
        start=START,
        days=days,
        per_day=theme_per_day,
        change_day=FIX_DAY,
        factor_after=factor_after,
        tag="theme",
    )
    add_timeline(session, None, start=START, days=days, per_day=other_per_day, tag="other")
    problem = service.create_problem(session, [theme.id], actor="lead@x.org")
    service.record_fix(session, problem.id, FIX.date(), description="new form", actor="is@x.org")
    return problem


def test_z_test_figures() -> None:
    z, p = compare_rates(70, 700, 7, 637)
    assert z > 5 and p < 1e-6
    z, p = compare_rates(70, 700, 70, 700)
    assert z == 0 and p == pytest.approx(0.5)
    assert compare_rates(0, 0, 1, 10) == (0.0, 1.0)


@pytest.mark.parametrize("days_after", [7, 14])
def test_drop_to_a_tenth_is_verified_within_two_weeks(session: Session, days_after: int) -> None:
    problem = _setup(session, factor_after=0.1, days_after=days_after)
    result = verify_problem(session, problem.id)
    assert result.verdict == "verified", result.reason
    assert result.window_days == days_after
    assert result.before_theme_contacts == 5 * days_after
    assert result.before_rate == pytest.approx(0.1)
    assert result.after_rate < 0.02 and result.relative_change < -0.8
    assert result.p_value < 0.001


def test_unchanged_theme_fails_verification(session: Session) -> None:
    problem = _setup(session, factor_after=1.0, days_after=14)
    result = verify_problem(session, problem.id)
    assert result.verdict == "failed"
    assert result.before_rate == pytest.approx(result.after_rate, rel=0.05)
    assert result.p_value > 0.05


def test_a_drop_under_half_is_not_enough(session: Session) -> None:
    problem = _setup(session, factor_after=0.6, days_after=28, theme_per_day=20)
    result = verify_problem(session, problem.id)
    assert result.p_value < 0.05  # significant, yet too small a drop to call it fixed
    assert result.verdict == "failed" and "drop under 50%" in result.reason


def test_too_little_data_is_not_yet(session: Session) -> None:
    problem = _setup(session, factor_after=0.1, days_after=3)
    result = verify_problem(session, problem.id)
    assert result.verdict == "not_yet" and result.window_days == 3
    assert "7 are needed" in result.reason


def test_too_few_expected_contacts_is_not_yet(session: Session) -> None:
    problem = _setup(session, factor_after=0.0, days_after=10, theme_per_day=0.5)
    result = verify_problem(session, problem.id)
    assert result.verdict == "not_yet"
    assert result.expected_after is not None and result.expected_after < 10


def test_window_is_capped_at_28_days(session: Session) -> None:
    problem = _setup(session, factor_after=0.1, days_after=40)
    result = verify_problem(session, problem.id)
    assert result.window_days == 28 and result.verdict == "verified"


def test_verify_needs_a_fix_date(session: Session) -> None:
    ThemeFactory._meta.sqlalchemy_session = session
    problem = service.create_problem(session, [ThemeFactory().id], actor="x")
    with pytest.raises(StateError, match="no fix date"):
        verify_problem(session, problem.id)


def _resolve(session: Session, problem: Problem) -> None:
    for target in ("assessed", "root_cause_analysis"):
        service.transition(session, problem.id, target, actor="x")
    service.update_problem(session, problem.id, {"root_cause": "form bug"}, actor="x")
    service.transition(session, problem.id, "fix_in_progress", actor="x")
    service.transition(session, problem.id, "resolved", actor="x")


def test_worker_verifies_then_reopens_on_recurrence_and_notifies(session: Session) -> None:
    problem = _setup(session, factor_after=0.1, days_after=14)
    team = create_team(session, "Web shop", "business", email="shop@x.org")
    service.assign(session, problem.id, business=team.name, actor="x")
    _resolve(session, problem)
    results = verify_resolved(session)
    assert [r.verdict for r in results] == ["verified"]
    assert problem.state == "verified" and problem.baseline_rate == pytest.approx(0.1)
    assert check_recurrence(session)[0].reopened is False

    # The theme comes back at its old volume for a week.
    theme = problem.themes[0]
    add_timeline(session, theme, start=START + timedelta(days=42), days=7, per_day=5, tag="back")
    add_timeline(
        session, None, start=START + timedelta(days=42), days=7, per_day=45, tag="other-back"
    )
    checks = check_recurrence(session, share=0.5)
    assert checks[0].reopened and checks[0].recent_rate == pytest.approx(0.1, rel=0.05)
    assert problem.state == "reopened" and problem.reopen_count == 1
    sent = session.scalars(
        sa.select(Notification).where(Notification.event == "problem.reopened")
    ).all()
    assert [(n.kind, n.target) for n in sent] == [("email", "shop@x.org")]
    assert "contacts are back" in sent[0].payload["text"]
    assert check_recurrence(session) == []  # nothing verified any more: no second reopen


def test_verified_only_when_the_data_says_so(session: Session) -> None:
    """A person cannot mark a failed fix verified; a lead may accept it, with an audited reason."""
    from rootline.errors import InputError
    from rootline.rootcause.audit import history
    from rootline.rootcause.verification import move_problem

    problem = _setup(session, factor_after=1.0, days_after=14)
    _resolve(session, problem)
    assert verify_problem(session, problem.id).verdict == "failed"
    with pytest.raises(StateError, match="data does not show the fix working"):
        move_problem(session, problem.id, "verified", actor="lead@x.org")
    with pytest.raises(StateError, match="verified by the data"):
        service.transition(session, problem.id, "verified", actor="lead@x.org")
    with pytest.raises(InputError, match="needs a reason"):
        move_problem(session, problem.id, "verified", actor="lead@x.org", accept_without_data=True)
    assert problem.state == "resolved"
    move_problem(
        session,
        problem.id,
        "verified",
        actor="lead@x.org",
        accept_without_data=True,
        reason="contacts moved to the new chat bot; the page is fixed",
    )
    assert problem.state == "verified"
    comments = [c.body for c in problem.comments]
    assert any("accepted without data evidence" in c and "failed" in c for c in comments)
    assert [e.new_value for e in history(session, "problem", problem.id) if e.field == "state"][
        -1
    ] == "verified"


def test_a_working_fix_is_verified_by_the_data(session: Session) -> None:
    from rootline.rootcause.verification import move_problem

    problem = _setup(session, factor_after=0.1, days_after=14)
    _resolve(session, problem)
    move_problem(session, problem.id, "verified", actor="lead@x.org")
    assert problem.state == "verified"
    assert any("fix verified in the data" in c.body for c in problem.comments)
