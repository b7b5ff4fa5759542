"""Notifications through an outbox: rows written with the change, delivered later by the worker.

Webhooks are signed with HMAC-SHA256 over ``"{timestamp}.{body}"``; the receiver checks
``X-Rootline-Signature: sha256=<hex>`` with ``X-Rootline-Timestamp``. A failed delivery stays
pending with an exponentially growing ``next_attempt_at``; after the last attempt it is marked
failed but kept, so nothing is lost while a receiver is down.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.db import utcnow
from rootline.rootcause.models import Notification, Problem, Team

__all__ = [
    "DeliveryReport",
    "SmtpConfig",
    "backoff",
    "deliver_due",
    "enqueue",
    "notify_owners",
    "sign",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Rootline-Signature"
TIMESTAMP_HEADER = "X-Rootline-Timestamp"
_BACKOFF_BASE = timedelta(seconds=30)
_BACKOFF_CAP = timedelta(hours=6)


@dataclass(frozen=True)
class SmtpConfig:
    """Where e-mail goes out."""

    host: str
    port: int = 25
    sender: str = "rootline@localhost"
    timeout: float = 10.0


@dataclass
class DeliveryReport:
    """What one delivery pass did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"{timestamp}.{body}"`` under ``secret``."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """Whether a webhook's signature header is right (constant-time comparison)."""
    return hmac.compare_digest(header, "sha256=" + sign(secret, timestamp, body))


def backoff(attempts: int) -> timedelta:
    """Wait before the next try after ``attempts`` failures: 30 s, 1 min, 2 min, ... up to 6 h."""
    return min(_BACKOFF_BASE * (2 ** max(attempts - 1, 0)), _BACKOFF_CAP)


def enqueue(
    session: Session,
    kind: str,
    target: str,
    event: str,
    payload: dict[str, Any],
    subject: str = "",
) -> Notification:
    """Add one notification to the outbox; it is sent when the transaction commits and the
    worker runs."""
    row = Notification(
        kind=kind,
        target=target,
        event=event,
        payload=payload,
        subject=subject,
        next_attempt_at=utcnow(),
    )
    session.add(row)
    return row


def _team_targets(teams: Iterable[Team | None]) -> tuple[set[str], set[str]]:
    emails: set[str] = set()
    hooks: set[str] = set()
    for team in teams:
        if team is None:
            continue
        if team.email:
            emails.add(team.email)
        elif team.lead is not None:
            emails.add(team.lead.email)
        if team.webhook_url:
            hooks.add(team.webhook_url)
    return emails, hooks


def notify_owners(
    session: Session,
    problem: Problem,
    event: str,
    text: str,
    *,
    webhook_url: str | None = None,
    extra_emails: Iterable[str] = (),
    data: dict[str, Any] | None = None,
) -> list[Notification]:
    """Tell a problem's business and IS teams (and the global webhook, if any) about an event.

    Args:
        session: database session.
        problem: the problem concerned.
        event: a dotted event name, e.g. ``problem.reopened``.
        text: one human sentence, used as the e-mail body.
        webhook_url: the installation-wide webhook (``ROOTLINE_WEBHOOK_URL``).
        extra_emails: more recipients (e.g. team leads on an escalation).
        data: more fields for the webhook payload.
    """
    emails, hooks = _team_targets([problem.business_team, problem.is_team])
    emails |= set(extra_emails)
    if webhook_url:
        hooks.add(webhook_url)
    payload = {
        "event": event,
        "text": text,
        "problem": {
            "id": problem.id,
            "title": problem.title,
            "state": problem.state,
            "priority": problem.priority,
            "themes": problem.theme_ids,
        },
        **(data or {}),
    }
    subject = f"[Rootline] problem #{problem.id} {event.split('.')[-1]}: {problem.title}"[:255]
    rows = [enqueue(session, "webhook", url, event, payload, subject) for url in sorted(hooks)]
    rows += [enqueue(session, "email", addr, event, payload, subject) for addr in sorted(emails)]
    return rows


def _post_webhook(row: Notification, secret: str, now: datetime, timeout: float) -> None:
    body = json.dumps({"id": row.id, **row.payload}, sort_keys=True).encode()
    timestamp = str(int(now.timestamp()))
    request = urllib.request.Request(
        row.target,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "rootline-webhook",
            "X-Rootline-Event": row.event,
            "X-Rootline-Delivery": str(row.id),  # lets receivers drop duplicates after a retry
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: "sha256=" + sign(secret, timestamp, body),
        },
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        if not 200 <= response.status < 300:
            raise OSError(f"HTTP {response.status}")


def _send_email(row: Notification, smtp: SmtpConfig) -> None:
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = row.target
    message["Subject"] = row.subject or row.event
    message.set_content(
        str(row.payload.get("text", ""))
        + "\n\n"
        + json.dumps(row.payload, indent=2, sort_keys=True)
    )
    with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as client:
        client.send_message(message)


def deliver_due(
    session: Session,
    *,
    secret: str,
    smtp: SmtpConfig | None = None,
    now: datetime | None = None,
    max_attempts: int = 8,
    limit: int = 100,
    timeout: float = 10.0,
) -> DeliveryReport:
    """Send the notifications whose time has come; failures are rescheduled with backoff.

    E-mails wait (stay pending) while no SMTP server is configured.
    """
    now = now or utcnow()
    kinds = ["webhook", "email"] if smtp else ["webhook"]
    query = (
        sa.select(Notification)
        .where(
            Notification.status == "pending",
            Notification.next_attempt_at <= now,
            Notification.kind.in_(kinds),
        )
        .order_by(Notification.next_attempt_at, Notification.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Two workers never send the same row: each skips the rows the other has locked.
        query = query.with_for_update(skip_locked=True)
    report = DeliveryReport()
    for row in session.scalars(query).all():
        try:
            if row.kind == "webhook":
                _post_webhook(row, secret, now, timeout)
            else:
                assert smtp is not None
                _send_email(row, smtp)
        except (OSError, urllib.error.URLError, smtplib.SMTPException, ValueError) as exc:
            row.attempts += 1
            row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if row.attempts >= max_attempts:
                row.status = "failed"
                report.failed += 1
            else:
                row.next_attempt_at = now + backoff(row.attempts)
                report.retrying += 1
        else:
            row.attempts += 1
            row.status = "sent"
            row.sent_at = now
            row.last_error = None
            report.sent += 1
    session.flush()
    return report
