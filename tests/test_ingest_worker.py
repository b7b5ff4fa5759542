"""Reading and cleaning in a worker process gives exactly what the single-process ingest gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.errors import InputError
from rootline.ingest.models import Customer, CustomerIdentity, Interaction
from rootline.ingest.service import IngestOptions, ingest_file
from tests.factories import write_csv

_COLUMNS = (
    Interaction.external_id,
    Interaction.channel,
    Interaction.subject,
    Interaction.body_raw,
    Interaction.body_clean,
    Interaction.created_at,
    Interaction.resolved_at,
    Interaction.csat,
    Interaction.tags,
    Interaction.extra,
    Interaction.content_hash,
)


def _rows(n: int, bad_at: int | None = None) -> list[dict[str, object]]:
    return [
        {
            "ticket_id": f"T{i:04d}",
            "subject": "Contact form: Delivery" if i % 3 == 0 else f"Parcel {i}",
            "description": (
                f"Order number: BC-{1000 + i}\nTopic: Delivery\nMessage: parcel {i} is late"
                if i % 3 == 0
                else f"Hi,\n\nThe parcel {i} is late, call +44 20 7946 0958.\n\nThanks,\nAnna"
            ),
            "requester": f"user{i % 7}@example.com",
            "created_at": "garbage" if i == bad_at else f"2026-09-{1 + i % 28:02d}T10:00:00+02:00",
            "resolved_at": "" if i % 2 else "2026-10-01T10:00:00Z",
            "csat": str(1 + i % 5) if i % 4 else "",
            "tags": "web;delivery",
            "intent": f"k{i % 4}",
        }
        for i in range(n)
    ]


def _snapshot(session: Session, source: str) -> list[tuple[object, ...]]:
    rows = session.execute(
        sa.select(*_COLUMNS, Customer.name, CustomerIdentity.value)
        .join(Customer, Customer.id == Interaction.customer_id)
        .join(CustomerIdentity, CustomerIdentity.customer_id == Customer.id)
        .where(Interaction.source == source)
        .order_by(Interaction.external_id)
    )
    return [tuple(r) for r in rows]


def test_the_worker_stores_the_same_rows_as_the_single_process(
    session: Session, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "contacts.csv", _rows(60))
    alone = ingest_file(session, path, source="alone", options=IngestOptions(worker=False))
    worker = ingest_file(session, path, source="worker", options=IngestOptions(worker=True))
    assert alone.inserted == worker.inserted == 60
    snapshot = _snapshot(session, "alone")
    assert len(snapshot) == 60
    assert _snapshot(session, "worker") == snapshot
    # The same content hash either way: a re-ingest through the other path changes nothing.
    again = ingest_file(session, path, source="alone", options=IngestOptions(worker=True))
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 60)


def test_a_bad_record_through_the_worker_names_file_line_and_field(
    session: Session, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "bad.csv", _rows(30, bad_at=12))
    errors = []
    for worker in (False, True):
        with pytest.raises(InputError) as err:
            ingest_file(session, path, source="w", options=IngestOptions(worker=worker))
        errors.append(str(err.value))
        assert (err.value.path, err.value.field) == (str(path), "created_at")
        assert err.value.line == 62  # where row 12 starts: the bodies span several lines
    assert errors[0] == errors[1]


def test_skip_bad_through_the_worker_keeps_the_good_records(
    session: Session, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "bad.csv", _rows(30, bad_at=12))
    rejects = tmp_path / "rejects.jsonl"
    report = ingest_file(
        session,
        path,
        source="w",
        options=IngestOptions(worker=True, skip_bad=True, rejects_path=rejects),
    )
    assert (report.inserted, report.rejected) == (29, 1)
    reject = json.loads(rejects.read_text(encoding="utf-8"))
    assert (reject["line"], reject["field"]) == (62, "created_at")


def test_an_unreadable_file_through_the_worker_is_a_clear_error(
    session: Session, tmp_path: Path
) -> None:
    path = tmp_path / "binary.csv"
    path.write_bytes(b"ticket_id,description\n1,\xff\xfe broken\n")
    with pytest.raises(InputError, match="not UTF-8"):
        ingest_file(session, path, source="w", options=IngestOptions(worker=True))
    assert session.scalar(sa.select(sa.func.count()).select_from(Interaction)) == 0
