"""What rootcause hands to the CLI, the web app and the JSON API."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel

from rootline.db import UtcDateTime
from rootline.rootcause.models import AuditEvent, Comment, KnownError, Problem, Task, Team

__all__ = ["AuditOut", "CommentOut", "KnownErrorOut", "ProblemOut", "TaskOut", "TeamOut"]


class TeamOut(BaseModel):
    id: int
    name: str
    kind: str
    lead: str | None = None
    email: str | None = None
    members: list[str] = []

    @classmethod
    def of(cls, team: Team) -> TeamOut:
        """From a row."""
        return cls(
            id=team.id,
            name=team.name,
            kind=team.kind,
            lead=team.lead.email if team.lead else None,
            email=team.email,
            members=sorted(u.email for u in team.members),
        )


class TaskOut(BaseModel):
    id: int
    problem_id: int
    title: str
    owner_team_id: int | None
    owner_user_id: int | None
    due_date: date | None
    state: str

    @classmethod
    def of(cls, task: Task) -> TaskOut:
        """From a row."""
        return cls(
            id=task.id,
            problem_id=task.problem_id,
            title=task.title,
            owner_team_id=task.owner_team_id,
            owner_user_id=task.owner_user_id,
            due_date=task.due_date,
            state=task.state,
        )


class CommentOut(BaseModel):
    id: int
    author: str
    body: str
    created_at: UtcDateTime

    @classmethod
    def of(cls, comment: Comment) -> CommentOut:
        """From a row."""
        return cls(
            id=comment.id, author=comment.author, body=comment.body, created_at=comment.created_at
        )


class AuditOut(BaseModel):
    at: UtcDateTime
    actor: str
    action: str
    field: str | None
    old: Any = None
    new: Any = None

    @classmethod
    def of(cls, event: AuditEvent) -> AuditOut:
        """From a row."""
        return cls(
            at=event.at,
            actor=event.actor,
            action=event.action,
            field=event.field,
            old=event.old_value,
            new=event.new_value,
        )


class KnownErrorOut(BaseModel):
    id: int
    problem_id: int
    title: str
    cause: str
    workaround: str
    theme_ids: list[int]

    @classmethod
    def of(cls, article: KnownError) -> KnownErrorOut:
        """From a row."""
        return cls(
            id=article.id,
            problem_id=article.problem_id,
            title=article.title,
            cause=article.cause,
            workaround=article.workaround,
            theme_ids=sorted(t.id for t in article.themes),
        )


class ProblemOut(BaseModel):
    """A problem as ``rootline problems show --json`` and the API give it."""

    id: int
    title: str
    description: str
    state: str
    priority: str
    priority_overridden: bool
    impact_score: float
    impact: dict[str, Any]
    theme_ids: list[int]
    business_team: str | None
    is_team: str | None
    routed_by_rule_id: int | None
    routing_explanation: str
    root_cause: str | None
    workaround: str | None
    fix_description: str | None
    fixed_at: UtcDateTime | None
    links: list[dict[str, Any]]
    tags: list[str]
    version: int
    created_at: UtcDateTime
    updated_at: UtcDateTime
    reopen_count: int
    tasks: list[TaskOut] = []
    comments: list[CommentOut] = []

    @classmethod
    def of(cls, problem: Problem, detail: bool = False) -> ProblemOut:
        """From a row; ``detail`` adds tasks and comments."""
        return cls(
            id=problem.id,
            title=problem.title,
            description=problem.description,
            state=problem.state,
            priority=problem.priority,
            priority_overridden=problem.priority_overridden,
            impact_score=problem.impact_score,
            impact=problem.impact or {},
            theme_ids=problem.theme_ids,
            business_team=problem.business_team.name if problem.business_team else None,
            is_team=problem.is_team.name if problem.is_team else None,
            routed_by_rule_id=problem.routed_by_rule_id,
            routing_explanation=problem.routing_explanation,
            root_cause=problem.root_cause,
            workaround=problem.workaround,
            fix_description=problem.fix_description,
            fixed_at=problem.fixed_at,
            links=problem.links or [],
            tags=problem.tags or [],
            version=problem.version,
            created_at=problem.created_at,
            updated_at=problem.updated_at,
            reopen_count=problem.reopen_count,
            tasks=[TaskOut.of(t) for t in problem.tasks] if detail else [],
            comments=[CommentOut.of(c) for c in problem.comments] if detail else [],
        )
