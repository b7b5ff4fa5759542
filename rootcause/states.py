"""The problem life cycle (ITIL-style) as data: which state may follow which, and why not."""

from __future__ import annotations

from typing import Protocol

from rootline.errors import StateError

__all__ = [
    "CLOSED_STATES",
    "OPEN_STATES",
    "STATES",
    "TRANSITIONS",
    "check_transition",
]

STATES = (
    "new",
    "assessed",
    "root_cause_analysis",
    "fix_in_progress",
    "resolved",
    "verified",
    "reopened",
    "closed_wont_fix",
)
#: States in which work is still to be done; each may be closed as "won't fix".
OPEN_STATES = frozenset({"new", "assessed", "root_cause_analysis", "fix_in_progress", "reopened"})
CLOSED_STATES = frozenset({"resolved", "verified", "closed_wont_fix"})

TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"assessed", "closed_wont_fix"}),
    "assessed": frozenset({"root_cause_analysis", "closed_wont_fix"}),
    "root_cause_analysis": frozenset({"fix_in_progress", "closed_wont_fix"}),
    "fix_in_progress": frozenset({"resolved", "closed_wont_fix"}),
    "resolved": frozenset({"verified", "reopened"}),
    # A verified fix can still fail later: the recurrence watch reopens it.
    "verified": frozenset({"reopened"}),
    "reopened": frozenset({"root_cause_analysis", "closed_wont_fix"}),
    "closed_wont_fix": frozenset(),
}


class _HasFacts(Protocol):
    state: str
    root_cause: str | None
    fixed_at: object | None


def check_transition(problem: _HasFacts, target: str) -> None:
    """Refuse a move the life cycle does not allow, or one the problem is not ready for.

    Raises:
        StateError: with the reason and the states that may follow instead.
    """
    if target not in TRANSITIONS:
        raise StateError(f"unknown state {target!r}; states are: {', '.join(STATES)}")
    current = problem.state
    allowed = TRANSITIONS[current]
    if target not in allowed:
        nexts = ", ".join(sorted(allowed)) or "none: it is final"
        raise StateError(f"a problem cannot go from {current} to {target}; next states: {nexts}")
    if target == "fix_in_progress" and not (problem.root_cause or "").strip():
        raise StateError("record the root cause before starting the fix")
    if target == "resolved" and problem.fixed_at is None:
        raise StateError(
            "record the fix (its date) before resolving: rootline problems fix ID --date YYYY-MM-DD"
        )
