"""Did the fix work? Compare the theme's share of all contacts before and after the fix date.

The test: over equal windows before and after the fix (each ``min(28, whole days since the
fix)`` days), the theme's contacts ``x`` out of all contacts ``n`` give the contact rates
``p = x / n`` (normalising by total volume, so a quiet week does not pass for a fix). A one-sided
two-proportion z-test asks whether the rate fell (alpha 0.05), and the drop must be at least
50% to count. Verdicts:

* ``not_yet`` — fewer than 7 days of data after the fix, or fewer than 10 theme contacts
  expected after it at the old rate (too little to tell either way);
* ``verified`` — the rate fell significantly and by at least half;
* ``failed`` — enough data, and no such drop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.models import ThemeMembership
from rootline.errors import InputError, StateError
from rootline.ingest.models import Interaction
from rootline.rootcause.models import Problem
from rootline.rootcause.service import get_problem, transition

__all__ = [
    "ALPHA",
    "MAX_WINDOW_DAYS",
    "MIN_DROP",
    "MIN_EXPECTED",
    "MIN_WINDOW_DAYS",
    "Verification",
    "compare_rates",
    "contact_counts",
    "data_horizon",
    "move_problem",
    "verify_problem",
]

ALPHA = 0.05
MIN_DROP = 0.5
MIN_WINDOW_DAYS, MAX_WINDOW_DAYS = 7, 28
MIN_EXPECTED = 10.0
TEST_NAME = "one-sided two-proportion z-test (pooled), alpha 0.05, drop >= 50%"


@dataclass
class Verification:
    """The verdict on a fix and every figure behind it."""

    problem_id: int
    verdict: str
    reason: str
    test: str
    fixed_at: str
    as_of: str
    window_days: int
    before_theme_contacts: int = 0
    before_all_contacts: int = 0
    after_theme_contacts: int = 0
    after_all_contacts: int = 0
    before_rate: float | None = None
    after_rate: float | None = None
    before_per_day: float | None = None
    after_per_day: float | None = None
    relative_change: float | None = None
    expected_after: float | None = None
    z: float | None = None
    p_value: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready figures."""
        return asdict(self)


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def data_horizon(session: Session) -> datetime | None:
    """The time of the newest interaction: how far the data reaches."""
    latest = session.scalar(sa.select(sa.func.max(Interaction.created_at)))
    return _aware(latest) if latest is not None else None


def _end_of_data_day(latest: datetime) -> datetime:
    # Data through some time on a day counts as that whole day: the rates compare shares of
    # contacts, so a part day does not bias them, and waiting for midnight would lose a day.
    day = latest.astimezone(UTC).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def contact_counts(
    session: Session, theme_ids: Sequence[int], start: datetime, end: datetime
) -> tuple[int, int]:
    """(theme contacts, all contacts) created in ``[start, end)``."""
    in_range = sa.and_(Interaction.created_at >= start, Interaction.created_at < end)
    total = session.scalar(sa.select(sa.func.count(Interaction.id)).where(in_range)) or 0
    themed = (
        session.scalar(
            sa.select(sa.func.count(sa.distinct(Interaction.id)))
            .join(ThemeMembership, ThemeMembership.interaction_id == Interaction.id)
            .where(in_range, ThemeMembership.theme_id.in_(list(theme_ids)))
        )
        or 0
    )
    return int(themed), int(total)


def compare_rates(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    """One-sided two-proportion z-test that the rate after (x2/n2) is below the rate before.

    Returns:
        (z, p-value); z > 0 when the rate fell.
    """
    if n1 == 0 or n2 == 0:
        return 0.0, 1.0
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0
    z = (x1 / n1 - x2 / n2) / se
    return z, 0.5 * math.erfc(z / math.sqrt(2))  # upper tail of the standard normal


def verify_problem(
    session: Session, problem_id: int, as_of: datetime | None = None
) -> Verification:
    """Judge a problem's fix from the contact rates before and after its fix date.

    Args:
        session: database session.
        problem_id: the problem.
        as_of: the end of the data to use; default: the end of the day (UTC) of the newest
            interaction.

    Raises:
        NotFoundError: if there is no such problem.
        StateError: if no fix date is recorded.
    """
    problem = get_problem(session, problem_id)
    return _verify(session, problem, as_of)


def _verify(session: Session, problem: Problem, as_of: datetime | None) -> Verification:
    if problem.fixed_at is None:
        raise StateError(
            f"problem #{problem.id} has no fix date; record it with "
            "rootline problems fix ID --date YYYY-MM-DD"
        )
    fixed = _aware(problem.fixed_at)
    end = _aware(as_of) if as_of else _end_of_data_day(data_horizon(session) or fixed)
    days = max(0, math.floor((end - fixed).total_seconds() / 86400))
    window = min(MAX_WINDOW_DAYS, days)
    result = Verification(
        problem_id=problem.id,
        verdict="not_yet",
        reason="",
        test=TEST_NAME,
        fixed_at=fixed.isoformat(),
        as_of=end.isoformat(),
        window_days=window,
    )
    if window < MIN_WINDOW_DAYS:
        result.reason = (
            f"only {days} full day(s) of data since the fix; {MIN_WINDOW_DAYS} are needed"
        )
        return result
    span = timedelta(days=window)
    x1, n1 = contact_counts(session, problem.theme_ids, fixed - span, fixed)
    x2, n2 = contact_counts(session, problem.theme_ids, fixed, fixed + span)
    p1 = x1 / n1 if n1 else 0.0
    p2 = x2 / n2 if n2 else 0.0
    z, p_value = compare_rates(x1, n1, x2, n2)
    result.before_theme_contacts, result.before_all_contacts = x1, n1
    result.after_theme_contacts, result.after_all_contacts = x2, n2
    result.before_rate, result.after_rate = round(p1, 6), round(p2, 6)
    result.before_per_day, result.after_per_day = round(x1 / window, 3), round(x2 / window, 3)
    result.relative_change = round(p2 / p1 - 1, 4) if p1 else None
    result.expected_after = round(p1 * n2, 2)
    result.z, result.p_value = round(z, 4), float(f"{p_value:.4g}")
    if p1 * n2 < MIN_EXPECTED:
        result.reason = (
            f"at the old rate only {p1 * n2:.1f} theme contacts were expected in "
            f"the {window} days after the fix; {MIN_EXPECTED:.0f} are needed"
        )
        return result
    dropped_enough = p2 <= (1 - MIN_DROP) * p1
    if p_value < ALPHA and dropped_enough:
        result.verdict = "verified"
        result.reason = (
            f"contact rate fell from {p1:.2%} to {p2:.2%} of all contacts "
            f"({result.relative_change:+.0%}), p = {p_value:.2g}"
        )
    else:
        result.verdict = "failed"
        why = "not significant" if p_value >= ALPHA else f"a drop under {MIN_DROP:.0%}"
        result.reason = (
            f"contact rate went from {p1:.2%} to {p2:.2%} over {window} days: "
            f"{why} (p = {p_value:.2g})"
        )
    return result


def move_problem(
    session: Session,
    problem_id: int,
    target: str,
    *,
    actor: str,
    expected_version: int | None = None,
    reason: str | None = None,
    accept_without_data: bool = False,
    now: datetime | None = None,
) -> Problem:
    """Move a problem as a person asks; ``verified`` only when the data says so.

    Moving to ``verified`` runs the verification: a ``verified`` verdict moves it; otherwise
    the move is refused, unless ``accept_without_data`` is set with a reason, which is kept
    in the audit trail and the comments as "accepted without data evidence" (the caller
    checks that the person is a lead).

    Raises:
        StateError: the move is not allowed, or the data does not show the fix working.
        InputError: an acceptance without data evidence gives no reason.
    """
    evidence: str | None = None
    if target == "verified":
        # A stale page is a conflict before anything is judged.
        result = _verify(session, get_problem(session, problem_id, expected_version), None)
        if result.verdict == "verified":
            note = f"fix verified in the data: {result.reason}"
            evidence, reason = "data", f"{reason} ({note})" if reason else note
        elif not accept_without_data:
            raise StateError(
                f"the data does not show the fix working ({result.verdict}: {result.reason}); "
                "a lead may accept it without data evidence, with a reason"
            )
        elif not (reason and reason.strip()):
            raise InputError("accepting a fix without data evidence needs a reason", field="reason")
        else:
            evidence = "accepted"
            reason = (
                f"accepted without data evidence ({result.verdict}: {result.reason}): "
                f"{reason.strip()}"
            )
    return transition(
        session,
        problem_id,
        target,
        actor=actor,
        expected_version=expected_version,
        reason=reason,
        evidence=evidence,
        now=now,
    )
