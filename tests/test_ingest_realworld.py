"""Real export shapes (``tests/realworld/``) through ingest, each on the vendor's own layout."""

from __future__ import annotations

import email
import gzip
import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.errors import InputError
from rootline.ingest.models import CustomerIdentity, Interaction
from rootline.ingest.service import IngestOptions, ingest_file

REAL = Path(__file__).resolve().parent / "realworld"


def _contacts(session: Session) -> dict[str, Interaction]:
    return {i.external_id: i for i in session.scalars(sa.select(Interaction))}


def test_zendesk_incremental_export_in_a_json_file(session: Session) -> None:
    """One ticket per line in a ``.json`` file is JSON lines; deleted tickets are no contacts."""
    for fmt in ("auto", "zendesk"):
        ingest_file(session, REAL / "zendesk_incremental.json", fmt=fmt, source="zendesk")
    found = _contacts(session)
    assert set(found) == {"201", "202"}
    assert found["201"].channel == "web" and "PAY-502" in found["201"].body_clean
    # A date in the text is a date, not a phone number.
    assert "29/11/2025" in found["202"].body_clean


def test_freshdesk_single_ticket_object(session: Session) -> None:
    """``GET /api/v2/tickets/{id}`` returns one object whose lists are not the records."""
    ingest_file(session, REAL / "freshdesk_ticket.json", source="freshdesk")
    (ticket,) = _contacts(session).values()
    assert ticket.external_id == "7301"
    assert ticket.body_clean.endswith("The invoice PDF for March is blank when I download it.")
    assert (ticket.channel, ticket.status) == ("web", "open")


@pytest.mark.parametrize("fmt", ["auto", "intercom", "json"])
def test_an_api_error_response_is_refused_with_its_message(session: Session, fmt: str) -> None:
    with pytest.raises(InputError, match=r"API error response.*Access Token Invalid"):
        ingest_file(session, REAL / "intercom_error.json", fmt=fmt, source="intercom")
    assert _contacts(session) == {}


def test_gzipped_mbox_and_eml(session: Session, tmp_path: Path) -> None:
    packed = tmp_path / "parcel.mbox.gz"
    packed.write_bytes(gzip.compress((REAL / "parcel.mbox").read_bytes()))
    ingest_file(session, packed, source="mail")
    mails = list(session.scalars(sa.select(Interaction)))
    assert len(mails) == 2
    bodies = {m.subject: m.body_clean for m in mails}
    assert "1448755200" in bodies["Parcel missing"]  # a Unix time, not a phone number
    assert bodies["Card declined"] == "Card declined My card was declined at checkout."

    box = (REAL / "parcel.mbox").read_text()
    one = email.message_from_string(box.split("\n\nFrom bob", 1)[0].split("\n", 1)[1])
    folder = tmp_path / "mail"
    folder.mkdir()
    (folder / "m3.eml.gz").write_bytes(
        gzip.compress(one.as_bytes().replace(b"<m1@example.com>", b"<m3@example.com>"))
    )
    report = ingest_file(session, folder, source="mail2")
    assert report.inserted == 1


def test_every_realworld_fixture_loads_twice_adding_nothing(
    session: Session, tmp_path: Path
) -> None:
    shapes = sorted(
        p.name
        for p in REAL.iterdir()
        if (p.is_dir() or p.suffix in {".json", ".mbox", ".eml", ".csv"})
        and p.name != "intercom_error.json"
    )
    assert len(shapes) >= 12, shapes
    for name in shapes:
        target = tmp_path / name
        if (REAL / name).is_dir():
            shutil.copytree(REAL / name, target)
        else:
            shutil.copy(REAL / name, target)
        first = ingest_file(session, target)
        again = ingest_file(session, target)
        assert first.inserted >= 1, name
        assert (again.inserted, again.updated) == (0, 0), name


def test_a_mailman_archive_reads_its_hidden_addresses(session: Session, tmp_path: Path) -> None:
    """Mailman's public archives write ``From: user at example.com (Name)``."""
    box = tmp_path / "2026-March.txt"
    box.write_text(
        "From ann at example.com  Mon Mar  2 09:00:00 2026\n"
        "From: ann at example.com (Ann Example)\n"
        "Date: Mon, 02 Mar 2026 09:00:00 +0000\n"
        "Subject: [users] Login fails\n"
        "Message-ID: <mm1@lists.example.com>\n\n"
        "I cannot log in since the update.\n\n"
        "From bob at example.org  Mon Mar  2 10:00:00 2026\n"
        "From: bob at example.org (Bob Example)\n"
        "Date: Mon, 02 Mar 2026 10:00:00 +0000\n"
        "Subject: [users] Export is empty\n"
        "Message-ID: <mm2@lists.example.com>\n\n"
        "The CSV export has no rows.\n",
        encoding="utf-8",
    )
    report = ingest_file(session, box, fmt="mbox", source="list")
    assert report.inserted == 2
    emails = set(
        session.scalars(sa.select(CustomerIdentity.value).where(CustomerIdentity.kind == "email"))
    )
    assert emails == {"ann@example.com", "bob@example.org"}


def test_a_bad_mbox_message_is_named_by_its_number(session: Session, tmp_path: Path) -> None:
    """Rejects of an mbox give the message's number in ``message``, the file in ``file``."""
    box = tmp_path / "box.mbox"
    text = (REAL / "parcel.mbox").read_text().replace("From: Bob Example <bob@example.com>\n", "")
    box.write_text(text)
    rejects = tmp_path / "rejects.jsonl"
    report = ingest_file(
        session, box, source="mail", options=IngestOptions(skip_bad=True, rejects_path=rejects)
    )
    assert (report.inserted, report.rejected) == (1, 1)
    (row,) = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert (row["file"], row["line"], row["message"], row["field"]) == (str(box), None, 2, "From")
    with pytest.raises(InputError) as caught:
        ingest_file(session, box, source="mail2")
    assert str(caught.value) == f"{box}, message 2, field 'From': no sender address"


def test_zendesk_full_export_names_the_embedded_assignee(session: Session) -> None:
    """The full JSON export embeds ``requester`` and ``assignee`` objects instead of users."""
    ingest_file(session, REAL / "zendesk_full_export.json", source="zendesk")
    (ticket,) = _contacts(session).values()
    assert ticket.agent == "Agent Lee"
    assert ticket.body_clean == "Locker code The parcel locker rejects my pickup code."


@pytest.mark.parametrize("fmt", ["jsonl", "json", "freshdesk", "intercom"])
def test_an_export_given_the_wrong_format_is_refused(session: Session, fmt: str) -> None:
    with pytest.raises(InputError, match=r"looks like a zendesk export.*--format zendesk"):
        ingest_file(session, REAL / "zendesk_full_export.json", fmt=fmt, source="x")
    assert _contacts(session) == {}


def test_a_windows_1252_spreadsheet_is_read_as_such(session: Session, tmp_path: Path) -> None:
    """Excel's "CSV" on Western Windows is Windows-1252, not UTF-8."""
    path = tmp_path / "export.csv"
    text = "id,body\n1,Caf\u00e9 order: the cr\u00e8me br\u00fbl\u00e9e was \u201ccold\u201d so \u00a35 refund?\n"
    path.write_bytes(text.encode("cp1252"))
    ingest_file(session, path, source="sheet")
    (row,) = _contacts(session).values()
    assert row.body_clean == (
        "Caf\u00e9 order: the cr\u00e8me br\u00fbl\u00e9e was \u201ccold\u201d so \u00a35 refund?"
    )


def test_binary_that_is_not_utf8_is_still_refused(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "binary.csv"
    path.write_bytes(b"id,body\n1,\xff\xfe\x00\x01 broken\n")
    with pytest.raises(InputError, match="not UTF-8"):
        ingest_file(session, path, source="sheet")


def test_zendesk_chat_export_keeps_the_transcript_and_offline_messages(session: Session) -> None:
    """The Chat API's ``{"chats": [...]}``: the visitor's messages of ``history`` are the words
    that count (the post-chat comment among them), agents' turns are kept in the transcript,
    "bad" is a low CSAT, and an offline message is a contact of its own."""
    report = ingest_file(session, REAL / "zendesk_chat.json")
    assert report.sources == ["chat"] and report.inserted == 2
    found = _contacts(session)
    chat = found["1701.23456.Q1w2e3R4t5"]
    assert "spins forever when I press pay" in chat.body_clean
    assert "also failed on my phone" in chat.body_clean
    assert "still does not work" in chat.body_clean  # the post-chat comment
    assert "passed this to our web team" not in chat.body_clean  # agents' words: not the theme's
    assert "Priya Shah" in chat.body_raw and "web team" in chat.body_raw
    assert (chat.channel, chat.agent, chat.csat) == ("chat", "Priya Shah", 1.0)
    assert chat.created_at is not None and chat.created_at.day == 5
    assert chat.extra.get("department") == "Web shop"
    assert set(chat.tags) == {"checkout", "payment"}
    offline = found["1701.23457.Z9x8c7V6b5"]
    assert offline.body_clean.startswith("My parcel was marked delivered")
    identities = set(session.scalars(sa.select(CustomerIdentity.value)))
    assert {"mia.chen@example.net", "tom.baker@example.org"} <= identities


def test_intercom_customers_are_the_people_who_wrote(session: Session) -> None:
    """An agent-started conversation is the customer's who replied; a conversation only agents
    wrote has no customer words; the older API's ``conversation_message`` and ``user`` shape
    keeps its opening message and customer; a reply part of type ``open`` is kept whole."""
    ingest_file(session, REAL / "intercom_shapes.json", source="intercom")
    found = _contacts(session)
    outbound = found["5001"]
    assert "new card is invalid" in outbound.body_clean
    assert "Thanks again :)" in outbound.body_clean
    assert "expires this month" not in outbound.body_clean  # the agent's opening message
    assert outbound.agent == "Ruth Admin"
    broadcast = found["5002"]
    assert "summer sale" not in broadcast.body_clean and "summer sale" in broadcast.body_raw
    old = found["5003"]
    assert old.body_clean.startswith("My refund for order 77812")
    identities = set(session.scalars(sa.select(CustomerIdentity.value)))
    assert {"lena.park@example.com", "old.api@example.com", "cust-77"} <= identities
    assert "ruth@brightcart.example" not in identities
    assert outbound.customer_id != old.customer_id
