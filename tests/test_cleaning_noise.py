"""Cleaning of real-world e-mail noise and PII, with properties checked by hypothesis."""

from __future__ import annotations

import csv
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rootline.ingest.cleaning import clean_subject, clean_text, iban_ok, luhn_ok, redact_pii
from rootline.ingest.convert import parse_datetime
from rootline.ingest.formats.tabular import read_csv
from rootline.ingest.schemas import InteractionRecord


@pytest.mark.parametrize(
    "raw",
    [
        "Hello Support,\n\nI hope this email finds you well.\n\nThe invoice page is blank.\n\n"
        "Kind regards,\nPriya Patel\nHead of Finance | Globex GmbH\nTel: +49 (0)30 1234 5678\n"
        "12 Lindenstraße, 10115 Berlin",
        "Dear team,\nThe invoice page is blank.\nPriya Patel\nOperations Manager\nGlobex Inc.\n"
        "M: (415) 555-0100",
        "The invoice page is blank.\n\n________________________________\nFrom: Help <h@x.example>\n"
        "Sent: Monday\nTo: Priya\nSubject: RE: ticket\n\nCould you send a screenshot?",
        '<html><body><p>Hi,</p><p>The invoice page is blank.</p><div class="gmail_quote">'
        "On Tue, Support wrote:<blockquote>old</blockquote></div></body></html>",
        "The invoice page is blank. You can reach me on +44 20 7946 0958.\n\n"
        "Globex Ltd is registered in England and Wales under company number 01234567.",
        "Good morning,\n\nThe invoice page is blank.\n\nCheers\nPriya\n\nSent from my Samsung Galaxy",
    ],
)
def test_realistic_noise_leaves_only_the_issue(raw: str) -> None:
    assert clean_text(raw).rstrip(".") == "The invoice page is blank"


def test_a_message_that_is_only_thanks_keeps_its_words() -> None:
    assert clean_text("Thank you!") == "Thank you!"


def test_subject_prefixes_and_ticket_tags_go() -> None:
    assert clean_subject("RE: Fwd: [Ticket #123] Card declined") == "Card declined"


def test_iban_needs_a_valid_checksum_and_other_pii_is_typed() -> None:
    assert iban_ok("DE89 3704 0044 0532 0130 00")
    assert not iban_ok("DE00 3704 0044 0532 0130 00")
    out = redact_pii("SSN 123-45-6789 from 192.168.1.20 see https://x.example/a?b=1")
    assert out == "SSN [SSN] from [IP] see [URL]"
    assert "[IBAN]" not in redact_pii("DE00 3704 0044 0532 0130 00")


def test_redaction_can_be_turned_off() -> None:
    assert "ann@example.com" in clean_text("Please write to ann@example.com", redact=False)


def _luhn_complete(prefix: str) -> str:
    for d in "0123456789":
        if luhn_ok(prefix + d):
            return prefix + d
    raise AssertionError


@settings(max_examples=200, deadline=None)
@given(
    st.from_regex(r"4[0-9]{14}", fullmatch=True),
    st.sampled_from([" ", "-", ""]),
    st.text(max_size=40),
)
def test_no_valid_card_number_survives(prefix: str, sep: str, filler: str) -> None:
    card = _luhn_complete(prefix)
    shown = sep.join(card[i : i + 4] for i in range(0, 16, 4))
    assert card not in clean_text(f"{filler} my card {shown} was charged twice").replace(
        " ", ""
    ).replace("-", "")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=400))
def test_cleaning_any_text_gives_trimmed_lines(text: str) -> None:
    out = clean_text(text)
    assert out == out.strip() and "  " not in out
    # Lines are kept (a line break ends a sentence), each trimmed, none blank.
    assert all(line and line == line.strip() for line in out.split("\n")) or out == ""
    assert redact_pii(out) == redact_pii(redact_pii(out))


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    )
)
def test_iso_dates_round_trip(moment: datetime) -> None:
    assert parse_datetime(moment.isoformat()) == moment


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(min_size=1, max_size=30).filter(str.strip), st.text(max_size=80)),
        min_size=1,
        max_size=8,
    )
)
def test_csv_cells_survive_quoting_and_newlines(rows: list[tuple[str, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["subject", "notes"])
            writer.writerows(rows)
        records = [r for r in read_csv(path, ",", None) if isinstance(r, InteractionRecord)]
    kept = [(s, n) for s, n in rows if (s + n).strip()]
    assert [r.subject for r in records] == [s.replace("\x00", "").strip() or None for s, _ in kept]
