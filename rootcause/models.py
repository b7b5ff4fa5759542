"""Tables owned by rootcause: teams, users, problems, tasks, routing, SLAs, audit, outbox."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rootline.clustering.models import Theme
from rootline.db import Base, JSONType, utcnow

__all__ = [
    "AuditEvent",
    "BoardDecision",
    "Comment",
    "ImpactWeight",
    "KnownError",
    "KnownErrorRevision",
    "KnownErrorTheme",
    "Notification",
    "Problem",
    "ProblemTheme",
    "RoutingRule",
    "SlaBreach",
    "SlaPolicy",
    "SurveyResponse",
    "Task",
    "Team",
    "TeamMember",
    "User",
]

_TS = sa.DateTime(timezone=True)


class User(Base):
    """A person who signs in to Rootline; the web app sets the password hash."""

    __tablename__ = "app_user"  # "user" is reserved on PostgreSQL

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(255), unique=True)
    name: Mapped[str] = mapped_column(sa.String(255), default="")
    role: Mapped[str] = mapped_column(
        sa.String(32),
        default="viewer",
        doc="admin, support_lead, is_owner, product_owner or viewer",
    )
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(_TS, default=utcnow)
    #: Raised on sign-out: part of every session's fingerprint, so older cookies stop working.
    session_generation: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")

    teams: Mapped[list[Team]] = relationship(
        secondary="team_member", back_populates="members", lazy="selectin"
    )


class Team(Base):
    """A business owner team, an IS (IT) owner team, the triage team, or a governance board."""

    __tablename__ = "team"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(128), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(16), doc="business, is, triage or board")
    lead_user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("app_user.id", ondelete="SET NULL")
    )
    email: Mapped[str | None] = mapped_column(sa.String(255), doc="Where notifications go.")
    webhook_url: Mapped[str | None] = mapped_column(sa.String(1024))
    created_at: Mapped[datetime] = mapped_column(_TS, default=utcnow)

    lead: Mapped[User | None] = relationship(foreign_keys=[lead_user_id])
    members: Mapped[list[User]] = relationship(secondary="team_member", back_populates="teams")


class TeamMember(Base):
    """A user's membership in a team."""

    __tablename__ = "team_member"

    team_id: Mapped[int] = mapped_column(
        sa.ForeignKey("team.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True
    )


class ProblemTheme(Base):
    """Which themes a problem is about."""

    __tablename__ = "problem_theme"

    problem_id: Mapped[int] = mapped_column(
        sa.ForeignKey("problem.id", ondelete="CASCADE"), primary_key=True
    )
    theme_id: Mapped[int] = mapped_column(
        sa.ForeignKey("theme.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Problem(Base):
    """A recurring issue promoted to an owned root-cause problem (ITIL-style)."""

    __tablename__ = "problem"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(255))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    state: Mapped[str] = mapped_column(sa.String(32), default="new", index=True)
    priority: Mapped[str] = mapped_column(sa.String(2), default="P4", doc="P1 (highest) to P4")
    priority_overridden: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    impact_score: Mapped[float] = mapped_column(sa.Float, default=0.0)
    impact: Mapped[dict[str, Any]] = mapped_column(
        JSONType, default=dict, doc="Impact figures when last assessed."
    )
    business_team_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("team.id", ondelete="SET NULL"), index=True
    )
    is_team_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("team.id", ondelete="SET NULL"), index=True
    )
    routed_by_rule_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("routing_rule.id", ondelete="SET NULL")
    )
    routing_explanation: Mapped[str] = mapped_column(sa.Text, default="")
    root_cause: Mapped[str | None] = mapped_column(sa.Text)
    workaround: Mapped[str | None] = mapped_column(sa.Text)
    fix_description: Mapped[str | None] = mapped_column(sa.Text)
    fixed_at: Mapped[datetime | None] = mapped_column(_TS)
    links: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONType, default=list, doc="External tickets and changes: [{label, url}]."
    )
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list, doc="e.g. ux, web")
    created_by: Mapped[str] = mapped_column(sa.String(255), default="system")
    auto_created: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(_TS, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(_TS, default=utcnow, onupdate=utcnow)
    state_changed_at: Mapped[datetime] = mapped_column(_TS, default=utcnow)
    assessed_at: Mapped[datetime | None] = mapped_column(_TS)
    root_caused_at: Mapped[datetime | None] = mapped_column(_TS)
    resolved_at: Mapped[datetime | None] = mapped_column(_TS)
    verified_at: Mapped[datetime | None] = mapped_column(_TS)
    reopened_at: Mapped[datetime | None] = mapped_column(_TS)
    reopen_count: Mapped[int] = mapped_column(sa.Integer, default=0)
    baseline_rate: Mapped[float | None] = mapped_column(
        sa.Float, doc="The theme's contact rate before the fix, kept for the recurrence watch."
    )
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}

    themes: Mapped[list[Theme]] = relationship(secondary="problem_theme", lazy="selectin")
    business_team: Mapped[Team | None] = relationship(foreign_keys=[business_team_id])
    is_team: Mapped[Team | None] = relationship(foreign_keys=[is_team_id])
    tasks: Mapped[list[Task]] = relationship(
        back_populates="problem", cascade="all, delete-orphan", order_by="Task.id"
    )
    comments: Mapped[list[Comment]] = relationship(
        back_populates="problem", cascade="all, delete-orphan", order_by="Comment.id"
    )

    @property
    def theme_ids(self) -> list[int]:
        """Ids of the problem's themes, in id order."""
        return sorted(t.id for t in self.themes)


class Task(Base):
    """A piece of work under a problem, owned by a team or a person."""

    __tablename__ = "task"

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(
        sa.ForeignKey("problem.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(sa.String(255))
    owner_team_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("team.id", ondelete="SET NULL"), index=True
    )
    owner_user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("app_user.id", ondelete="SET NULL"), index=True
    )
    due_date: Mapped[date | None] = mapped_column(sa.Date)
    state: Mapped[str] = mapped_column(
        sa.String(16), default="open", doc="open, in_progress, done or cancelled"
    )
    created_at: Mapped[datetime] = mapped_column(_TS, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(_TS)

    problem: Mapped[Problem] = relationship(back_populates="tasks")


class RoutingRule(Base):
    """Routes problems whose themes match the conditions to a business and an IS team."""

    __tablename__ = "routing_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(128), unique=True)
    priority: Mapped[int] = mapped_column(sa.Integer, default=100, doc="Lower is tried first.")
    conditions: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    business_team_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("team.id", ondelete="SET NULL")
    )
    is_team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("team.id", ondelete="SET NULL"))
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)

    business_team: Mapped[Team | None] = relationship(foreign_keys=[business_team_id])
    is_team: Mapped[Team | None] = relationship(foreign_keys=[is_team_id])


class Comment(Base):
    """A note on a problem."""

    __tablename__ = "comment"

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(
        sa.ForeignKey("problem.id", ondelete="CASCADE"), index=True
    )
    author: Mapped[str] = mapped_column(sa.String(255))
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(_TS, default=utcnow)

    problem: Mapped[Problem] = relationship(back_populates="comments")


class AuditEvent(Base):
    """One change to one field of one object. Rows are never updated or deleted."""

    __tablename__ = "audit_event"
    __table_args__ = (sa.Index("ix_audit_event_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(_TS, default=utcnow)
    actor: Mapped[str] = mapped_column(sa.String(255))
    object_type: Mapped[str] = mapped_column(sa.String(32))
    object_id: Mapped[int] = mapped_column(sa.Integer)
    action: Mapped[str] = mapped_column(sa.String(32), doc="create, update, transition, ...")
    field: Mapped[str | None] = mapped_column(sa.String(64))
    old_value: Mapped[Any] = mapped_column(JSONType, nullable=True)
    new_value: Mapped[Any] = mapped_column(JSONType, nullable=True)


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _audit_is_append_only(_mapper: Any, _conn: Any, target: AuditEvent) -> None:
    raise RuntimeError(f"audit event {target.id} is append-only")


class Notification(Base):
    """An outbox row: a webhook call or an e-mail, delivered (with retries) by the worker."""

    __tablename__ = "notification"
    __table_args__ = (sa.Index("ix_notification_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16), doc="webhook or email")
    event: Mapped[str] = mapped_column(sa.String(64), doc="e.g. problem.reopened")
    target: Mapped[str] = mapped_column(sa.String(1024), doc="URL or e-mail address")
    subject: Mapped[str] = mapped_column(sa.String(255), default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(
        sa.String(16),
        default="pending",
        doc="pending, sent or failed (gave up; kept for a manual retry)",
    )
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(_TS, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(_TS, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(_TS)


class SlaPolicy(Base):
    """How long a problem of one priority may take to be assessed, root-caused and fixed."""

    __tablename__ = "sla_policy"

    id: Mapped[int] = mapped_column(primary_key=True)
    priority: Mapped[str] = mapped_column(sa.String(2), unique=True)
    hours_to_assess: Mapped[float] = mapped_column(sa.Float)
    hours_to_root_cause: Mapped[float] = mapped_column(sa.Float)
    hours_to_fix: Mapped[float] = mapped_column(sa.Float)


class SlaBreach(Base):
    """A breached SLA stage; its unique key keeps an escalation from repeating after restarts."""

    __tablename__ = "sla_breach"
    __table_args__ = (
        sa.UniqueConstraint("problem_id", "stage", "cycle", name="uq_sla_breach_problem_stage"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(
        sa.ForeignKey("problem.id", ondelete="CASCADE"), index=True
    )
    stage: Mapped[str] = mapped_column(sa.String(16), doc="assess, root_cause or fix")
    cycle: Mapped[int] = mapped_column(sa.Integer, default=0, doc="The problem's reopen count.")
    due_at: Mapped[datetime] = mapped_column(_TS)
    breached_at: Mapped[datetime] = mapped_column(_TS, default=utcnow)
    escalated_to: Mapped[list[str]] = mapped_column(JSONType, default=list, doc="Lead e-mails.")


class BoardDecision(Base):
    """What the governance board decided about a problem, by whom and when. Never updated: a
    later decision about the same problem is a new row, and the newest one stands."""

    __tablename__ = "board_decision"

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(
        sa.ForeignKey("problem.id", ondelete="CASCADE"), index=True
    )
    decision: Mapped[str] = mapped_column(sa.String(16), doc="approve, defer, reject or merge")
    defer_until: Mapped[date | None] = mapped_column(sa.Date, doc="When a deferral ends.")
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    merged_into_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("problem.id", ondelete="SET NULL")
    )
    decided_by: Mapped[str] = mapped_column(sa.String(255))
    decided_at: Mapped[datetime] = mapped_column(_TS, default=utcnow)
    impact_score: Mapped[float] = mapped_column(
        sa.Float, default=0.0, doc="The problem's impact score when the board decided."
    )


class KnownErrorTheme(Base):
    """Which themes a known error applies to."""

    __tablename__ = "known_error_theme"

    known_error_id: Mapped[int] = mapped_column(
        sa.ForeignKey("known_error.id", ondelete="CASCADE"), primary_key=True
    )
    theme_id: Mapped[int] = mapped_column(
        sa.ForeignKey("theme.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class KnownError(Base):
    """A knowledge-base article: a problem's cause and workaround, for front-line agents."""

    __tablename__ = "known_error"

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(
        sa.ForeignKey("problem.id", ondelete="CASCADE"), unique=True
    )
    title: Mapped[str] = mapped_column(sa.String(255))
    #: How customers describe it: the theme's typical contacts, so agents recognise it.
    symptoms: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    cause: Mapped[str] = mapped_column(sa.Text, default="")
    workaround: Mapped[str] = mapped_column(sa.Text, default="")
    fix: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    #: Shown to front-line agents (the desk's workaround); unpublished articles are drafts.
    public: Mapped[bool] = mapped_column(sa.Boolean, default=True, server_default=sa.true())
    revision: Mapped[int] = mapped_column(sa.Integer, default=1, server_default="1")
    updated_by: Mapped[str] = mapped_column(
        sa.String(255), default="system", server_default="system"
    )
    search_text: Mapped[str] = mapped_column(sa.Text, default="", doc="Lower-cased words.")
    updated_at: Mapped[datetime] = mapped_column(_TS, default=utcnow, onupdate=utcnow)

    themes: Mapped[list[Theme]] = relationship(secondary="known_error_theme", lazy="selectin")


class KnownErrorRevision(Base):
    """One saved version of a knowledge-base article: what it said, who saved it, when."""

    __tablename__ = "known_error_revision"
    __table_args__ = (
        sa.UniqueConstraint("known_error_id", "revision", name="uq_known_error_revision"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    known_error_id: Mapped[int] = mapped_column(
        sa.ForeignKey("known_error.id", ondelete="CASCADE"), index=True
    )
    revision: Mapped[int] = mapped_column(sa.Integer)
    title: Mapped[str] = mapped_column(sa.String(255))
    symptoms: Mapped[str] = mapped_column(sa.Text, default="")
    cause: Mapped[str] = mapped_column(sa.Text, default="")
    workaround: Mapped[str] = mapped_column(sa.Text, default="")
    fix: Mapped[str] = mapped_column(sa.Text, default="")
    public: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    changed_by: Mapped[str] = mapped_column(sa.String(255))
    changed_at: Mapped[datetime] = mapped_column(_TS, default=utcnow)
    note: Mapped[str] = mapped_column(sa.Text, default="", doc="Why it was changed.")


class SurveyResponse(Base):
    """One answer of a short post-contact survey ("were you completely satisfied?", "would
    you come back?", "how likely are you to recommend us?"), linked to the interaction."""

    __tablename__ = "survey_response"
    __table_args__ = (
        sa.UniqueConstraint("interaction_id", "question", name="uq_survey_response_question"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    interaction_id: Mapped[int] = mapped_column(
        sa.ForeignKey("interaction.id", ondelete="CASCADE"), index=True
    )
    question: Mapped[str] = mapped_column(sa.String(64))
    #: The answer on the question's scale: 0 or 1 for yes/no, 1-5, 0-10 (recommendation).
    score: Mapped[float] = mapped_column(sa.Float)
    #: The best answer of the scale: a top-box answer is one equal to it.
    scale_max: Mapped[float] = mapped_column(sa.Float)
    responded_at: Mapped[datetime | None] = mapped_column(_TS)
    source: Mapped[str] = mapped_column(sa.String(64), default="survey")


class ImpactWeight(Base):
    """How much one component counts in the impact score, as an admin set it (the weights
    add up to 1; without rows the score uses ``rootline.rootcause.impact.WEIGHTS``)."""

    __tablename__ = "impact_weight"

    component: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    weight: Mapped[float] = mapped_column(sa.Float)
    updated_by: Mapped[str] = mapped_column(sa.String(255), default="system")
    updated_at: Mapped[datetime] = mapped_column(_TS, default=utcnow, onupdate=utcnow)
