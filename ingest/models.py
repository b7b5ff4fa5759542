"""Tables owned by ingest: customers, their identities in each source, and interactions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rootline.db import Base, JSONType, utcnow

__all__ = ["EVENT_KINDS", "Customer", "CustomerEvent", "CustomerIdentity", "Interaction"]

#: Kinds of customer events the impact metrics understand.
EVENT_KINDS = ("order", "cancellation", "upgrade", "downgrade", "renewal", "refund", "referral")


class Customer(Base):
    """One person or account, unified across every source that knows them."""

    __tablename__ = "customer"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(sa.String(255))
    segment: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    value: Mapped[float | None] = mapped_column(sa.Float, doc="Yearly revenue or account value.")
    account_owner: Mapped[str | None] = mapped_column(sa.String(255))
    #: Who the customer is to the company: ``external`` (a customer), ``employee`` or
    #: ``department`` (the internal customers of an IT help desk).
    kind: Mapped[str] = mapped_column(
        sa.String(16), default="external", server_default="external", index=True
    )
    department: Mapped[str | None] = mapped_column(sa.String(128))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    #: Set when this customer turned out to be the same as another one and was absorbed by it.
    merged_into_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customer.id"), index=True)

    identities: Mapped[list[CustomerIdentity]] = relationship(
        back_populates="customer", cascade="all, delete-orphan"
    )


class CustomerIdentity(Base):
    """A normalised key (e-mail, phone, account id) that identifies a customer in a source."""

    __tablename__ = "customer_identity"
    __table_args__ = (sa.UniqueConstraint("kind", "value", name="uq_customer_identity_kind_value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        sa.ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(16))
    value: Mapped[str] = mapped_column(sa.String(255))
    source: Mapped[str | None] = mapped_column(sa.String(64))

    customer: Mapped[Customer] = relationship(back_populates="identities")


class Interaction(Base):
    """One customer contact: a ticket, e-mail thread, chat or phone note."""

    __tablename__ = "interaction"
    __table_args__ = (
        sa.UniqueConstraint("source", "external_id", name="uq_interaction_source_external_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(64))
    external_id: Mapped[str] = mapped_column(sa.String(255))
    channel: Mapped[str] = mapped_column(sa.String(32), default="other", index=True)
    customer_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("customer.id", ondelete="SET NULL"), index=True
    )
    subject: Mapped[str | None] = mapped_column(sa.Text)
    body_raw: Mapped[str] = mapped_column(sa.Text, default="")
    body_clean: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    status: Mapped[str | None] = mapped_column(sa.String(32))
    csat: Mapped[float | None] = mapped_column(sa.Float)
    agent: Mapped[str | None] = mapped_column(sa.String(255))
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    extra: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    ingested_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    customer: Mapped[Customer | None] = relationship()

    @property
    def text(self) -> str:
        """What the models read: the clean subject and body together."""
        return self.body_clean


class CustomerEvent(Base):
    """Something a customer did that has a money value: an order, a cancellation, a plan change."""

    __tablename__ = "customer_event"
    __table_args__ = (
        sa.UniqueConstraint("source", "external_id", name="uq_customer_event_source_external_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(64))
    external_id: Mapped[str] = mapped_column(sa.String(255))
    customer_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("customer.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(32), index=True)
    occurred_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), index=True)
    amount: Mapped[float | None] = mapped_column(sa.Float)
    currency: Mapped[str | None] = mapped_column(sa.String(8))
    extra: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    ingested_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    customer: Mapped[Customer | None] = relationship()
