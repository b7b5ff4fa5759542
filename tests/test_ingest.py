"""Ingest: column detection, idempotency, updates in place, transactional errors, identity."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.errors import InputError
from rootline.ingest.columns import detect_columns, parse_mapping
from rootline.ingest.models import Customer, CustomerIdentity, Interaction
from rootline.ingest.service import ingest_file
from tests.factories import themed_csv, write_csv

SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "samples"


def _count(session: Session, model: type) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def test_detects_common_columns_and_keeps_unknown_ones() -> None:
    cols = detect_columns(["Ticket ID", "Subject", "Description", "Requester", "Date", "intent"])
    assert cols == {
        "Ticket ID": "external_id",
        "Subject": "subject",
        "Description": "body",
        "Requester": "customer_email",
        "Date": "created_at",
        "intent": "extra.intent",
    }


def test_explicit_mapping_wins_over_aliases() -> None:
    mapping = parse_mapping(["text=subject", "notes=body"])
    cols = detect_columns(["text", "notes"], mapping)
    assert cols == {"text": "subject", "notes": "body"}


@pytest.mark.parametrize("pair", ["nocolon", "a=", "col=unknown_field"])
def test_bad_mapping_is_refused(pair: str) -> None:
    with pytest.raises(InputError):
        parse_mapping([pair])


def test_ingest_csv_then_again_adds_nothing(session: Session, tmp_path: Path) -> None:
    path = themed_csv(tmp_path / "tickets.csv", per_theme=5)
    first = ingest_file(session, path)
    assert (first.read, first.inserted, first.updated) == (30, 30, 0)
    second = ingest_file(session, path)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 30)
    assert _count(session, Interaction) == 30
    row = session.scalars(sa.select(Interaction).where(Interaction.external_id == "T00000")).one()
    assert row.source == "import"  # a plain table names no system; never the file's name
    assert row.extra["intent"]
    assert row.csat == 1.0
    assert row.created_at is not None


def test_one_export_saved_under_two_names_is_stored_once(session: Session, tmp_path: Path) -> None:
    """The same tickets exported on two days under two file names are the same contacts."""
    monday = themed_csv(tmp_path / "export-monday.csv", per_theme=3)
    tuesday = tmp_path / "export-tuesday.csv"
    tuesday.write_bytes(monday.read_bytes())
    first = ingest_file(session, monday)
    second = ingest_file(session, tuesday)
    assert first.inserted == _count(session, Interaction) and second.inserted == 0
    assert first.sources == second.sources == ["import"]
    zendesk = ingest_file(session, SAMPLES / "zendesk.json")
    assert zendesk.sources == ["zendesk"]


def test_ids_already_stored_under_another_source_are_reported(
    session: Session, tmp_path: Path
) -> None:
    """The same tickets loaded once as a help-desk export and once under another name: the
    second load says how many of its new contacts the first source holds already."""
    path = themed_csv(tmp_path / "tickets.csv", per_theme=3)
    first = ingest_file(session, path, source="helpdesk")
    assert first.known_elsewhere == {}
    again = ingest_file(session, path, source="helpdesk")
    assert again.known_elsewhere == {}  # the same source: updates in place, nothing new
    other = ingest_file(session, path, source="crm-export")
    assert other.inserted == first.inserted
    assert other.known_elsewhere == {"helpdesk": first.inserted}
    fresh = write_csv(tmp_path / "fresh.csv", [{"id": "NEW-1", "body": "a parcel never came"}])
    assert ingest_file(session, fresh, source="third").known_elsewhere == {}


def test_changed_record_updates_in_place(session: Session, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", [{"id": "1", "body": "card declined at checkout"}])
    ingest_file(session, path)
    write_csv(path, [{"id": "1", "body": "card declined at checkout again today"}])
    report = ingest_file(session, path)
    assert (report.inserted, report.updated) == (0, 1)
    row = session.scalars(sa.select(Interaction)).one()
    assert row.body_clean == "card declined at checkout again today"


def test_bad_record_writes_nothing_and_names_file_line_field(
    session: Session, tmp_path: Path
) -> None:
    rows = [{"id": str(i), "body": f"text {i}", "csat": "4"} for i in range(5)]
    rows[3]["csat"] = "very good"
    path = write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(InputError) as info, session.begin_nested():
        ingest_file(session, path)
    message = str(info.value)
    assert "bad.csv" in message and "line 5" in message and "'csat'" in message
    assert _count(session, Interaction) == 0


def test_row_with_wrong_column_count_is_reported(tmp_path: Path, session: Session) -> None:
    path = tmp_path / "short.csv"
    path.write_text("id,body\n1,fine\n2\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line 3.*expected 2 columns"), session.begin_nested():
        ingest_file(session, path)


def test_same_customer_across_two_sources_is_one_customer(session: Session, tmp_path: Path) -> None:
    a = write_csv(
        tmp_path / "helpdesk.csv",
        [
            {
                "ticket_id": "1",
                "body": "refund missing",
                "email": "Ann@Example.com",
                "account_id": "A-1",
            },
        ],
    )
    b = write_csv(
        tmp_path / "calls.csv",
        [
            {
                "call_id": "9",
                "notes": "caller asks about refund",
                "account_id": "A-1",
                "phone": "+44 20 7946 0958",
            },
        ],
    )
    ingest_file(session, a)
    ingest_file(session, b, mapping={"call_id": "external_id"})
    assert _count(session, Customer) == 1
    kinds = set(session.scalars(sa.select(CustomerIdentity.kind)))
    assert kinds == {"email", "account", "phone"}
    assert {i.customer_id for i in session.scalars(sa.select(Interaction))} == {
        session.scalar(sa.select(Customer.id))
    }


def test_jsonl_input(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "chats.jsonl"
    path.write_text(
        '{"id": "c1", "message": "app crashes on login", "channel": "Live Chat"}\n'
        '{"id": "c2", "message": "promo code invalid"}\n',
        encoding="utf-8",
    )
    report = ingest_file(session, path)
    assert report.inserted == 2
    assert (
        session.scalar(sa.select(Interaction.channel).where(Interaction.external_id == "c1"))
        == "chat"
    )


def test_invalid_json_line_is_reported(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text('{"id": "c1", "message": "ok"}\n{"id": \n', encoding="utf-8")
    with pytest.raises(InputError, match=r"broken.jsonl, line 2"), session.begin_nested():
        ingest_file(session, path)


def test_times_are_stored_in_utc_whatever_their_offset(session: Session, tmp_path: Path) -> None:
    """A +10:00 time and a UTC time of the same instant are stored alike, and order as instants."""
    path = write_csv(
        tmp_path / "zones.csv",
        [
            {"id": "1", "body": "late parcel", "created_at": "2026-03-02T09:00:00+10:00"},
            {"id": "2", "body": "late parcel again", "created_at": "2026-03-01T23:30:00Z"},
            {"id": "3", "body": "card declined", "created_at": "2026-03-01T19:00:00-05:00"},
        ],
    )
    ingest_file(session, path)
    rows = session.scalars(sa.select(Interaction).order_by(Interaction.created_at)).all()
    assert [r.external_id for r in rows] == ["1", "2", "3"]
    first = rows[0].created_at
    assert first.replace(tzinfo=None) == datetime(2026, 3, 1, 23, 0)
    assert first.utcoffset() in (None, timedelta(0))


def test_ids_repeated_in_one_file_are_counted_and_the_last_kept(
    session: Session, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "repeats.csv",
        [
            {"id": "1", "body": "first words"},
            {"id": "2", "body": "other"},
            {"id": "1", "body": "last words"},
        ],
    )
    report = ingest_file(session, path)
    assert (report.read, report.inserted, report.repeated) == (3, 2, 1)
    row = session.scalars(sa.select(Interaction).where(Interaction.external_id == "1")).one()
    assert row.body_clean == "last words"
    again = ingest_file(session, path)
    assert again.repeated == 1 and again.inserted == 0
