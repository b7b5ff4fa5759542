"""Ingest use cases: load files and pushed batches into the store, transactionally and idempotently.

Records are read as a stream, cleaned, tied to customers and upserted by ``(source,
external_id)`` in batches; each record is stored under the source it names (a plain table's
``source_system`` column), else under the load's. The caller owns the transaction: by default the first bad record
raises ``InputError`` and the caller rolls back; with ``skip_bad`` bad records are written to
a reject file with their reasons and the good ones are kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from rootline.db import utcnow
from rootline.errors import InputError
from rootline.ingest.bulkload import BulkLoad
from rootline.ingest.columns import detect_columns
from rootline.ingest.convert import as_utc, build_record
from rootline.ingest.identity import (
    customer_sources,
    merge_customers,
    normalise_email,
    normalise_phone,
    resolve_customers,
)
from rootline.ingest.models import CustomerEvent, Interaction
from rootline.ingest.prepare import (
    PreparedInteraction,
    body_clean,
    customer_facts,
    cut,
    digest,
    interaction_row,
    prepared_items,
    record_facts,
    salt_of,
)
from rootline.ingest.readers import Item, default_source, read_records
from rootline.ingest.schemas import (
    MAX_SOURCE_LENGTH,
    CustomerEventRecord,
    CustomerRecord,
    InteractionRecord,
    Rejected,
)

__all__ = [
    "WORKER_MIN_BYTES",
    "IngestOptions",
    "IngestReport",
    "body_clean",
    "customer_sources",
    "ingest_batch",
    "ingest_file",
    "ingest_records",
    "merge_customers",
    "normalise_email",
    "normalise_phone",
]

_BATCH = 2000
#: Files at least this big are read and cleaned in a worker process while this one writes.
WORKER_MIN_BYTES = 4 * 2**20


@dataclass
class IngestOptions:
    """How to ingest; the composition root builds it from the settings."""

    redact_pii: bool = True
    #: Region for phone numbers written without a country code, e.g. ``"GB"``.
    phone_region: str | None = None
    skip_bad: bool = False
    #: Where rejected records go with ``skip_bad``; default ``<input>.rejects.jsonl``.
    rejects_path: Path | None = None
    #: Read and clean in a worker process: None decides by file size (``WORKER_MIN_BYTES``).
    worker: bool | None = None
    #: Text encoding of CSV, TSV and JSON files; None: UTF-8, or plainly Windows-1252.
    encoding: str | None = None


@dataclass
class IngestReport:
    """What one ingest did."""

    files: list[str] = field(default_factory=list)
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    customers_created: int = 0
    customers_updated: int = 0
    events_inserted: int = 0
    events_updated: int = 0
    rejects_files: list[str] = field(default_factory=list)
    #: The sources the records were stored under, in the order first used.
    sources: list[str] = field(default_factory=list)
    #: Source -> the counts above that moved for its records (``read``, ``inserted``, ...).
    by_source: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Records whose id came again later in the same load (the last of each is kept).
    repeated: int = 0
    #: Other source -> how many of the records this load added hold an id stored there
    #: already: likely the same records loaded twice under two names.
    known_elsewhere: dict[str, int] = field(default_factory=dict)
    #: Source of the added records -> other source -> how many: ``known_elsewhere`` by the
    #: source the records went to, for a load of several sources.
    known_elsewhere_by_source: dict[str, dict[str, int]] = field(default_factory=dict)
    _ids: list[np.ndarray] = field(default_factory=list, repr=False)

    def note_ids(self, source: str, ids: list[str]) -> None:
        """Remember a batch's ids (as 64-bit hashes: 8 bytes a record) to count repeats; the
        same id under two sources is two records, not a repeat."""
        hashes = (hash((source, i)) for i in ids)
        self._ids.append(np.fromiter(hashes, dtype=np.int64, count=len(ids)))

    def counts(self) -> dict[str, int]:
        """The counters a source's records move, as they stand."""
        return {k: getattr(self, k) for k in _COUNTERS}

    def tally(self, source: str, before: Mapping[str, int]) -> None:
        """Add to ``source``'s counts what moved since ``before`` (from :meth:`counts`)."""
        if source not in self.sources:
            self.sources.append(source)
        mine = self.by_source.setdefault(source, {})
        for key, value in self.counts().items():
            if value != before[key]:
                mine[key] = mine.get(key, 0) + value - before[key]

    def count_repeats(self) -> None:
        """Count the ids noted more than once since the last count."""
        if self._ids:
            ids = np.concatenate(self._ids)
            self.repeated += int(len(ids) - len(np.unique(ids)))
            self._ids = []

    #: The first reasons records were rejected for, "where: why".
    reject_reasons: list[str] = field(default_factory=list)

    def add_reject(self, error: InputError) -> None:
        """Count a rejected record and keep its reason (the first hundred)."""
        self.rejected += 1
        if len(self.reject_reasons) < 100:
            self.reject_reasons.append(str(error))

    def as_dict(self) -> dict[str, Any]:
        """The report as plain JSON-able values."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


_COUNTERS = (
    "read",
    "inserted",
    "updated",
    "unchanged",
    "customers_created",
    "customers_updated",
    "events_inserted",
    "events_updated",
)


class _Rejects:
    """Writes rejected records as JSON lines, opening the file only when the first one comes."""

    def __init__(self, path: Path | None, report: IngestReport) -> None:
        self.path, self.report = path, report
        self._fh: IO[str] | None = None

    def add(self, item: Rejected) -> None:
        self.report.add_reject(item.error)
        if self.path is None:
            return
        if self._fh is None:
            # Several inputs may share one --rejects file within a run; a new run starts it anew.
            seen = str(self.path) in self.report.rejects_files
            self._fh = self.path.open("a" if seen else "w", encoding="utf-8")
            if not seen:
                self.report.rejects_files.append(str(self.path))
        err = item.error
        self._fh.write(
            json.dumps(
                {
                    "file": err.path,
                    "line": err.line,
                    "message": err.message,
                    "field": err.field,
                    "reason": err.reason,
                    "record": item.raw,
                },
                default=str,
                ensure_ascii=False,
            )
            + "\n"
        )

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


_JSON_COLUMNS = frozenset({"tags", "extra"})


def _insert_rows(
    session: Session, table: sa.Table, rows: list[dict[str, Any]], bulk: BulkLoad | None = None
) -> None:
    """Insert many rows at once: COPY on PostgreSQL, one executemany elsewhere."""
    if bulk is not None:
        bulk.before_insert(table.name, len(rows))
    now = utcnow()
    for row in rows:
        row["ingested_at"] = now
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        _sqlite_executemany(conn, table, rows)
        return
    if conn.dialect.name != "postgresql" or conn.dialect.driver != "psycopg":
        conn.execute(table.insert(), rows)
        return
    from psycopg.types.json import Jsonb

    names = list(rows[0])
    columns = ", ".join(f'"{n}"' for n in names)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row([Jsonb(row[n]) if n in _JSON_COLUMNS else row[n] for n in names])
    finally:
        cursor.close()


def _sqlite_executemany(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """One driver-level executemany, values converted by the column types' own processors.

    This skips SQLAlchemy's per-row statement machinery, a third of the insert time.
    """
    names = list(rows[0])
    processors = [table.c[n].type.bind_processor(conn.dialect) for n in names]
    sql = (
        f'INSERT INTO "{table.name}" ({", ".join(f"{chr(34)}{n}{chr(34)}" for n in names)}) '
        f"VALUES ({', '.join('?' for _ in names)})"
    )
    params = [
        tuple(
            p(row[n]) if p is not None and row[n] is not None else row[n]
            for n, p in zip(names, processors, strict=True)
        )
        for row in rows
    ]
    conn.exec_driver_sql(sql, params)


def _existing(
    session: Session, model: Any, source: str, ids: list[str]
) -> dict[str, tuple[int, str]]:
    conn = session.connection()
    rows: Any  # a driver-level or an ORM result: (id, external_id, content_hash) rows
    if conn.dialect.name == "postgresql":
        # Probing the (source, external_id) index once per id stays fast as the table grows
        # inside the load's transaction; an IN list is planned as a scan of the whole source.
        rows = conn.exec_driver_sql(
            f'SELECT t.id, t.external_id, t.content_hash FROM "{model.__tablename__}" t '
            "JOIN unnest(%(ids)s::text[]) AS wanted(ext) ON t.external_id = wanted.ext "
            "WHERE t.source = %(source)s",
            {"ids": ids, "source": source},
        )
    else:
        rows = session.execute(
            sa.select(model.id, model.external_id, model.content_hash).where(
                model.source == source, model.external_id.in_(ids)
            )
        )
    return {ext: (iid, content_hash) for iid, ext, content_hash in rows}


def _write_interactions(
    session: Session,
    batch: list[InteractionRecord] | list[PreparedInteraction],
    source: str,
    report: IngestReport,
    options: IngestOptions,
    bulk: BulkLoad | None = None,
) -> None:
    # The last record with a given id wins, as if the file were applied line by line.
    report.note_ids(source, [rec.external_id for rec in batch])
    batch = list({rec.external_id: rec for rec in batch}.values())
    existing = _existing(session, Interaction, source, [r.external_id for r in batch])
    salt = salt_of(options.redact_pii, options.phone_region)
    todo: list[tuple[Any, str]] = []
    for rec in batch:
        content_hash = rec.digest if isinstance(rec, PreparedInteraction) else digest(rec, salt)
        old = existing.get(rec.external_id)
        if old is None or old[1] != content_hash:
            todo.append((rec, content_hash))
    report.unchanged += len(batch) - len(todo)
    if not todo:
        return
    facts = [
        r.facts if isinstance(r, PreparedInteraction) else record_facts(r, options.phone_region)
        for r, _ in todo
    ]
    customers, created = resolve_customers(session, facts, source)
    report.customers_created += created
    inserts, updates = [], []
    for (rec, content_hash), cid in zip(todo, customers, strict=True):
        if isinstance(rec, PreparedInteraction):
            row = {**rec.row, "customer_id": cid}
        else:
            row = interaction_row(rec, source, cid, content_hash, options.redact_pii)
        if rec.external_id in existing:
            updates.append({"id": existing[rec.external_id][0], **row})
        else:
            inserts.append(row)
    if inserts:
        _insert_rows(session, Interaction.__table__, inserts, bulk)
    if updates:
        session.execute(sa.update(Interaction), updates)
    report.inserted += len(inserts)
    report.updated += len(updates)


def _write_customers(
    session: Session,
    batch: list[CustomerRecord],
    source: str,
    report: IngestReport,
    options: IngestOptions,
    bulk: BulkLoad | None = None,
) -> None:
    facts = [customer_facts(r, options.phone_region) for r in batch]
    _, created = resolve_customers(session, facts, source)
    report.customers_created += created
    report.customers_updated += len(batch) - created


def _write_events(
    session: Session,
    batch: list[CustomerEventRecord],
    source: str,
    report: IngestReport,
    options: IngestOptions,
    bulk: BulkLoad | None = None,
) -> None:
    batch = list({rec.external_id: rec for rec in batch}.values())
    existing = _existing(session, CustomerEvent, source, [r.external_id for r in batch])
    todo = [
        (r, d) for r in batch if (d := digest(r, "")) != existing.get(r.external_id, (0, ""))[1]
    ]
    report.unchanged += len(batch) - len(todo)
    if not todo:
        return
    customers, created = resolve_customers(
        session, [record_facts(r, options.phone_region) for r, _ in todo], source
    )
    report.customers_created += created
    inserts, updates = [], []
    for (rec, content_hash), cid in zip(todo, customers, strict=True):
        row = {
            "source": source,
            "external_id": rec.external_id,
            "customer_id": cid,
            "kind": rec.kind,
            "occurred_at": as_utc(rec.occurred_at),
            "amount": rec.amount,
            "currency": cut(rec.currency, 8),
            "extra": rec.extra,
            "content_hash": content_hash,
        }
        if rec.external_id in existing:
            updates.append({"id": existing[rec.external_id][0], **row})
        else:
            inserts.append(row)
    if inserts:
        session.execute(sa.insert(CustomerEvent), inserts)
    if updates:
        session.execute(sa.update(CustomerEvent), updates)
    report.events_inserted += len(inserts)
    report.events_updated += len(updates)


def _check(item: Item, source: str, fixed: bool) -> Item:
    """Refuse values the database could not store, naming the field, and a record naming a
    source other than the one the load was given (``fixed``)."""
    ext = getattr(item, "external_id", None)
    line = getattr(item, "line", None)
    if isinstance(ext, str) and (len(ext) > 255 or not ext.strip()):
        reason = "id longer than 255 characters" if ext.strip() else "empty id"
        return Rejected(InputError(reason, line=line, field="external_id"), ext[:300])
    named = _named_source(item)
    if named is None:
        return item
    if not named.strip() or len(named) > MAX_SOURCE_LENGTH:
        reason = f"a source name has 1 to {MAX_SOURCE_LENGTH} characters"
        return Rejected(InputError(reason, line=line, field="source"), named[:100])
    if fixed and named != source:
        reason = (
            f"the record names source {named!r} but the load was given source {source!r}: "
            "leave the source (--source) out to store each record under the one it names"
        )
        return Rejected(InputError(reason, line=line, field="source"), {"id": ext, "source": named})
    return item


def _named_source(item: Any) -> str | None:
    """The source a record names itself (only contacts of plain tables do), or None."""
    if isinstance(item, InteractionRecord | PreparedInteraction):
        return item.source
    return None


def _by_source(batch: list[Any], source: str) -> dict[str, list[Any]]:
    """A batch split by the source each record goes to, in order of first appearance."""
    if not any(_named_source(rec) for rec in batch):
        return {source: batch}
    parts: dict[str, list[Any]] = {}
    for rec in batch:
        parts.setdefault(_named_source(rec) or source, []).append(rec)
    return parts


def ingest_records(
    session: Session,
    records: Iterable[Item | PreparedInteraction],
    source: str,
    report: IngestReport | None = None,
    progress: Callable[[int], None] | None = None,
    options: IngestOptions | None = None,
    on_reject: Callable[[Rejected], None] | None = None,
    *,
    fixed_source: bool = False,
) -> IngestReport:
    """Upsert records: new ids are inserted, changed ones updated in place.

    Each record goes under the source it names (``InteractionRecord.source``, from a
    ``source_system`` column), else under ``source``. With ``fixed_source`` (the caller was
    told the source, as by ``--source``) a record naming another source is rejected instead.
    The caller owns the transaction: on any error nothing of this call should be committed.

    Raises:
        InputError: for the first ``Rejected`` item when no ``on_reject`` handles it.
    """
    report = report or IngestReport()
    options = options or IngestOptions()
    if not source or len(source) > 64:
        raise InputError(f"source name must be 1 to 64 characters: {source[:80]!r}")
    writers: dict[type, Callable[..., None]] = {
        InteractionRecord: _write_interactions,
        PreparedInteraction: _write_interactions,
        CustomerRecord: _write_customers,
        CustomerEventRecord: _write_events,
    }
    before = session.scalar(sa.select(sa.func.max(Interaction.id))) or 0
    bulk = BulkLoad(session)
    used: list[str] = []
    try:
        for kind, batch, rejected in _batches(records, source, fixed_source):
            for bad in rejected:
                if on_reject is None:
                    raise bad.error
                on_reject(bad)
            for name, part in _by_source(batch, source).items() if batch else ():
                counts = report.counts()
                report.read += len(part)
                writers[kind](session, part, name, report, options, bulk)
                report.tally(name, counts)
                if name not in used:
                    used.append(name)
            if progress:
                progress(len(batch) + len(rejected))
        session.flush()
    except BaseException:
        bulk.abandon()
        raise
    bulk.finish()
    for name in used:
        found = _known_elsewhere(session, name, before)
        mine = report.known_elsewhere_by_source.setdefault(name, {}) if found else {}
        for other, count in found.items():
            report.known_elsewhere[other] = report.known_elsewhere.get(other, 0) + count
            mine[other] = mine.get(other, 0) + count
    return report


def _known_elsewhere(session: Session, source: str, after_id: int) -> dict[str, int]:
    """Other source -> how many interactions added under ``source`` (ids above ``after_id``)
    have an external id that source held before them. The same id under two sources of one
    load is not counted: the load said they are two systems' records. One query, and none
    when ``source`` is the only one stored before."""
    other = session.scalar(
        sa.select(Interaction.id)
        .where(Interaction.source != source, Interaction.id <= after_id)
        .limit(1)
    )
    if other is None:
        return {}
    new, old = aliased(Interaction), aliased(Interaction)
    rows = session.execute(
        sa.select(old.source, sa.func.count())
        .select_from(new)
        .join(
            old,
            sa.and_(
                old.external_id == new.external_id,
                old.source != new.source,
                old.id <= after_id,
            ),
        )
        .where(new.source == source, new.id > after_id)
        .group_by(old.source)
        .order_by(old.source)
    )
    return {str(name): int(count) for name, count in rows}


def _batches(
    records: Iterable[Item], source: str, fixed: bool
) -> Iterator[tuple[type, list[Any], list[Rejected]]]:
    batch: list[Any] = []
    rejected: list[Rejected] = []
    kind: type = InteractionRecord
    for item in records:
        item = _check(item, source, fixed)
        if isinstance(item, Rejected):
            rejected.append(item)
            if not batch:
                yield kind, [], rejected
                rejected = []
            continue
        if batch and type(item) is not kind:
            yield kind, batch, rejected
            batch, rejected = [], []
        kind = type(item)
        batch.append(item)
        if len(batch) >= _BATCH:
            yield kind, batch, rejected
            batch, rejected = [], []
    if batch or rejected:
        yield kind, batch, rejected


def ingest_file(
    session: Session,
    path: Path,
    *,
    fmt: str = "auto",
    mapping: Mapping[str, str] | None = None,
    source: str | None = None,
    report: IngestReport | None = None,
    progress: Callable[[int], None] | None = None,
    options: IngestOptions | None = None,
) -> IngestReport:
    """Read one file (or folder of ``.eml`` files) and upsert it under ``source``.

    ``source`` defaults to the system the file's format names (``default_source``), never
    to the file's name. A plain table (CSV, TSV, JSON) may name each record's system in a
    ``source_system`` column: those records go under it, the rest under the default; when
    ``source`` is given, a record naming another system is rejected.

    Raises:
        InputError: on the first bad record (unless ``options.skip_bad``), naming file, line
            and field.
    """
    if path.is_file() and path.stat().st_size == 0:
        raise InputError("the file is empty, nothing to ingest", path=str(path))
    report = report or IngestReport()
    options = options or IngestOptions()
    name = source or default_source(path, fmt)
    rejects = None
    if options.skip_bad:
        target = options.rejects_path or path.with_name(path.name + ".rejects.jsonl")
        rejects = _Rejects(target, report)
    if options.worker is None:
        use_worker = path.is_file() and path.stat().st_size >= WORKER_MIN_BYTES
    else:
        use_worker = options.worker
    records: Iterable[Item | PreparedInteraction] = (
        prepared_items(
            path,
            fmt,
            mapping,
            name[:64],
            options.redact_pii,
            options.phone_region,
            options.encoding,
        )
        if use_worker
        else read_records(path, fmt, mapping, options.encoding)
    )
    read_before = report.read
    try:
        ingest_records(
            session,
            records,
            name[:64],
            report,
            progress,
            options,
            rejects.add if rejects else None,
            fixed_source=source is not None,
        )
    except InputError as exc:
        if exc.path is None:  # raised by the service, which does not know the file
            raise InputError(
                exc.reason, path=str(path), line=exc.line, field=exc.field, message=exc.message
            ) from None
        raise
    finally:
        if rejects:
            rejects.close()
    report.files.append(str(path))
    report.count_repeats()
    if report.read == read_before and name[:64] not in report.sources:
        report.sources.append(name[:64])  # nothing read: the summary still names the source
    return report


def ingest_batch(
    session: Session,
    source: str,
    payload: list[dict[str, Any]],
    options: IngestOptions | None = None,
) -> IngestReport:
    """Ingest interactions pushed as JSON objects (a help desk's webhook), like a JSON file.

    Every item is validated as a line of a JSON file would be; errors name the item index
    (from 0) and the field. Without ``options.skip_bad`` a bad item writes nothing.

    Raises:
        InputError: naming ``item N`` and the field of the first bad item.
    """
    options = options or IngestOptions()
    report = IngestReport()
    if not isinstance(payload, list):
        raise InputError("expected a JSON list of interactions", path="payload")

    def items() -> Iterator[Item]:
        for index, obj in enumerate(payload):
            where = f"item {index}"
            if not isinstance(obj, dict):
                yield Rejected(InputError("expected a JSON object", path=where), obj)
                continue
            flat = {str(k): (json.dumps(v) if isinstance(v, dict) else v) for k, v in obj.items()}
            try:
                yield build_record(flat, detect_columns(list(flat)), where, 0)
            except InputError as exc:
                yield Rejected(InputError(exc.reason, path=where, field=exc.field), obj)

    on_reject = (lambda bad: report.add_reject(bad.error)) if options.skip_bad else None
    return ingest_records(session, items(), source, report, None, options, on_reject)
