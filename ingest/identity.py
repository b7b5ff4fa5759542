"""One customer per person across sources: normalised keys, resolution in bulk, merging.

A customer is known by identities: a normalised e-mail, a phone in E.164 form, an account id.
A record whose keys point at two existing customers proves they are the same person: the
younger one is merged into the older one (identities, interactions and events move over, and
the absorbed row keeps ``merged_into_id`` so old links can be followed).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.ingest.models import Customer, CustomerEvent, CustomerIdentity, Interaction
from rootline.ingest.schemas import CustomerSource

__all__ = [
    "CustomerFacts",
    "customer_sources",
    "merge_customers",
    "normalise_email",
    "normalise_phone",
    "resolve_customers",
    "surviving_customer_id",
]

_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_CHUNK = 500


def normalise_email(value: str) -> str | None:
    """The address in ``value``, lower-cased (``"Ann <Ann@X.com>"`` -> ``"ann@x.com"``)."""
    m = _EMAIL.search(value.strip().lower())
    return m.group()[:255] if m else None


def normalise_phone(value: str, region: str | None = None) -> str | None:
    """A phone number in E.164 form (``+442079460958``), or ``None`` when it is not one.

    Numbers written with a country code (``+44``, ``0044``) are always understood; national
    numbers need ``region`` (e.g. ``"GB"``) and are otherwise kept as their digits.
    """
    text = value.strip()
    digits = re.sub(r"\D", "", text)
    if not 7 <= len(digits) <= 17:
        return None
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.startswith("+") or region:
        import phonenumbers

        try:
            number = phonenumbers.parse(text, None if text.startswith("+") else region)
        except phonenumbers.NumberParseException:
            number = None
        if number is not None and phonenumbers.is_possible_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if text.startswith("+"):
            return "+" + digits
    return digits


#: The customer fields a record can fill, in the order rows are written.
_FACT_FIELDS = ("name", "segment", "value", "account_owner", "kind", "department")


@dataclass
class CustomerFacts:
    """What one record says about its customer: keys to match on and fields to fill."""

    keys: list[tuple[str, str]]
    name: str | None = None
    segment: str | None = None
    value: float | None = None
    account_owner: str | None = None
    kind: str | None = None
    department: str | None = None
    #: CRM records are authoritative and overwrite; contact records only fill gaps.
    authoritative: bool = False


@dataclass(eq=False)  # compared and hashed by identity: each is one future customer
class _Pending:
    facts: CustomerFacts
    alias: _Pending | int | None = None
    keys: set[tuple[str, str]] = field(default_factory=set)


def _final(target: _Pending | int) -> _Pending | int:
    while isinstance(target, _Pending) and target.alias is not None:
        target = target.alias
    return target


def surviving_customer_id(session: Session, customer_id: int) -> int:
    """The customer that ``customer_id`` was merged into, following the chain; itself if none."""
    seen = {customer_id}
    current = customer_id
    while True:
        nxt = session.scalar(sa.select(Customer.merged_into_id).where(Customer.id == current))
        if nxt is None or nxt in seen:
            return current
        seen.add(nxt)
        current = nxt


def merge_customers(session: Session, survivor_id: int, absorbed_id: int) -> None:
    """Merge customer ``absorbed_id`` into ``survivor_id``, keeping every link.

    Identities, interactions and events move to the survivor; empty fields of the survivor are
    filled from the absorbed customer, which keeps ``merged_into_id`` pointing at the survivor.
    """
    if survivor_id == absorbed_id:
        return
    for model in (CustomerIdentity, Interaction, CustomerEvent):
        session.execute(
            sa.update(model).where(model.customer_id == absorbed_id).values(customer_id=survivor_id)
        )
    session.execute(
        sa.update(Customer)
        .where(Customer.merged_into_id == absorbed_id)
        .values(merged_into_id=survivor_id)
    )
    survivor = session.get(Customer, survivor_id)
    absorbed = session.get(Customer, absorbed_id)
    if survivor is not None and absorbed is not None:
        for attr in _FACT_FIELDS:
            if getattr(survivor, attr) is None:
                setattr(survivor, attr, getattr(absorbed, attr))
        absorbed.merged_into_id = survivor_id
    session.flush()
    # Identities moved in bulk above; drop stale relationship state of the loaded objects.
    for obj in (survivor, absorbed):
        if obj is not None:
            session.expire(obj, ["identities"])


def _known(session: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        return _known_keys(session, keys)
    # One index probe per key: an IN list is planned as a scan once the table has grown
    # inside the load's transaction, where statistics still say it is empty.
    known: dict[tuple[str, str], int] = {}
    for kind in {k for k, _ in keys}:
        values = [v for k, v in keys if k == kind]
        rows = conn.exec_driver_sql(
            "SELECT i.value, i.customer_id FROM customer_identity i "
            "JOIN unnest(%(values)s::text[]) AS wanted(v) ON i.value = wanted.v "
            "WHERE i.kind = %(kind)s",
            {"values": values, "kind": kind},
        )
        known.update({(kind, v): cid for v, cid in rows})
    return known


def _known_keys(session: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    known: dict[tuple[str, str], int] = {}
    for kind in {k for k, _ in keys}:
        values = sorted(v for k, v in keys if k == kind)
        for start in range(0, len(values), _CHUNK):
            rows = session.execute(
                sa.select(CustomerIdentity.value, CustomerIdentity.customer_id).where(
                    CustomerIdentity.kind == kind,
                    CustomerIdentity.value.in_(values[start : start + _CHUNK]),
                )
            )
            known.update({(kind, v): cid for v, cid in rows})
    return known


def _changes(current: dict[str, Any], facts: CustomerFacts) -> dict[str, Any]:
    out = {}
    for attr in _FACT_FIELDS:
        new = getattr(facts, attr)
        if new is None:
            continue
        # Contacts only fill a missing name or owner; segment, value, kind and department
        # follow the latest record.
        overwrite = facts.authoritative or attr in {"segment", "value", "kind", "department"}
        if (current.get(attr) is None or overwrite) and current.get(attr) != new:
            out[attr] = new
            current[attr] = new
    return out


def resolve_customers(
    session: Session, facts: Sequence[CustomerFacts | None], source: str
) -> tuple[list[int | None], int]:
    """Map each record's facts to one customer id, creating, updating and merging in bulk.

    Returns:
        (a customer id or ``None`` per record, how many customers were created).
    """
    wanted = {key for f in facts if f is not None for key in f.keys}
    if not wanted:
        return [None] * len(facts), 0
    known: dict[tuple[str, str], _Pending | int] = dict(_known(session, wanted))
    targets: list[_Pending | int | None] = []
    fresh: list[tuple[str, str]] = []  # keys no customer had before this batch
    for f in facts:
        if f is None or not f.keys:
            targets.append(None)
            continue
        found = list(dict.fromkeys(_final(known[k]) for k in f.keys if k in known))
        if not found:
            target: _Pending | int = _Pending(f)
        else:
            existing = sorted(t for t in found if isinstance(t, int))
            target = existing[0] if existing else found[0]
            for other in found:
                if other is target:
                    continue
                if isinstance(other, int):
                    merge_customers(session, target, other)  # type: ignore[arg-type]
                    for k, v in list(known.items()):
                        if v == other:
                            known[k] = target
                else:
                    other.alias = target
                    if isinstance(target, _Pending):
                        target.keys |= other.keys
        if isinstance(target, _Pending) and target.facts is not f:
            # Later records about the same new customer fill what earlier ones left empty.
            for attr in _FACT_FIELDS:
                if getattr(f, attr) is not None:
                    setattr(target.facts, attr, getattr(f, attr))
        for k in f.keys:
            if k not in known:
                known[k] = target
                fresh.append(k)
                if isinstance(target, _Pending):
                    target.keys.add(k)
        targets.append(target)
    pendings = list(
        {
            id(t): t
            for t in (_final(t) for t in targets if t is not None)
            if isinstance(t, _Pending)
        }.values()
    )
    created_ids: dict[int, int] = {}
    if pendings:
        rows = [
            {
                "name": p.facts.name,
                "segment": p.facts.segment,
                "value": p.facts.value,
                "account_owner": p.facts.account_owner,
                "kind": p.facts.kind or "external",
                "department": p.facts.department,
            }
            for p in pendings
        ]
        ids = session.scalars(
            sa.insert(Customer).returning(Customer.id, sort_by_parameter_order=True), rows
        ).all()
        created_ids = {id(p): cid for p, cid in zip(pendings, ids, strict=True)}

    def cid_of(t: _Pending | int) -> int:
        t = _final(t)
        return t if isinstance(t, int) else created_ids[id(t)]

    result = [cid_of(t) if t is not None else None for t in targets]
    if fresh:
        session.execute(
            sa.insert(CustomerIdentity),
            [
                {"customer_id": cid_of(known[k]), "kind": k[0], "value": k[1], "source": source}
                for k in fresh
            ],
        )
    _update_existing(session, facts, result, set(created_ids.values()))
    return result, len(pendings)


def _update_existing(
    session: Session,
    facts: Sequence[CustomerFacts | None],
    result: list[int | None],
    created: set[int],
) -> None:
    ids = sorted({cid for cid in result if cid is not None and cid not in created})
    if not ids:
        return
    current: dict[int, dict[str, Any]] = {}
    for start in range(0, len(ids), _CHUNK):
        for row in session.execute(
            sa.select(
                Customer.id,
                Customer.name,
                Customer.segment,
                Customer.value,
                Customer.account_owner,
                Customer.kind,
                Customer.department,
            ).where(Customer.id.in_(ids[start : start + _CHUNK]))
        ):
            current[row.id] = dict(row._mapping)
    updates: dict[int, dict[str, Any]] = {}
    for f, cid in zip(facts, result, strict=True):
        if f is None or cid is None or cid not in current:
            continue
        if changed := _changes(current[cid], f):
            updates.setdefault(cid, {}).update(changed)
    if updates:
        session.execute(sa.update(Customer), [{"id": cid, **vals} for cid, vals in updates.items()])
        # Loaded Customer objects must not keep values older than the bulk update.
        for cid in updates:
            if (obj := session.get(Customer, cid)) is not None:
                session.expire(obj)


def customer_sources(session: Session, customer_id: int) -> list[CustomerSource]:
    """Every source a customer appears in: interactions, identities and events per source.

    A merged customer id is followed to the customer that absorbed it.
    """
    cid = surviving_customer_id(session, customer_id)
    out: dict[str, CustomerSource] = {}

    def entry(source: str | None) -> CustomerSource:
        name = source or "unknown"
        return out.setdefault(name, CustomerSource(source=name))

    for source, count, first, last in session.execute(
        sa.select(
            Interaction.source,
            sa.func.count(),
            sa.func.min(Interaction.created_at),
            sa.func.max(Interaction.created_at),
        )
        .where(Interaction.customer_id == cid)
        .group_by(Interaction.source)
    ):
        item = entry(source)
        item.interactions, item.first_seen, item.last_seen = count, first, last
    for source, kind, value in session.execute(
        sa.select(CustomerIdentity.source, CustomerIdentity.kind, CustomerIdentity.value)
        .where(CustomerIdentity.customer_id == cid)
        .order_by(CustomerIdentity.id)
    ):
        entry(source).identities.append(f"{kind}:{value}")
    for source, count in session.execute(
        sa.select(CustomerEvent.source, sa.func.count())
        .where(CustomerEvent.customer_id == cid)
        .group_by(CustomerEvent.source)
    ):
        entry(source).events = count
    return sorted(out.values(), key=lambda s: s.source)
