"""Ingest formats: detection, e-mail threading, chats, help-desk exports, customers and events."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.errors import InputError
from rootline.ingest.models import Customer, CustomerEvent, CustomerIdentity, Interaction
from rootline.ingest.readers import detect_format, read_records
from rootline.ingest.schemas import InteractionRecord, Rejected
from rootline.ingest.service import ingest_file

SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "samples"


def _one(session: Session, external_id: str) -> Interaction:
    return session.scalars(
        sa.select(Interaction).where(Interaction.external_id == external_id)
    ).one()


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("thread.mbox", "mbox"),
        ("single.eml", "eml"),
        ("chat.json", "chat-json"),
        ("zendesk.json", "zendesk"),
        ("freshdesk.json", "freshdesk"),
        ("intercom.json", "intercom"),
        ("customers.csv", "customers"),
        ("events.csv", "events"),
    ],
)
def test_every_sample_format_is_detected(name: str, fmt: str) -> None:
    assert detect_format(SAMPLES / name) == fmt


def test_plain_tables_stay_tables(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("id,body\n1,hello\n", encoding="utf-8")
    (tmp_path / "t.tsv").write_text("id\tbody\n1\thello\n", encoding="utf-8")
    (tmp_path / "t.jsonl").write_text('{"id": 1, "text": "hi"}\n', encoding="utf-8")
    assert [detect_format(tmp_path / n) for n in ("t.csv", "t.tsv", "t.jsonl")] == [
        "csv",
        "tsv",
        "jsonl",
    ]


def test_mbox_threads_into_one_conversation_per_root(session: Session) -> None:
    report = ingest_file(session, SAMPLES / "thread.mbox")
    assert report.inserted == 2
    thread = _one(session, "<root-1@example.com>")
    assert thread.channel == "email"
    assert thread.extra["messages"] == 3
    # Everyone's messages are kept for display; only the customer's are read by models.
    assert "check your spam folder" in thread.body_raw
    assert "spam folder" not in thread.body_clean.replace("Not in spam", "")
    assert "link still does not come" in thread.body_clean
    assert "Café" in thread.body_clean  # quoted-printable ISO-8859-1 HTML decoded
    assert "[PHONE]" not in thread.body_clean and "Ann" not in thread.body_clean
    assert thread.subject == "Password reset email never arrives"
    card = _one(session, "<other-1@example.org>")
    assert "[CARD]" in card.body_clean and "4111" in card.body_raw


def test_reply_in_a_later_file_updates_the_same_conversation(
    session: Session, tmp_path: Path
) -> None:
    raw = (SAMPLES / "thread.mbox").read_text(encoding="utf-8")
    first, _, _ = raw.partition("From support@shop.example")
    path = tmp_path / "box.mbox"
    path.write_text(first, encoding="utf-8")
    assert ingest_file(session, path, source="mail").inserted == 1
    path.write_text(raw, encoding="utf-8")
    report = ingest_file(session, path, source="mail")
    assert (report.inserted, report.updated) == (1, 1)
    assert _one(session, "<root-1@example.com>").extra["messages"] == 3


def test_eml_html_only_with_encoded_headers_and_folder(session: Session, tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    shutil.copy(SAMPLES / "single.eml", folder / "a.eml")
    report = ingest_file(session, folder, source="inbox")
    assert report.inserted == 1
    row = _one(session, "<eml-1@example.net>")
    assert row.subject == "Rückerstattung fehlt"
    assert row.body_clean.endswith(
        "my refund for order 5521 has not arrived after two weeks – please check."
    )
    assert "Jürgen" not in row.body_clean and "Hallo" not in row.body_clean
    customer = session.get(Customer, row.customer_id)
    assert customer is not None and customer.name == "Jürgen Müller"


def test_chat_customer_turns_make_the_clean_text(session: Session) -> None:
    ingest_file(session, SAMPLES / "chat.json")
    chat = _one(session, "chat-1")
    assert (
        chat.body_clean
        == "the app crashes when I open my orders android 14, it started after the update"
    )
    assert "Which phone do you use?" in chat.body_raw and "Bot: Hi!" in chat.body_raw
    assert (chat.channel, chat.csat, chat.agent, chat.extra["agent_turns"]) == (
        "chat",
        4.0,
        "Dan",
        1,
    )
    assert _one(session, "chat-2").created_at is not None


def test_chat_without_a_customer_turn_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(
        '[{"id": "x", "turns": [{"role": "agent", "text": "hello"}]}]', encoding="utf-8"
    )
    (item,) = list(read_records(path, "chat-json"))
    assert isinstance(item, Rejected)
    assert "line 1" in str(item.error) and "turns.role" in str(item.error)


def test_zendesk_mapping(session: Session) -> None:
    ingest_file(session, SAMPLES / "zendesk.json")
    t = _one(session, "101")
    assert t.body_clean == "Refund missing I returned the shoes but no refund yet."
    assert "internal" not in t.body_raw and "Refund issued today" in t.body_raw
    assert (t.channel, t.status, t.csat, t.agent) == ("email", "solved", 5.0, "Agent Kim")
    assert t.resolved_at is not None and t.tags == ["refund", "shoes"]
    phones = set(
        session.scalars(sa.select(CustomerIdentity.value).where(CustomerIdentity.kind == "phone"))
    )
    assert phones == {"+14155550100"}


def test_freshdesk_and_intercom_mappings(session: Session) -> None:
    ingest_file(session, SAMPLES / "freshdesk.json")
    ingest_file(session, SAMPLES / "intercom.json")
    fd = _one(session, "5001")
    assert (fd.status, fd.channel) == ("resolved", "web")
    assert (
        fd.body_clean
        == "Invoice PDF is blank The invoice download gives a blank page. Chrome on Windows."
    )
    ic = _one(session, "ic-9")
    assert ic.body_clean == "Promo code SAVE10 says invalid It worked yesterday at checkout"
    assert "code expired yesterday" not in ic.body_raw  # a private note
    assert (ic.csat, ic.status, ic.tags) == (2.0, "closed", ["promo"])


def test_customers_then_contacts_and_events_share_one_identity(
    session: Session, tmp_path: Path
) -> None:
    report = ingest_file(session, SAMPLES / "customers.csv")
    assert report.customers_created == 2
    again = ingest_file(session, SAMPLES / "customers.csv")
    assert again.customers_created == 0
    ann = session.scalars(sa.select(Customer).where(Customer.name == "Ann Lee")).one()
    assert (ann.segment, ann.value, ann.account_owner) == ("enterprise", 120000.0, "Maria")
    tickets = tmp_path / "tickets.csv"
    tickets.write_text("id,body,email\n1,refund missing,ANN.LEE@work.example\n", encoding="utf-8")
    ingest_file(session, tickets)
    assert _one(session, "1").customer_id == ann.id
    events = ingest_file(session, SAMPLES / "events.csv")
    assert events.events_inserted == 3
    assert ingest_file(session, SAMPLES / "events.csv").events_inserted == 0
    kinds = dict(session.execute(sa.select(CustomerEvent.external_id, CustomerEvent.kind)).all())
    assert kinds == {"E1": "order", "E2": "cancellation", "E3": "upgrade"}
    owner = session.scalar(
        sa.select(CustomerEvent.customer_id).where(CustomerEvent.external_id == "E1")
    )
    assert owner == ann.id


def test_unknown_event_kind_names_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "ev.csv"
    path.write_text(
        "event_id,customer_id,event_type,date,amount\n1,A,teleport,2026-01-01,5\n", encoding="utf-8"
    )
    (item,) = list(read_records(path, "events"))
    assert isinstance(item, Rejected)
    assert "line 2" in str(item.error) and "event_type" in str(item.error)


def test_records_are_canonical(tmp_path: Path) -> None:
    items = list(read_records(SAMPLES / "chat.json"))
    assert all(isinstance(i, InteractionRecord) for i in items)


def test_unknown_format_is_refused() -> None:
    with pytest.raises(InputError, match="unknown format"):
        read_records(SAMPLES / "chat.json", "pdf")
