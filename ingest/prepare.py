"""From a read record to what the writer needs: the row, its digest and the customer facts.

Reading, converting and cleaning cost more than writing. For a large file they run in a worker
process (:func:`prepared_items`) that sends ready rows to the writer, so two cores share the
load; the writer keeps the database work, the idempotency checks and customer identity. Rows
cross the process boundary as plain tuples: a pickled pydantic model costs more to rebuild
than it took to read. A reader's error is sent along in order and raised by the writer at the
same point of the stream, naming file, line and field, as without the worker.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rootline.errors import InputError
from rootline.ingest.cleaning import clean_subject, clean_text, form_subject_topic, redact_pii
from rootline.ingest.convert import as_utc
from rootline.ingest.identity import CustomerFacts, normalise_email, normalise_phone
from rootline.ingest.readers import Item, read_records
from rootline.ingest.schemas import CustomerEventRecord, CustomerRecord, InteractionRecord

__all__ = [
    "CLEANING_VERSION",
    "PreparedInteraction",
    "body_clean",
    "customer_facts",
    "digest",
    "interaction_row",
    "prepare_interaction",
    "prepared_items",
    "record_facts",
]

#: Bumped when cleaning changes, so re-ingesting refreshes ``body_clean``.
CLEANING_VERSION = "7"
#: Items per message from the worker, and messages in flight: bounds the memory of both sides.
_CHUNK = 1000
_IN_FLIGHT = 8
#: Seconds between checks that the worker is still alive while waiting for it.
_POLL = 5.0
# prctl's option that sends a signal when the parent dies (linux/prctl.h).
_PR_SET_PDEATHSIG = 1
# How often a worker checks that its parent is still there.
_WATCH = 1.0
_ROW_NAMES = (
    "source",
    "external_id",
    "channel",
    "subject",
    "body_raw",
    "body_clean",
    "created_at",
    "resolved_at",
    "status",
    "csat",
    "agent",
    "tags",
    "extra",
    "content_hash",
)
_DATES = frozenset({"created_at", "resolved_at"})


@dataclass(slots=True)
class PreparedInteraction:
    """An interaction record made ready for the writer (the row lacks only ``customer_id``)."""

    external_id: str
    line: int | None
    digest: str
    facts: CustomerFacts | None
    row: dict[str, Any]
    #: The source the record named itself (``InteractionRecord.source``); None: the load's.
    source: str | None = None


def salt_of(redact: bool, region: str | None) -> str:
    """What, besides the record, decides its stored form: re-ingesting under other settings
    must count as a change."""
    return f"{CLEANING_VERSION}|{int(redact)}|{region}|"


def cut(value: str | None, size: int) -> str | None:
    """``value`` shortened to ``size`` characters (None and "" pass through)."""
    return value[:size] if value else value


def record_facts(
    rec: InteractionRecord | CustomerEventRecord, region: str | None
) -> CustomerFacts | None:
    """The customer keys and fields a contact or event names; None when it names none."""
    keys = []
    if rec.customer_email and (email := normalise_email(rec.customer_email)):
        keys.append(("email", email))
    if rec.customer_phone and (phone := normalise_phone(rec.customer_phone, region)):
        keys.append(("phone", phone))
    if rec.account_id and rec.account_id.strip():
        keys.append(("account", rec.account_id.strip()[:255]))
    if not keys:
        return None
    if isinstance(rec, CustomerEventRecord):
        return CustomerFacts(keys)
    return CustomerFacts(
        keys,
        name=cut(rec.customer_name, 255),
        segment=cut(rec.segment, 64),
        value=rec.customer_value,
        kind=rec.customer_kind,
        department=cut(rec.department, 128),
    )


def customer_facts(rec: CustomerRecord, region: str | None) -> CustomerFacts:
    """What a CRM record says about its customer, authoritatively."""
    keys = []
    if rec.account_id:
        keys.append(("account", rec.account_id.strip()[:255]))
    keys += [("email", e) for e in dict.fromkeys(filter(None, map(normalise_email, rec.emails)))]
    keys += [
        ("phone", p)
        for p in dict.fromkeys(filter(None, (normalise_phone(x, region) for x in rec.phones)))
    ]
    return CustomerFacts(
        keys,
        name=cut(rec.name, 255),
        segment=cut(rec.segment, 64),
        value=rec.value,
        account_owner=cut(rec.account_owner, 255),
        kind=rec.kind,
        department=cut(rec.department, 128),
        authoritative=True,
    )


def digest(rec: InteractionRecord | CustomerEventRecord, salt: str) -> str:
    """The content hash compared on re-ingest: equal means nothing to update."""
    if isinstance(rec, InteractionRecord) and rec.source_digest:
        return hashlib.sha256((salt + rec.source_digest).encode()).hexdigest()
    # The source is not content: it is half of the key the hash is compared under.
    payload = rec.model_dump(mode="json", exclude={"line", "source_digest", "source"})
    return hashlib.sha256((salt + json.dumps(payload, sort_keys=True)).encode()).hexdigest()


def body_clean(rec: InteractionRecord, redact: bool = True) -> str:
    """What the models read of a record: its subject and the customer's own words, cleaned."""
    turns = rec.customer_turns if rec.customer_turns is not None else [rec.body]
    words = " ".join(filter(None, (clean_text(t, redact=redact) for t in turns)))
    subject = clean_subject(rec.subject) if rec.subject else ""
    if subject and (topic := form_subject_topic(subject)) is not None:
        # "Contact form: Delivery" is the form's, not the customer's: the topic only stands in
        # for an empty message.
        subject = "" if words else topic
    if subject and redact:
        subject = redact_pii(subject)
    return f"{subject} {words}" if subject and words else subject or words


def _text(value: str | None, size: int | None = None) -> str | None:
    # PostgreSQL stores no NUL characters; readers of nested formats may pass them through.
    if value and "\x00" in value:
        value = value.replace("\x00", "")
    return value[:size] if value and size else value


def _json_safe(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {str(k).replace("\x00", ""): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def interaction_row(
    rec: InteractionRecord, source: str, customer_id: int | None, content_hash: str, redact: bool
) -> dict[str, Any]:
    """The ``interaction`` table row of a record (``ingested_at`` is set by the writer), under
    the source the record names, else ``source``."""
    extra = rec.extra
    if extra and any(type(v) is not str or "\x00" in v for v in extra.values()):
        extra = _json_safe(extra)
    return {
        "source": rec.source or source,
        "external_id": rec.external_id,
        "channel": rec.channel[:32],
        "customer_id": customer_id,
        "subject": _text(rec.subject),
        "body_raw": _text(rec.body) or "",
        "body_clean": _text(body_clean(rec, redact)) or "",
        "created_at": as_utc(rec.created_at),
        "resolved_at": as_utc(rec.resolved_at),
        "status": _text(rec.status, 32),
        "csat": rec.csat,
        "agent": _text(rec.agent, 255),
        "tags": [t.replace("\x00", "") for t in rec.tags],
        "extra": extra,
        "content_hash": content_hash,
    }


def prepare_interaction(
    rec: InteractionRecord, source: str, redact: bool, region: str | None
) -> PreparedInteraction:
    """Everything of a record the writer needs, worked out without the database."""
    content_hash = digest(rec, salt_of(redact, region))
    row = interaction_row(rec, source, None, content_hash, redact)
    del row["customer_id"]
    return PreparedInteraction(
        rec.external_id, rec.line, content_hash, record_facts(rec, region), row, rec.source
    )


# --- the worker process --------------------------------------------------------------------


def _pack(p: PreparedInteraction) -> tuple[Any, ...]:
    row = p.row
    values = tuple(
        row[n].isoformat() if n in _DATES and row[n] is not None else row[n] for n in _ROW_NAMES
    )
    facts = p.facts
    packed_facts = (
        None
        if facts is None
        else (facts.keys, facts.name, facts.segment, facts.value, facts.kind, facts.department)
    )
    return (p.external_id, p.line, p.digest, packed_facts, values, p.source)


def _unpack(packed: tuple[Any, ...]) -> PreparedInteraction:
    external_id, line, content_hash, facts, values, source = packed
    row = dict(zip(_ROW_NAMES, values, strict=True))
    for name in _DATES:
        if row[name] is not None:
            row[name] = datetime.fromisoformat(row[name])
    return PreparedInteraction(
        external_id,
        line,
        content_hash,
        None
        if facts is None
        else CustomerFacts(
            facts[0],
            name=facts[1],
            segment=facts[2],
            value=facts[3],
            kind=facts[4],
            department=facts[5],
        ),
        row,
        source,
    )


def _die_with_parent(parent: int) -> None:
    """End this worker as soon as the process that started it is gone.

    ``daemon=True`` only helps when the parent exits normally; after ``kill -9`` the worker
    would stay blocked on a full queue, holding the input file and multiprocessing's resource
    tracker, for good. On Linux the kernel kills it with its parent (``PR_SET_PDEATHSIG``);
    everywhere a watchdog thread sees the parent go (the worker is handed to another parent).
    """
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
            pass
    if os.getppid() != parent:  # gone before the line above took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_WATCH)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _work(
    out: Any,
    path: str,
    fmt: str,
    mapping: dict[str, str] | None,
    source: str,
    redact: bool,
    region: str | None,
    parent: int,
    encoding: str | None = None,
) -> None:
    """The worker: read and prepare ``path``, sending chunks of items, then None."""
    _die_with_parent(parent)
    chunk: list[tuple[str, Any]] = []
    try:
        for item in read_records(Path(path), fmt, mapping, encoding):
            if isinstance(item, InteractionRecord):
                chunk.append(("i", _pack(prepare_interaction(item, source, redact, region))))
            else:
                chunk.append(("o", item))
            if len(chunk) >= _CHUNK:
                out.put(chunk)
                chunk = []
    except InputError as exc:
        chunk.append(("error", exc))
    except Exception as exc:  # sent as text: an arbitrary exception may not survive pickling
        chunk.append(("crash", f"{type(exc).__name__}: {exc}"))
    out.put(chunk)
    out.put(None)


def prepared_items(
    path: Path,
    fmt: str,
    mapping: Mapping[str, str] | None,
    source: str,
    redact: bool,
    region: str | None,
    encoding: str | None = None,
) -> Iterator[Item | PreparedInteraction]:
    """The items of ``path`` with interactions prepared in a worker process, in file order.

    Raises:
        InputError: where the reader found a bad file, as ``read_records`` would.
        RuntimeError: when the worker fails otherwise or dies.
    """
    ctx = mp.get_context("spawn")  # a fresh interpreter: no inherited database connections
    out = ctx.Queue(maxsize=_IN_FLIGHT)
    args = (
        out,
        str(path),
        fmt,
        dict(mapping) if mapping else None,
        source,
        redact,
        region,
        os.getpid(),
        encoding,
    )
    worker = ctx.Process(target=_work, args=args, daemon=True)
    worker.start()
    try:
        while True:
            try:
                chunk = out.get(timeout=_POLL)
            except queue.Empty:
                if not worker.is_alive():
                    raise RuntimeError(
                        f"the ingest worker for {path} stopped (exit code {worker.exitcode})"
                    ) from None
                continue
            if chunk is None:
                return
            for kind, value in chunk:
                if kind == "i":
                    yield _unpack(value)
                elif kind == "o":
                    yield value
                elif kind == "error":
                    raise value
                else:
                    raise RuntimeError(f"the ingest worker for {path} failed: {value}")
    finally:
        if worker.is_alive():
            worker.terminate()
        worker.join()
        out.close()
        out.cancel_join_thread()
