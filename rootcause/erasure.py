"""The right to erasure: a customer's words and personal data removed, the counts kept.

``erase_customer`` empties the subject, text and extra fields of every contact of a customer
(and of customers merged into it), deletes their identities (e-mail, phone, account ids),
name and account owner, the cached vectors of their texts and the extra fields of their
events; the contacts stay as rows (date, channel, status, CSAT, theme), so volumes, trends and
unique-customer counts are unchanged. Theme examples drop the erased contacts, and the themes
they were in are labelled again from what their other members said (a title may have been
the erased customer's own phrase); the machine titles those themes had are withdrawn from
their history. The audit trail records who erased which customer id, and nothing of what was
erased.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.embedding import text_hash
from rootline.clustering.labels import CTfidfLabeler
from rootline.clustering.models import EmbeddingCache, Theme, ThemeEvent, ThemeMembership
from rootline.errors import NotFoundError
from rootline.ingest.models import Customer, CustomerEvent, CustomerIdentity, Interaction
from rootline.rootcause import audit

__all__ = ["Erasure", "erase_customer"]

#: What an erased contact's subject and text become.
ERASED = ""


def _count(session: Session, statement: Any) -> int:
    """Rows an UPDATE or DELETE touched."""
    return int(cast("sa.CursorResult[Any]", session.execute(statement)).rowcount or 0)


@dataclass(frozen=True)
class Erasure:
    """What one erasure removed."""

    customer_ids: list[int]
    contacts: int
    identities: int
    vectors: int
    events: int


def erase_customer(session: Session, customer_id: int, *, actor: str) -> Erasure:
    """Erase a customer's texts and personal data everywhere, keeping aggregate counts.

    Raises:
        NotFoundError: if there is no such customer.
    """
    if session.get(Customer, customer_id) is None:
        raise NotFoundError(f"no customer with id {customer_id}")
    merged = session.scalars(sa.select(Customer.id).where(Customer.merged_into_id == customer_id))
    ids = [customer_id, *merged]
    rows = session.execute(
        sa.select(Interaction.id, Interaction.body_clean).where(Interaction.customer_id.in_(ids))
    ).all()
    contact_ids = [r.id for r in rows]
    hashes = sorted({text_hash(r.body_clean) for r in rows if r.body_clean})
    vectors = 0
    for start in range(0, len(hashes), 500):
        chunk = hashes[start : start + 500]
        vectors += _count(
            session, sa.delete(EmbeddingCache).where(EmbeddingCache.text_hash.in_(chunk))
        )
    session.execute(
        sa.update(Interaction)
        .where(Interaction.customer_id.in_(ids))
        .values(subject=None, body_raw=ERASED, body_clean=ERASED, extra={})
    )
    identities = _count(
        session, sa.delete(CustomerIdentity).where(CustomerIdentity.customer_id.in_(ids))
    )
    events = _count(
        session, sa.update(CustomerEvent).where(CustomerEvent.customer_id.in_(ids)).values(extra={})
    )
    session.execute(
        sa.update(Customer).where(Customer.id.in_(ids)).values(name=None, account_owner=None)
    )
    touched = _drop_examples(session, set(contact_ids))
    _relabel(session, touched)
    audit.record(session, actor, "customer", customer_id, "erased", new={"contacts": len(rows)})
    session.flush()
    return Erasure(ids, len(rows), identities, vectors, events)


def _drop_examples(session: Session, erased: set[int]) -> list[Theme]:
    """Themes no longer show erased contacts as their examples; returns the themes they were in."""
    if not erased:
        return []
    touched = list(
        session.scalars(
            sa.select(Theme)
            .join(ThemeMembership, ThemeMembership.theme_id == Theme.id)
            .where(ThemeMembership.interaction_id.in_(erased))
            .distinct()
        )
    )
    for theme in touched:
        if theme.examples and erased & set(theme.examples):
            theme.examples = [i for i in theme.examples if i not in erased]
    return touched


def _relabel(session: Session, touched: list[Theme]) -> None:
    """Title and keywords of ``touched`` again, from the words of every theme's members as they
    are now (keywords weigh a theme against all the others); a title a person set stays.
    Machine titles in those themes' history are withdrawn: any of them may have been an
    erased customer's phrase."""
    if not touched:
        return
    session.flush()
    rows = session.execute(
        sa.select(ThemeMembership.theme_id, Interaction.body_clean)
        .join(Interaction, Interaction.id == ThemeMembership.interaction_id)
        .join(Theme, Theme.id == ThemeMembership.theme_id)
        .where(Theme.status.in_(("active", "proposed")), Interaction.body_clean != "")
        .order_by(ThemeMembership.theme_id, Interaction.id)
    ).all()
    ids = sorted({int(r.theme_id) for r in rows})
    names = (
        CTfidfLabeler().label(
            [r.body_clean for r in rows], np.searchsorted(ids, [int(r.theme_id) for r in rows])
        )
        if rows
        else {}
    )
    for theme in touched:
        k = int(np.searchsorted(ids, theme.id)) if ids else 0
        name = names.get(k) if k < len(ids) and ids[k] == theme.id else None
        theme.keywords = list(name.keywords) if name else []
        if not theme.title_locked:
            theme.title = name.title if name else f"theme {theme.id}"
    events = session.scalars(
        sa.select(ThemeEvent).where(
            ThemeEvent.theme_id.in_([t.id for t in touched]), ThemeEvent.kind == "relabelled"
        )
    )
    for event in events:
        event.details = {k: v for k, v in event.details.items() if k not in ("old", "new")} | {
            "withdrawn": "erasure"
        }
