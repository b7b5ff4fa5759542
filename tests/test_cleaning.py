"""Cleaning: what the models read is the issue, not greetings, quotes, signatures or PII."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rootline.ingest.cleaning import clean_text, luhn_ok, redact_pii, strip_html


def test_email_noise_is_removed() -> None:
    raw = (
        "Hi team,\n\nMy password reset email never arrives, I tried three times.\n\n"
        "Thanks,\nAnna\n\nSent from my iPhone\n\n"
        "On Mon, 3 Nov 2026 at 10:02, Support <support@shop.example> wrote:\n"
        "> Please try again later.\n"
    )
    assert clean_text(raw) == "My password reset email never arrives, I tried three times."


def test_outlook_quote_and_disclaimer_are_cut() -> None:
    raw = (
        "The invoice download button gives a blank page.\n"
        "-----Original Message-----\nFrom: Support\nSent: Monday\nTo: me\nSubject: Re: invoice\n"
        "old text\n"
    )
    assert clean_text(raw) == "The invoice download button gives a blank page."
    raw2 = (
        "Checkout fails with error 500.\nThis e-mail is confidential and intended solely "
        "for the addressee."
    )
    assert clean_text(raw2) == "Checkout fails with error 500."


def test_html_is_turned_into_text_and_scripts_dropped() -> None:
    raw = "<html><body><p>App crashes on login</p><script>alert(1)</script><br>please help</body></html>"
    assert clean_text(raw) == "App crashes on login\nplease help"
    assert "alert" not in strip_html(raw)


def test_pii_is_replaced_with_typed_placeholders() -> None:
    text = (
        "Write to jane.doe@example.com or call +44 20 7946 0958. Card 4111 1111 1111 1111, "
        "IBAN DE89 3704 0044 0532 0130 00."
    )
    out = redact_pii(text)
    assert "[EMAIL]" in out and "[PHONE]" in out and "[CARD]" in out and "[IBAN]" in out
    assert "jane" not in out and "4111" not in out and "7946" not in out


def test_card_numbers_need_a_valid_checksum() -> None:
    assert luhn_ok("4111111111111111")
    assert not luhn_ok("4111111111111112")
    assert "[CARD]" not in redact_pii("order 4111 1111 1111 1112 shipped")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_cleaning_never_fails_and_is_stable(text: str) -> None:
    once = clean_text(text)
    assert isinstance(once, str)
    assert once == once.strip()
    assert "  " not in once


@settings(max_examples=200, deadline=None)
@given(
    st.from_regex(r"[a-z]{1,10}\.[a-z]{1,8}@[a-z]{2,10}\.(com|org|de)", fullmatch=True), st.text()
)
def test_no_email_address_survives(address: str, filler: str) -> None:
    assert address not in clean_text(f"{filler} contact me at {address} {filler}")


def test_a_forwarded_message_keeps_the_words_below_its_header() -> None:
    """Gmail's and Outlook's forwarding headers come first: the body below them is the issue,
    and the footers after the body are cut as in any message."""
    gmail = (
        "---------- Forwarded message ---------\n"
        "From: Jane Roe <jane@example.com>\n"
        "Date: Mon, 2 Mar 2026 at 10:12\n"
        "Subject: Fwd: help\n"
        "To: <help@example.org>\n\n"
        "Hi,\n\nMy parcel never arrived.\n\n"
        "Sent from Outlook for Android\n\n"
        "CONFIDENTIALITY NOTICE: The contents of this email message are confidential."
    )
    outlook = (
        "From: Jane Roe\nSent: Monday, March 2, 2026 10:12 AM\nTo: Help Desk\n"
        "Subject: FW: refund\n\nMy refund has not arrived yet.\n\nGet Outlook for iOS"
    )
    assert clean_text(gmail) == "My parcel never arrived."
    assert clean_text(outlook) == "My refund has not arrived yet."


@pytest.mark.parametrize(
    "header",
    [
        "Yesterday at 15:02, Support Team <help@example.com> wrote:",
        "2 March 2026 at 10:12, Anna Smith wrote:",
        "Am 02.03.2026 um 10:12 schrieb Support <help@example.com>:",
        "Le lun. 2 mars 2026 à 10:12, Support <help@example.com> a écrit :",
    ],
)
def test_quote_headers_in_other_forms_cut_the_history(header: str) -> None:
    text = f"My parcel is late.\n\n{header}\n> We are looking into it.\n> Kind regards"
    assert clean_text(text) == "My parcel is late."


def test_a_sentence_quoting_someone_is_not_a_quote_header() -> None:
    text = "The agent wrote: sorry for the delay. Nothing happened since."
    assert clean_text(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # "Thanks" that starts a sentence of the customer's own is kept whole.
        ("Thanks again :)", "Thanks again :)"),
        (
            "Thanks again for the help, the card works now.",
            "Thanks again for the help, the card works now.",
        ),
        ("Hi, thanks again, my parcel came", "thanks again, my parcel came"),
        # A pleasantry standing alone before or after the message still goes.
        ("Thanks! My parcel never came.", "My parcel never came."),
        ("Thanks in advance. The app crashes", "The app crashes"),
        ("My card was declined. Thanks for your help.", "My card was declined."),
    ],
)
def test_thanks_is_a_pleasantry_only_when_it_stands_alone(text: str, expected: str) -> None:
    assert clean_text(text) == expected
