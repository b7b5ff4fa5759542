"""Problem life cycle: every legal and illegal transition, readiness guards, optimistic locking."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import product

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.errors import ConflictError, StateError
from rootline.rootcause import service
from rootline.rootcause.audit import history
from rootline.rootcause.models import Problem
from rootline.rootcause.states import STATES, TRANSITIONS, check_transition
from tests.factories import ThemeFactory

LEGAL = {
    ("new", "assessed"),
    ("new", "closed_wont_fix"),
    ("assessed", "root_cause_analysis"),
    ("assessed", "closed_wont_fix"),
    ("root_cause_analysis", "fix_in_progress"),
    ("root_cause_analysis", "closed_wont_fix"),
    ("fix_in_progress", "resolved"),
    ("fix_in_progress", "closed_wont_fix"),
    ("resolved", "verified"),
    ("resolved", "reopened"),
    ("verified", "reopened"),
    ("reopened", "root_cause_analysis"),
    ("reopened", "closed_wont_fix"),
}


@dataclass
class _Facts:
    state: str
    root_cause: str | None = "a cause"
    fixed_at: object | None = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_transition_table_is_the_documented_life_cycle() -> None:
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == LEGAL


@pytest.mark.parametrize(("current", "target"), sorted(product(STATES, STATES)))
def test_every_pair_of_states(current: str, target: str) -> None:
    if (current, target) in LEGAL:
        check_transition(_Facts(current), target)
    else:
        with pytest.raises(StateError, match=f"cannot go from {current} to {target}"):
            check_transition(_Facts(current), target)


def test_unknown_state_and_readiness_guards() -> None:
    with pytest.raises(StateError, match="unknown state 'done'"):
        check_transition(_Facts("new"), "done")
    with pytest.raises(StateError, match="root cause"):
        check_transition(_Facts("root_cause_analysis", root_cause=" "), "fix_in_progress")
    with pytest.raises(StateError, match="record the fix"):
        check_transition(_Facts("fix_in_progress", fixed_at=None), "resolved")
    with pytest.raises(StateError, match="final"):
        check_transition(_Facts("closed_wont_fix"), "reopened")


def _problem(session: Session) -> Problem:
    ThemeFactory._meta.sqlalchemy_session = session
    theme = ThemeFactory(title="Checkout fails", keywords=["checkout", "payment"])
    return service.create_problem(session, [theme.id], actor="lead@example.com")


def test_full_life_cycle_through_the_service_is_audited(session: Session) -> None:
    problem = _problem(session)
    assert problem.state == "new" and problem.version == 1
    service.transition(session, problem.id, "assessed", actor="a@x.org")
    service.transition(session, problem.id, "root_cause_analysis", actor="a@x.org")
    with pytest.raises(StateError, match="root cause"):
        service.transition(session, problem.id, "fix_in_progress", actor="a@x.org")
    service.update_problem(
        session, problem.id, {"root_cause": "Payment form times out"}, actor="is@x.org"
    )
    service.transition(session, problem.id, "fix_in_progress", actor="is@x.org")
    service.record_fix(
        session, problem.id, "2026-10-01", description="longer timeout", actor="is@x.org"
    )
    assert problem.state == "resolved" and problem.fixed_at is not None
    service.transition(session, problem.id, "verified", actor="worker", evidence="data")
    service.transition(session, problem.id, "reopened", actor="worker", reason="contacts back")
    assert problem.reopen_count == 1 and problem.resolved_at is None
    with pytest.raises(StateError, match="cannot go from reopened to resolved"):
        service.transition(session, problem.id, "resolved", actor="a@x.org")
    service.transition(session, problem.id, "closed_wont_fix", actor="a@x.org")
    states = [
        (e.old_value, e.new_value)
        for e in history(session, "problem", problem.id)
        if e.field == "state"
    ]
    assert states == [
        ("new", "assessed"),
        ("assessed", "root_cause_analysis"),
        ("root_cause_analysis", "fix_in_progress"),
        ("fix_in_progress", "resolved"),
        ("resolved", "verified"),
        ("verified", "reopened"),
        ("reopened", "closed_wont_fix"),
    ]
    assert all(e.actor and e.at for e in history(session, "problem", problem.id))
    assert problem.comments[-1].body.endswith("contacts back")


def test_saving_a_stale_version_is_refused(session: Session) -> None:
    problem = _problem(session)
    seen = problem.version
    service.update_problem(
        session,
        problem.id,
        {"title": "Checkout times out"},
        actor="one@x.org",
        expected_version=seen,
    )
    assert problem.version == seen + 1
    with pytest.raises(ConflictError, match="someone else"):
        service.update_problem(
            session, problem.id, {"title": "Mine"}, actor="two@x.org", expected_version=seen
        )
    # A concurrent writer bumps the row behind this session's back: the flush is refused.
    session.execute(
        sa.update(Problem)
        .where(Problem.id == problem.id)
        .values(version=Problem.version + 1)
        .execution_options(synchronize_session=False)
    )
    with pytest.raises(ConflictError, match="changed by someone else"):
        service.update_problem(session, problem.id, {"title": "Lost update"}, actor="two@x.org")


def test_audit_events_cannot_be_changed(session: Session) -> None:
    problem = _problem(session)
    event = history(session, "problem", problem.id)[0]
    event.actor = "someone else"
    with pytest.raises(RuntimeError, match="append-only"):
        session.flush()
