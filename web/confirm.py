"""Confirmation pages for the actions people cannot easily take back: what will change, in
words and figures, before it does.

A page form posts the action without ``confirmed``; the route answers with this page, whose
one form posts the same fields again with ``confirmed=yes``. Without scripts it works the same,
and the JSON API, whose callers decide for themselves, acts at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.models import Theme
from rootline.errors import NotFoundError
from rootline.rootcause.models import Problem, ProblemTheme, RoutingRule

__all__ = [
    "Confirmation",
    "confirmed",
    "merge_confirmation",
    "noise_confirmation",
    "rule_delete_confirmation",
    "split_confirmation",
    "transition_confirmation",
    "undo_confirmation",
]

#: Problem moves that ask first: closing for good, and reopening finished work.
CONFIRMED_MOVES = frozenset({"closed_wont_fix", "reopened"})


@dataclass(frozen=True)
class Confirmation:
    """A "are you sure" page: what will change, and the form that makes it change."""

    title: str
    changes: list[str]
    action: str
    button: str
    cancel_url: str
    fields: dict[str, str] = field(default_factory=dict)
    #: How to take it back afterwards, or that it cannot be.
    undo: str = ""
    #: Ask for a reason (kept in the audit trail).
    reason_label: str = ""


def confirmed(value: str) -> bool:
    """Whether a form's ``confirmed`` field says yes."""
    return value == "yes"


def _theme(session: Session, theme_id: int) -> Theme:
    theme = session.get(Theme, theme_id)
    if theme is None:
        raise NotFoundError(f"no theme with id {theme_id}")
    return theme


def _open_problems(session: Session, theme_id: int) -> list[tuple[int, str]]:
    return [
        (int(i), str(t))
        for i, t in session.execute(
            sa.select(Problem.id, Problem.title)
            .join(ProblemTheme, ProblemTheme.problem_id == Problem.id)
            .where(ProblemTheme.theme_id == theme_id, Problem.state != "closed_wont_fix")
            .order_by(Problem.id)
        )
    ]


def _contacts(n: int) -> str:
    return f"{n} contact" if n == 1 else f"{n} contacts"


def merge_confirmation(session: Session, source_id: int, target_id: int) -> Confirmation:
    """What merging theme ``source_id`` into ``target_id`` will do."""
    source, target = _theme(session, source_id), _theme(session, target_id)
    changes = [
        f"{_contacts(source.size)} of “{source.title}” (#{source.id}) move to "
        f"“{target.title}” (#{target.id}), which will then have {target.size + source.size}.",
        f"“{source.title}” leaves the dashboard; its page stays, marked merged, and links to "
        f"#{target.id}.",
        "Later clustering runs keep the contacts where the merge put them.",
    ]
    problems = _open_problems(session, source.id)
    if problems:
        changes.append(
            "Problems linked to this theme keep their link: "
            + ", ".join(f"#{i} {t}" for i, t in problems)
            + "."
        )
    return Confirmation(
        title=f"Merge “{source.title}” into “{target.title}”?",
        changes=changes,
        action=f"/themes/{source.id}/merge",
        button="Merge",
        cancel_url=f"/themes/{source.id}",
        fields={"target_id": str(target.id)},
        undo=f"You can undo the merge from the page of “{source.title}” until either theme "
        "changes again.",
    )


def noise_confirmation(session: Session, theme_id: int) -> Confirmation:
    """What marking a theme "not a theme" will do."""
    theme = _theme(session, theme_id)
    return Confirmation(
        title=f"Mark “{theme.title}” as not a theme?",
        changes=[
            f"Its {_contacts(theme.size)} stay together but leave the dashboard, the totals "
            "and alerts.",
            "New contacts closest to it are left unthemed instead of joining another theme.",
        ],
        action=f"/themes/{theme.id}/noise",
        button="Mark as not a theme",
        cancel_url=f"/themes/{theme.id}",
        undo="You can undo this from the theme's page until the theme changes again.",
    )


def split_confirmation(session: Session, theme_id: int) -> Confirmation:
    """What splitting a theme will do."""
    theme = _theme(session, theme_id)
    return Confirmation(
        title=f"Split “{theme.title}”?",
        changes=[
            f"Its {_contacts(theme.size)} are clustered again among themselves into two or "
            "more new themes, each with its own title and keywords.",
            f"“{theme.title}” leaves the dashboard; its page stays, marked split.",
        ],
        action=f"/themes/{theme.id}/split",
        button="Split",
        cancel_url=f"/themes/{theme.id}",
        undo="A split cannot be undone in one step: merge the new themes back into one of "
        "them if you change your mind.",
    )


def undo_confirmation(session: Session, theme_id: int, kind: str, into: int | None) -> Confirmation:
    """What undoing a theme's last merge or "not a theme" mark will do."""
    theme = _theme(session, theme_id)
    if kind == "merged" and into is not None:
        target = _theme(session, into)
        changes = [
            f"The contacts the merge moved, those still in “{target.title}” (#{target.id}), "
            f"move back to “{theme.title}”.",
            f"“{theme.title}” is back on the dashboard.",
        ]
        title = f"Undo the merge of “{theme.title}” into “{target.title}”?"
    else:
        changes = [f"“{theme.title}” and its {_contacts(theme.size)} are back on the dashboard."]
        title = f"Undo “not a theme” for “{theme.title}”?"
    return Confirmation(
        title=title,
        changes=changes,
        action=f"/themes/{theme.id}/undo",
        button="Undo",
        cancel_url=f"/themes/{theme.id}",
    )


def transition_confirmation(problem: Problem, target: str, version: int | None) -> Confirmation:
    """What closing a problem as won't fix, or reopening it, will do."""
    fields = {"target": target} | ({"version": str(version)} if version else {})
    if target == "closed_wont_fix":
        return Confirmation(
            title=f"Close problem #{problem.id} as won't fix?",
            changes=[
                f"#{problem.id} “{problem.title}” is closed for good: no state follows "
                "“closed won't fix”.",
                "Its tasks and SLA clocks stop; its themes can be promoted to a new problem.",
            ],
            action=f"/problems/{problem.id}/transition",
            button="Close as won't fix",
            cancel_url=f"/problems/{problem.id}",
            fields=fields,
            undo="This cannot be undone.",
            reason_label="Why it will not be fixed (kept in the audit trail)",
        )
    return Confirmation(
        title=f"Reopen problem #{problem.id}?",
        changes=[
            f"#{problem.id} “{problem.title}” goes back to “reopened”: its owners are asked "
            "for a new root cause analysis, and its SLA clocks start again.",
        ],
        action=f"/problems/{problem.id}/transition",
        button="Reopen",
        cancel_url=f"/problems/{problem.id}",
        fields=fields,
        undo="A reopened problem is worked through the life cycle again; it cannot go back "
        f"to “{problem.state.replace('_', ' ')}” directly.",
        reason_label="Why it is reopened (kept in the audit trail)",
    )


def rule_delete_confirmation(rule: RoutingRule) -> Confirmation:
    """What removing a routing rule will do."""
    return Confirmation(
        title=f"Remove routing rule {rule.name}?",
        changes=[
            f"New problems are no longer routed by {rule.name} (priority {rule.priority}); "
            "the next rule that matches decides, or the triage team.",
            "Problems it routed before keep their owners.",
        ],
        action=f"/admin/rules/{rule.id}/delete",
        button="Remove the rule",
        cancel_url=f"/admin/rules/{rule.id}",
        undo="To have it back, add it again (its settings are in the audit trail and in an "
        "exported YAML).",
    )
