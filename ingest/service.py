"""Ingest use cases: load files into the store, transactionally and idempotently."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.ingest.cleaning import clean_text
from rootline.ingest.models import Customer, CustomerIdentity, Interaction
from rootline.ingest.readers import read_records
from rootline.ingest.schemas import InteractionRecord

__all__ = ["IngestReport", "ingest_file", "ingest_records", "normalise_email", "normalise_phone"]

_BATCH = 1000


@dataclass
class IngestReport:
    """What one ingest did."""

    files: list[str] = field(default_factory=list)
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    customers_created: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def normalise_email(value: str) -> str | None:
    value = value.strip().lower()
    m = re.search(r"[\w.+-]+@[\w-]+(\.[\w-]+)+", value)
    return m.group() if m else None


def normalise_phone(value: str) -> str | None:
    """E.164-like: keep a leading + and the digits; a leading 00 becomes +."""
    value = value.strip()
    digits = re.sub(r"\D", "", value)
    if len(digits) < 7:
        return None
    if value.startswith("+"):
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    return digits


def _identities(rec: InteractionRecord) -> list[tuple[str, str]]:
    keys = []
    if rec.customer_email and (email := normalise_email(rec.customer_email)):
        keys.append(("email", email))
    if rec.customer_phone and (phone := normalise_phone(rec.customer_phone)):
        keys.append(("phone", phone))
    if rec.account_id:
        keys.append(("account", rec.account_id.strip()))
    return keys


def _content_hash(rec: InteractionRecord) -> str:
    payload = rec.model_dump(mode="json", exclude={"line"})
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _resolve_customers(
    session: Session, batch: list[InteractionRecord], source: str, report: IngestReport
) -> list[int | None]:
    """Map each record to one customer id, creating customers and identities as needed."""
    wanted = {key for rec in batch for key in _identities(rec)}
    known: dict[tuple[str, str], int] = {}
    for kind in {k for k, _ in wanted}:
        values = [v for k, v in wanted if k == kind]
        for start in range(0, len(values), 500):
            rows = session.execute(
                sa.select(CustomerIdentity.kind, CustomerIdentity.value, CustomerIdentity.customer_id)
                .where(CustomerIdentity.kind == kind, CustomerIdentity.value.in_(values[start:start + 500]))
            )
            known.update({(k, v): cid for k, v, cid in rows})
    result: list[int | None] = []
    for rec in batch:
        keys = _identities(rec)
        if not keys:
            result.append(None)
            continue
        cid = next((known[k] for k in keys if k in known), None)
        if cid is None:
            customer = Customer(name=rec.customer_name, segment=rec.segment, value=rec.customer_value)
            session.add(customer)
            session.flush()
            cid = customer.id
            report.customers_created += 1
        else:
            customer = session.get(Customer, cid)
            if customer is not None:
                customer.name = customer.name or rec.customer_name
                customer.segment = rec.segment or customer.segment
                customer.value = rec.customer_value if rec.customer_value is not None else customer.value
        for key in keys:
            if key not in known:
                session.add(CustomerIdentity(customer_id=cid, kind=key[0], value=key[1], source=source))
                known[key] = cid
        result.append(cid)
    session.flush()
    return result


def _row(rec: InteractionRecord, source: str, customer_id: int | None, digest: str) -> dict[str, Any]:
    raw = rec.body
    text = " ".join(p for p in (rec.subject, raw) if p)
    return {
        "source": source,
        "external_id": rec.external_id,
        "channel": rec.channel,
        "customer_id": customer_id,
        "subject": rec.subject,
        "body_raw": raw,
        "body_clean": clean_text(text),
        "created_at": rec.created_at,
        "resolved_at": rec.resolved_at,
        "status": rec.status,
        "csat": rec.csat,
        "agent": rec.agent,
        "tags": rec.tags,
        "extra": rec.extra,
        "content_hash": digest,
    }


def _write_batch(session: Session, batch: list[InteractionRecord], source: str, report: IngestReport) -> None:
    # The last record with a given id wins, as if the file were applied line by line.
    batch = list({rec.external_id: rec for rec in batch}.values())
    existing = {
        ext: (iid, digest)
        for iid, ext, digest in session.execute(
            sa.select(Interaction.id, Interaction.external_id, Interaction.content_hash).where(
                Interaction.source == source,
                Interaction.external_id.in_([r.external_id for r in batch]),
            )
        )
    }
    digests = [_content_hash(r) for r in batch]
    todo = [(r, d) for r, d in zip(batch, digests, strict=True)
            if r.external_id not in existing or existing[r.external_id][1] != d]
    report.unchanged += len(batch) - len(todo)
    if not todo:
        return
    customers = _resolve_customers(session, [r for r, _ in todo], source, report)
    inserts, updates = [], []
    for (rec, digest), cid in zip(todo, customers, strict=True):
        row = _row(rec, source, cid, digest)
        if rec.external_id in existing:
            updates.append({"id": existing[rec.external_id][0], **row})
        else:
            inserts.append(row)
    if inserts:
        session.execute(sa.insert(Interaction), inserts)
    if updates:
        session.execute(sa.update(Interaction), updates)
    report.inserted += len(inserts)
    report.updated += len(updates)


def _batches(records: Iterable[InteractionRecord]) -> Iterator[list[InteractionRecord]]:
    batch: list[InteractionRecord] = []
    for rec in records:
        batch.append(rec)
        if len(batch) >= _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def ingest_records(
    session: Session,
    records: Iterable[InteractionRecord],
    source: str,
    report: IngestReport | None = None,
    progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Upsert records of one source: new ids are inserted, changed ones updated in place.

    The caller owns the transaction: on any error nothing of this call should be committed.
    """
    report = report or IngestReport()
    for batch in _batches(records):
        report.read += len(batch)
        _write_batch(session, batch, source, report)
        if progress:
            progress(len(batch))
    session.flush()
    return report


def ingest_file(
    session: Session,
    path: Path,
    *,
    fmt: str = "auto",
    mapping: Mapping[str, str] | None = None,
    source: str | None = None,
    report: IngestReport | None = None,
    progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Read one file and upsert its interactions under ``source`` (default: the file's stem).

    Raises:
        InputError: on the first bad record, naming file, line and field.
    """
    report = report or IngestReport()
    name = source or path.name.split(".")[0]
    ingest_records(session, read_records(path, fmt, mapping), name, report, progress)
    report.files.append(str(path))
    return report
