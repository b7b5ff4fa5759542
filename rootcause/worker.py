"""The worker: one pass does every periodic job, each in its own transaction.

All its state lives in the database (SLA breaches, outbox rows with their next attempt,
problem states), so a restarted worker carries on where the last one stopped and repeats
nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from rootline.config import Settings, resolve_secret_key
from rootline.db import session_scope, utcnow
from rootline.rootcause.notify import SmtpConfig, deliver_due
from rootline.rootcause.sla import check_slas
from rootline.rootcause.watch import auto_create_problems, check_recurrence, verify_resolved

__all__ = ["WorkerReport", "run_once", "run_worker"]

log = logging.getLogger(__name__)


@dataclass
class WorkerReport:
    """What one pass did."""

    problems_created: int = 0
    sla_breaches: int = 0
    verified: int = 0
    recurrences: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Plain figures."""
        return asdict(self)


def _smtp(settings: Settings) -> SmtpConfig | None:
    if not settings.smtp_host:
        return None
    return SmtpConfig(settings.smtp_host, settings.smtp_port, settings.mail_from)


def run_once(
    sessions: sessionmaker[Session], settings: Settings, now: datetime | None = None
) -> WorkerReport:
    """One pass: open problems for high-impact themes, escalate SLA breaches, verify fixes,
    reopen recurrences, then deliver due notifications (including the ones just written)."""
    now = now or utcnow()
    hook = settings.webhook_url
    report = WorkerReport()
    with session_scope(sessions) as session:
        report.problems_created = len(
            auto_create_problems(
                session, settings.problem_auto_threshold, webhook_url=hook, now=now
            )
        )
    with session_scope(sessions) as session:
        report.sla_breaches = len(check_slas(session, now, webhook_url=hook))
    with session_scope(sessions) as session:
        results = verify_resolved(session, webhook_url=hook)
        report.verified = sum(r.verdict == "verified" for r in results)
    with session_scope(sessions) as session:
        checks = check_recurrence(session, share=settings.recurrence_share, webhook_url=hook)
        report.recurrences = sum(c.reopened for c in checks)
    with session_scope(sessions) as session:
        delivery = deliver_due(
            session,
            secret=settings.webhook_secret
            or resolve_secret_key(settings.secret_key, settings.data_dir),
            smtp=_smtp(settings),
            now=now,
            max_attempts=settings.notify_max_attempts,
        )
    report.sent, report.retrying, report.failed = delivery.sent, delivery.retrying, delivery.failed
    return report


def run_worker(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    once: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    on_pass: Callable[[WorkerReport], None] | None = None,
) -> WorkerReport:
    """Run passes every ``settings.worker_interval`` seconds until interrupted (or one pass).

    A pass that fails is logged and retried at the next interval, so a database hiccup does
    not stop the worker.

    Returns:
        The report of the last pass.
    """
    while True:
        try:
            report = run_once(sessions, settings)
        except Exception:
            if once:
                raise
            log.exception("worker pass failed; retrying in %s s", settings.worker_interval)
            report = WorkerReport()
        if on_pass is not None:
            on_pass(report)
        if once:
            return report
        sleep(settings.worker_interval)
