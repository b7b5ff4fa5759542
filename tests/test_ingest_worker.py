"""Reading and cleaning in a worker process gives exactly what the single-process ingest gives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.errors import InputError
from rootline.ingest.models import Customer, CustomerIdentity, Interaction
from rootline.ingest.service import IngestOptions, ingest_file
from tests.factories import themed_csv, write_csv

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


def _children(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_the_worker_dies_with_a_killed_parent(tmp_path: Path) -> None:
    """``kill -9`` of an ingest leaves no worker behind holding the input file."""
    path = themed_csv(tmp_path / "big.csv", per_theme=400)
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from rootline.ingest.prepare import prepared_items\n"
        "items = prepared_items(Path(sys.argv[1]), 'auto', None, 's', True, None)\n"
        "next(items)\n"
        "print('started', flush=True)\n"
        "time.sleep(120)\n"  # the queue fills and the worker blocks, as under a slow writer
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
        workers = _children(proc.pid)
        assert workers, "no worker process was started"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(w) for w in workers), "the worker outlived its killed parent"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
