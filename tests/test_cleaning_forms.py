"""Web-form dumps and pasted transcripts are reduced to the customer's own words."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rootline.ingest.cleaning import clean_text, form_message, form_subject_topic
from rootline.ingest.schemas import InteractionRecord
from rootline.ingest.service import body_clean

MESSAGE = "The parcel locker code does not open the door."


@pytest.mark.parametrize(
    "raw",
    [
        # The demo help desk's web form.
        f"Order number: BC-4047156\nTopic: Delivery\nMessage: {MESSAGE}",
        f"Order number: \nTopic: Delivery\nMessage: {MESSAGE}",
        # A flattened export: every field on one line.
        f"Contact form: Delivery Order number: BC-4047156 Topic: Delivery Message: {MESSAGE}",
        # Other form builders' wording, markdown bold labels, a wrapped address.
        f"Name: Anna Smith\nEmail: anna@example.com\nPhone: +44 20 7946 0958\n"
        f"Address: 1 High Street\nLondon\nReason for contact: Delivery\nYour message: {MESSAGE}",
        f"**First name:** Anna\n**Email address:** anna@example.com\n**Comments:** {MESSAGE}",
        f"New web form submission - Delivery\nFull name: Anna\nHow can we help you: {MESSAGE}\n"
        "Order no.: 12345",
        f"Subject: Locker\nCategory: Delivery\nDescription: Hi,\n\n{MESSAGE}\n\nThanks,\nAnna",
    ],
)
def test_form_scaffolding_is_dropped(raw: str) -> None:
    assert clean_text(raw) == MESSAGE


def test_a_multi_line_message_is_kept_whole() -> None:
    raw = f"Name: Anna\nEmail: a@example.com\nMessage: {MESSAGE}\nI tried twice yesterday."
    assert clean_text(raw) == f"{MESSAGE}\nI tried twice yesterday."


def test_text_after_identifiers_is_the_message_going_on() -> None:
    raw = f"Order number: BC-1\nEmail: anna@example.com\n{MESSAGE}"
    assert clean_text(raw) == MESSAGE


def test_the_topic_stands_in_only_for_an_empty_message() -> None:
    assert clean_text("Order number: BC-4047156\nTopic: Delivery\nMessage: ") == "Delivery"
    assert clean_text("Name: Anna\nEmail: anna@example.com") == ""


@pytest.mark.parametrize(
    "raw",
    [
        "The app crashes: every time I open it. Note: it is the new version.",
        "Subject: broken\nthe box was crushed",
        "Update: my order arrived but the box was crushed.",
        "I need to change my delivery address: 1 High Street, London.",
    ],
)
def test_prose_with_colons_is_not_a_form(raw: str) -> None:
    assert form_message(raw) is None


@pytest.mark.parametrize(
    "raw",
    [
        "Customer: The delivery window came and went. Order BC-1.\n"
        "Agent (Gavin): Thanks for waiting, let me look into that for you.\nCustomer: ok",
        "Customer: The delivery window came and went. Order BC-1. Agent (Gavin): Thanks for "
        "waiting, let me look into that for you. Customer: cheers",
        "[10:02] Visitor: The delivery window came and went.\n[10:03] Bot: I can help with that"
        "\n[10:04] Visitor: Order BC-1.",
    ],
)
def test_pasted_transcripts_keep_the_customer_turns(raw: str) -> None:
    # The customer's turns, each on its own line where the transcript had lines.
    out = clean_text(raw)
    assert out.replace("\n", " ") == "The delivery window came and went. Order BC-1."


def test_a_monologue_is_not_a_transcript() -> None:
    assert form_message("Customer: my parcel is late\nCustomer: still late") is None


def test_form_subjects_give_way_to_the_message() -> None:
    assert form_subject_topic("Contact form: Web shop") == "Web shop"
    assert form_subject_topic("Item arrived damaged") is None
    rec = InteractionRecord(
        external_id="1",
        subject="Contact form: Delivery",
        body=f"Order number: BC-4047156\nTopic: Delivery\nMessage: {MESSAGE}",
    )
    assert body_clean(rec) == MESSAGE
    empty = InteractionRecord(external_id="2", subject="Contact form: Delivery", body="")
    assert body_clean(empty) == "Delivery"
    mail = InteractionRecord(external_id="3", subject="Locker broken", body=MESSAGE)
    assert body_clean(mail) == f"Locker broken {MESSAGE}"


_labels = st.sampled_from(
    ["Name", "Email", "Phone", "Order number", "Account number", "Topic", "Category", "Postcode"]
)
_values = st.from_regex(r"[A-Za-z0-9@.\- ]{0,20}", fullmatch=True)
_sentence = st.from_regex(r"[A-Z][a-z]{2,9}( [a-z]{2,9}){3,8}\.", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_labels, _values), min_size=1, max_size=6), _sentence, st.booleans())
def test_any_form_dump_reduces_to_its_message(
    fields: list[tuple[str, str]], sentence: str, one_line: bool
) -> None:
    lines = [f"{label}: {value}" for label, value in fields] + [f"Message: {sentence}"]
    raw = " ".join(lines) if one_line else "\n".join(lines)
    assert clean_text(raw, redact=False) == sentence
