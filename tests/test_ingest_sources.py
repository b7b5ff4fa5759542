"""The source of a record: the system it comes from, per record in a mixed spreadsheet.

A plain table (CSV, TSV, JSON) may say per row which system each record comes from in a
``source_system`` column; a help desk's own export never does (Freshdesk's ``Source`` column is
the channel). Each record is upserted under its own source, so a mixed file loads twice adding
nothing, and one external id under two systems is two contacts.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.errors import InputError
from rootline.ingest.models import Customer, CustomerIdentity, Interaction
from rootline.ingest.service import IngestOptions, ingest_file
from tests.cli_runner import run_rootline
from tests.factories import write_csv

REAL = Path(__file__).resolve().parent / "realworld"


def _mixed(path: Path) -> Path:
    """Tickets of two systems in one sheet: ids 1 to 3 exist in both, 4 only in Zendesk."""
    rows: list[dict[str, object]] = []
    for system, ids in (("zendesk", "1234"), ("freshdesk", "123")):
        for i in ids:
            rows.append(
                {
                    "ticket_id": i,
                    "source_system": system,
                    "subject": f"{system} ticket {i}",
                    "description": f"the parcel of order {i} from {system} never came",
                    "email": f"{system}{i}@example.com",
                    "created_at": f"2026-09-0{i}T10:00:00Z",
                }
            )
    rows.insert(3, rows.pop())  # the two systems interleaved, as a merged sheet has them
    return write_csv(path, rows)


def _stored(session: Session) -> list[tuple[object, ...]]:
    rows = session.execute(
        sa.select(Interaction.source, Interaction.external_id, Interaction.subject).order_by(
            Interaction.source, Interaction.external_id
        )
    )
    return [tuple(r) for r in rows]


def test_a_source_system_column_stores_each_record_under_its_system(
    session: Session, tmp_path: Path
) -> None:
    path = _mixed(tmp_path / "merged.csv")
    first = ingest_file(session, path)
    assert (first.read, first.inserted) == (7, 7)
    assert first.sources == ["zendesk", "freshdesk"]
    assert first.by_source["zendesk"]["inserted"] == 4
    assert first.by_source["freshdesk"]["inserted"] == 3
    # The same id under two systems is two contacts, neither a repeat nor "known elsewhere".
    assert first.repeated == 0 and first.known_elsewhere == {}
    stored = _stored(session)
    assert [(s, e) for s, e, _ in stored] == [
        ("freshdesk", "1"),
        ("freshdesk", "2"),
        ("freshdesk", "3"),
        ("zendesk", "1"),
        ("zendesk", "2"),
        ("zendesk", "3"),
        ("zendesk", "4"),
    ]
    assert all(str(subject).startswith(str(source)) for source, _, subject in stored)
    identity_sources = set(session.scalars(sa.select(CustomerIdentity.source)))
    assert identity_sources == {"zendesk", "freshdesk"}

    again = ingest_file(session, path)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 7)
    assert again.by_source["freshdesk"] == {"read": 3, "unchanged": 3}
    assert _stored(session) == stored


def test_a_row_without_a_system_goes_under_the_loads_source(
    session: Session, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "partly.csv",
        [
            {"id": "1", "source_system": "zendesk", "body": "refund missing"},
            {"id": "1", "source_system": "", "body": "refund missing too"},
        ],
    )
    report = ingest_file(session, path)
    assert report.sources == ["zendesk", "import"]
    assert [(s, e) for s, e, _ in _stored(session)] == [("import", "1"), ("zendesk", "1")]


def test_ids_known_under_another_source_are_reported_by_the_source_they_went_to(
    session: Session, tmp_path: Path
) -> None:
    earlier = write_csv(
        tmp_path / "zendesk.csv",
        [{"id": str(i), "body": f"late parcel {i}"} for i in range(1, 4)],
    )
    ingest_file(session, earlier, source="zendesk")
    mixed = write_csv(
        tmp_path / "mixed.csv",
        [
            {"id": "1", "source_system": "desk", "body": "late parcel 1"},
            {"id": "2", "source_system": "desk", "body": "late parcel 2"},
            {"id": "9", "source_system": "zendesk", "body": "a new one"},
        ],
    )
    report = ingest_file(session, mixed)
    assert report.known_elsewhere_by_source == {"desk": {"zendesk": 2}}
    assert report.known_elsewhere == {"zendesk": 2}


def test_a_given_source_that_a_row_contradicts_is_refused(session: Session, tmp_path: Path) -> None:
    path = _mixed(tmp_path / "merged.csv")
    with pytest.raises(InputError) as caught, session.begin_nested():
        ingest_file(session, path, source="zendesk")
    assert (caught.value.path, caught.value.line, caught.value.field) == (str(path), 5, "source")
    assert "names source 'freshdesk'" in str(caught.value)
    assert _stored(session) == []
    # Rows that agree with the given source, or name none, load under it.
    agreeing = write_csv(
        tmp_path / "agree.csv",
        [
            {"id": "1", "source_system": "zendesk", "body": "refund missing"},
            {"id": "2", "source_system": "", "body": "refund late"},
        ],
    )
    assert ingest_file(session, agreeing, source="zendesk").sources == ["zendesk"]
    # With --skip-bad the contradicting rows are rejected, the others kept.
    skipped = ingest_file(
        session,
        path,
        source="zendesk",
        options=IngestOptions(skip_bad=True, rejects_path=tmp_path / "r.jsonl"),
    )
    assert (skipped.rejected, skipped.read) == (3, 4)


def test_a_source_name_too_long_is_refused_naming_its_column(
    session: Session, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "long.csv", [{"id": "1", "Source System": "x" * 65, "body": "refund missing"}]
    )
    with pytest.raises(InputError, match="at most 64 characters") as caught:
        ingest_file(session, path)
    assert (caught.value.line, caught.value.field) == (2, "Source System")


def _snapshot(session: Session) -> list[tuple[object, ...]]:
    rows = session.execute(
        sa.select(
            Interaction.source,
            Interaction.external_id,
            Interaction.body_clean,
            Interaction.created_at,
            Interaction.content_hash,
            Customer.id,
            CustomerIdentity.value,
            CustomerIdentity.source,
        )
        .join(Customer, Customer.id == Interaction.customer_id)
        .join(CustomerIdentity, CustomerIdentity.customer_id == Customer.id)
        .order_by(Interaction.source, Interaction.external_id)
    )
    return [tuple(r) for r in rows]


def test_the_worker_stores_a_mixed_file_as_the_single_process_does(
    session: Session, tmp_path: Path
) -> None:
    path = _mixed(tmp_path / "merged.csv")
    with session.begin_nested() as alone_tx:
        alone = ingest_file(session, path, options=IngestOptions(worker=False))
        expected = _snapshot(session)
        alone_tx.rollback()
    worker = ingest_file(session, path, options=IngestOptions(worker=True))
    assert (worker.sources, worker.by_source) == (alone.sources, alone.by_source)
    got = _snapshot(session)
    assert len(got) == 7
    # Customer ids differ between the two runs; everything else is the same.
    assert [r[:5] + r[6:] for r in got] == [r[:5] + r[6:] for r in expected]
    again = ingest_file(session, path, options=IngestOptions(worker=False))
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 7)


def test_a_freshdesk_csv_export_comes_from_freshdesk_its_source_column_is_the_channel(
    session: Session, tmp_path: Path
) -> None:
    report = ingest_file(session, REAL / "freshdesk_tickets.csv")
    assert report.sources == ["freshdesk"] and report.inserted == 3
    found = {i.external_id: i for i in session.scalars(sa.select(Interaction))}
    assert {i.source for i in found.values()} == {"freshdesk"}
    assert {k: v.channel for k, v in found.items()} == {
        "8101": "email",
        "8102": "web",
        "8103": "phone",
    }
    assert found["8101"].agent == "Priya Nair" and found["8101"].extra["Group"] == "Billing"
    assert found["8103"].resolved_at is not None
    # Named explicitly, the same; and a plain sheet's "source" column is kept, not the system.
    again = ingest_file(session, REAL / "freshdesk_tickets.csv", fmt="freshdesk")
    assert (again.sources, again.unchanged) == (["freshdesk"], 3)
    plain = write_csv(tmp_path / "plain.csv", [{"id": "1", "body": "hi", "source": "Email"}])
    assert ingest_file(session, plain).sources == ["import"]
    row = session.scalars(sa.select(Interaction).where(Interaction.source == "import")).one()
    assert row.extra == {"source": "Email"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cli.db'}"
    return str(request.getfixturevalue("own_postgres_url"))


@pytest.mark.slow
def test_the_command_loads_a_mixed_sheet_twice_naming_both_sources(
    db_url: str, tmp_path: Path
) -> None:
    path = _mixed(tmp_path / "merged.csv")
    first = run_rootline("ingest", str(path), db=db_url, folder=tmp_path)
    lines = first.stdout.splitlines()
    assert lines[0].startswith("sources zendesk, freshdesk: read 7, inserted 7,")
    assert "  zendesk: read 4, inserted 4," in lines[1]
    assert "  freshdesk: read 3, inserted 3," in lines[2]
    assert "note:" not in first.stdout
    again = run_rootline("ingest", str(path), db=db_url, folder=tmp_path)
    assert "sources zendesk, freshdesk: read 7, inserted 0, updated 0, unchanged 7" in again.stdout

    refused = run_rootline(
        "ingest", str(path), "--source", "zendesk", db=db_url, folder=tmp_path, check=False
    )
    assert refused.returncode == 2
    assert "line 5, field 'source'" in refused.stderr and "Traceback" not in refused.stderr

    export = tmp_path / "export.csv"
    shutil.copy(REAL / "freshdesk_tickets.csv", export)
    desk = run_rootline("ingest", str(export), db=db_url, folder=tmp_path)
    assert desk.stdout.startswith("source freshdesk: read 3, inserted 3")
