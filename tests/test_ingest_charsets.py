"""Text in the charsets real mail and spreadsheets arrive in, read as mail clients read it.

The mail shapes are in ``tests/realworld/``: labels that name a subset of what was sent
(Windows-1252 as ISO-8859-1, GBK as GB2312), raw UTF-8 headers (RFC 6532), one bad byte in a
long UTF-8 body, UTF-8 under a server's default ``us-ascii`` label, and a Maildir folder whose
messages have no extension.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.errors import InputError
from rootline.ingest.charsets import decode_bytes, superset
from rootline.ingest.models import Customer, Interaction
from rootline.ingest.service import IngestOptions, ingest_file
from tests.cli_runner import run_rootline

REAL = Path(__file__).resolve().parent / "realworld"


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("ISO-8859-1", "cp1252"),
        ("us-ascii", "cp1252"),
        ("GB2312", "gb18030"),
        ("x-gbk", "gb18030"),
        ("ks_c_5601-1987", "cp949"),
        ("Shift_JIS", "cp932"),
        ('"utf8"', "utf-8"),
        ("x-no-such-charset", None),
        ("", None),
    ],
)
def test_labels_are_read_as_their_supersets(label: str, codec: str | None) -> None:
    assert superset(label) == codec


def test_few_bad_bytes_cost_only_themselves() -> None:
    text = "Die Lieferung über Köln ist unterwegs. " * 200
    raw = text.encode("utf-8")
    broken = raw[:3000] + b"\xff" + raw[3000:]
    read = decode_bytes(broken, "utf-8")
    assert read.count("\ufffd") == 1
    assert read.replace("\ufffd", "") == text


def test_a_wrong_label_is_read_as_what_the_bytes_are() -> None:
    # Windows-1252 bytes under a UTF-8 label: every accent fails UTF-8.
    assert decode_bytes("Café crème brûlée".encode("cp1252"), "utf-8") == "Café crème brûlée"
    # Valid UTF-8 under a one-byte label is UTF-8.
    assert decode_bytes("Zoë".encode(), "iso-8859-1") == "Zoë"
    # Windows-1252's unassigned bytes stay as the Latin-1 characters of their values.
    assert decode_bytes(b"a\x81b\x8dc", None) == "a\x81b\x8dc"


def _mail(session: Session, name: str) -> Interaction:
    ingest_file(session, REAL / name, source="email")
    return session.scalars(sa.select(Interaction).order_by(Interaction.id.desc())).first()


def test_windows_1252_under_an_iso_8859_1_label(session: Session) -> None:
    mail = _mail(session, "latin1_label_cp1252.eml")
    assert (
        "The \u201cexpress\u201d delivery didn\u2019t come \u2013 I paid \u20ac20"
        in mail.body_clean
    )
    assert not any("\x80" <= ch <= "\x9f" for ch in mail.body_raw), "no C1 controls stored"


def test_gbk_under_a_gb2312_label_in_body_and_subject(session: Session) -> None:
    mail = _mail(session, "gb2312_label_gbk.eml")
    assert mail.subject == "退款 镕"
    assert "我的订单没有到，请退款。镕" in mail.body_clean


def test_raw_utf8_headers(session: Session) -> None:
    mail = _mail(session, "utf8_headers.eml")
    assert mail.subject == "Rückerstattung für Bestellung"
    customer = session.get(Customer, mail.customer_id)
    assert customer is not None and customer.name == "Zoë Müller"


def test_one_bad_byte_keeps_the_rest_of_the_text(session: Session) -> None:
    mail = _mail(session, "utf8_one_bad_byte.eml")
    assert "Ã" not in mail.body_clean, "no mojibake"
    assert mail.body_clean.count("Die Lieferung über Köln ist seit Tagen unterwegs.") >= 160


def test_utf8_under_a_us_ascii_label(session: Session) -> None:
    mail = _mail(session, "ascii_label_utf8.eml")
    assert "Mi pedido todavía no llegó, ¿dónde está?" in mail.body_clean


def test_a_maildir_folder_is_mail_by_content(session: Session) -> None:
    """Maildir names its messages by delivery (no extension) beside its own index files."""
    for _ in range(2):
        report = ingest_file(session, REAL / "maildir")
    assert report.sources == ["email"]
    bodies = sorted(session.scalars(sa.select(Interaction.body_clean)))
    assert len(bodies) == 2
    assert "three days late" in bodies[0] and "SAVE10" in bodies[1]


def test_a_folder_with_no_mail_says_so(session: Session, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing to see\n", encoding="utf-8")
    (tmp_path / "data.csv").write_text("id,text\n1,hello\n", encoding="utf-8")
    with pytest.raises(InputError, match="no e-mail files"):
        ingest_file(session, tmp_path)


def _late_cp1252(tmp_path: Path) -> Path:
    """A spreadsheet saved as Windows-1252 whose first accent is past the first 64 KiB."""
    rows = ["id,subject,description,created_at,customer_email"]
    rows += [
        f"{i},Order,My parcel {i} has not arrived and I keep waiting,2026-01-02T10:00:00Z,"
        f"c{i}@example.com"
        for i in range(1, 1200)
    ]
    rows.append("5000,Café,Où est ma commande ?,2026-01-02T10:00:00Z,z@example.com")
    path = tmp_path / "export.csv"
    path.write_bytes(("\n".join(rows) + "\n").encode("cp1252"))
    return path


def test_a_late_windows_1252_byte_names_its_line_and_loads_nothing(
    session: Session, tmp_path: Path
) -> None:
    with pytest.raises(InputError, match=r"byte 0xe9.*--encoding cp1252") as caught:
        ingest_file(session, _late_cp1252(tmp_path), options=IngestOptions(worker=False))
    assert caught.value.line == 1201
    assert session.scalar(sa.select(sa.func.count()).select_from(Interaction)) == 0


def test_encoding_option_reads_the_spreadsheet(session: Session, tmp_path: Path) -> None:
    for worker in (False, True):
        ingest_file(
            session,
            _late_cp1252(tmp_path),
            options=IngestOptions(encoding="cp1252", worker=worker),
        )
    found = session.scalars(sa.select(Interaction).where(Interaction.external_id == "5000")).one()
    assert (found.subject, found.body_clean) == ("Café", "Café Où est ma commande ?")
    with pytest.raises(InputError, match="unknown encoding 'klingon'"):
        ingest_file(session, _late_cp1252(tmp_path), options=IngestOptions(encoding="klingon"))


@pytest.mark.slow
def test_encoding_on_the_command_line(tmp_path: Path) -> None:
    path = _late_cp1252(tmp_path)
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    refused = run_rootline("ingest", str(path), db=db, folder=tmp_path, check=False)
    assert refused.returncode == 2
    assert "line 1201" in refused.stderr + refused.stdout
    assert "Traceback" not in refused.stderr
    done = run_rootline("ingest", str(path), "--encoding", "cp1252", db=db, folder=tmp_path)
    assert "inserted 1200" in done.stdout
