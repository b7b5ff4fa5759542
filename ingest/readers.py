"""Readers turn input files into a stream of canonical records, whatever their format.

The format is given or detected from the extension and the first bytes. Each record carries
its line (or message) number so every error can name the file, line and field; a record a
reader cannot use comes as ``Rejected`` so the caller decides whether to stop or skip it.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TypeAlias

from rootline.errors import InputError
from rootline.ingest.convert import parse_datetime
from rootline.ingest.formats.chat import read_chat
from rootline.ingest.formats.crm import read_customers, read_events
from rootline.ingest.formats.helpdesk import (
    is_freshdesk_csv_header,
    read_freshdesk_csv,
    read_helpdesk,
)
from rootline.ingest.formats.mail import read_eml, read_mbox
from rootline.ingest.formats.tabular import open_text, read_csv, read_json
from rootline.ingest.schemas import CustomerEventRecord, CustomerRecord, InteractionRecord, Rejected

__all__ = ["FORMATS", "Item", "default_source", "detect_format", "parse_datetime", "read_records"]

FORMATS = (
    "auto",
    "csv",
    "tsv",
    "jsonl",
    "json",
    "eml",
    "mbox",
    "chat-json",
    "zendesk",
    "freshdesk",
    "intercom",
    "customers",
    "events",
)

#: What a reader yields.
Item: TypeAlias = InteractionRecord | CustomerRecord | CustomerEventRecord | Rejected

_EXTENSIONS = (
    (".csv", "csv"),
    (".tsv", "tsv"),
    (".jsonl", "jsonl"),
    (".ndjson", "jsonl"),
    (".json", "json"),
    (".eml", "eml"),
    (".mbox", "mbox"),
    (".mbx", "mbox"),
)
# The headers a saved e-mail starts with.
_MAIL_HEADERS = re.compile(
    r"(Received|Return-Path|Message-ID|From|Date|MIME-Version|Delivered-To|X-[\w-]+|To"
    r"|Subject|Reply-To|Sender|Content-Type|DKIM-Signature|ARC-[\w-]+|Authentication-Results)"
    r":",
    re.I,
)
_CUSTOMER_HEADER = re.compile(r"\b(segment|account_owner|owner|revenue|arr|mrr|ltv|emails)\b")
_EVENT_HEADER = re.compile(r"\b(event|event_type|kind)\b")
_TEXT_HEADER = re.compile(
    r"\b(body|description|text|message|content|comment|details|utterance"
    r"|question|notes|transcript|subject|title)\b"
)


def _head(path: Path, size: int = 8192) -> str:
    try:
        if path.suffix == ".gz":
            with open_text(path) as fh:
                return fh.read(size)
        with path.open("rb") as fh:  # only the head: a large file is never read whole here
            return fh.read(size).decode("utf-8-sig", errors="replace")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", path=str(path)) from None


def _detect_json(head: str) -> str:
    """A JSON export's format from the keys near its start."""
    if re.search(r'"(conversation_parts|conversation_rating)"', head) or re.search(
        r'"type"\s*:\s*"conversation"', head
    ):
        return "intercom"
    # Zendesk Chat: chats with a visitor and a history of messages, or offline messages.
    if re.search(r'"visitor"\s*:', head) and re.search(r'"type"\s*:\s*"(chat|offline_msg)"', head):
        return "chat-json"
    # Freshdesk's own keys first: its tickets have a requester_id and a description too.
    if re.search(r'"(description_text|responder_id|fr_escalated)"\s*:', head):
        return "freshdesk"
    if re.search(r'"(requester_id|via)"\s*:', head) and re.search(
        r'"(comments|description)"', head
    ):
        return "zendesk"
    if re.search(r'"(turns|messages|transcript)"\s*:\s*\[', head) and re.search(
        r'"(role|author|speaker|sender)"\s*:', head
    ):
        return "chat-json"
    return ""


def _header_names(head: str, fmt: str) -> list[str]:
    """The column names of a CSV/TSV head, lower-cased with runs of other characters as ``_``."""
    header = head.splitlines()[0].lower() if head else ""
    cells = header.split("\t" if fmt == "tsv" else ",")
    return [re.sub(r"[^a-z0-9]+", "_", c).strip("_") for c in cells]


def _detect_tabular(head: str, fmt: str) -> str:
    if fmt in {"csv", "tsv"}:
        if is_freshdesk_csv_header(_header_names(head, fmt)):
            return "freshdesk"
        header = head.splitlines()[0].lower() if head else ""
        keys = re.sub(r"[^a-z0-9,\t]+", "_", header)
    else:
        keys = " ".join(m.lower() for m in re.findall(r'"([^"]{1,40})"\s*:', head[:2000]))
    if _TEXT_HEADER.search(keys.replace(",", " ").replace("\t", " ")):
        return fmt
    if _EVENT_HEADER.search(keys) and re.search(r"\b(amount|value|revenue|total)\b", keys):
        return "events"
    if _CUSTOMER_HEADER.search(keys) or re.search(r"\bname\b", keys):
        return "customers"
    return fmt


def detect_format(path: Path) -> str:
    """Guess the format from the extension, then from the first bytes.

    Raises:
        InputError: when the file cannot be read.
    """
    if path.is_dir():
        return "eml"
    name = path.name.lower().removesuffix(".gz")
    fmt = next((f for ext, f in _EXTENSIONS if name.endswith(ext)), "")
    if fmt in {"eml", "mbox"}:
        return fmt
    head = _head(path)
    if not fmt:
        stripped = head.lstrip()
        if stripped.startswith("From ") and "\n" in stripped:
            return "mbox"
        if _MAIL_HEADERS.match(stripped):
            return "eml"
        fmt = "json" if stripped.startswith("[") else "jsonl" if stripped.startswith("{") else "csv"
        if (
            fmt == "csv"
            and "\t" in stripped.split("\n", 1)[0]
            and "," not in stripped.split("\n", 1)[0]
        ):
            fmt = "tsv"
    if fmt in {"json", "jsonl"}:
        special = _detect_json(head)
        if special:
            return special
    return _detect_tabular(head, fmt)


#: The system a format's records come from, the source they are stored under by default.
_SYSTEMS = {
    "zendesk": "zendesk",
    "freshdesk": "freshdesk",
    "intercom": "intercom",
    "eml": "email",
    "mbox": "email",
    "chat-json": "chat",
}


def default_source(path: Path, fmt: str = "auto") -> str:
    """The source records of ``path`` are stored under when none is given: the system its
    format names (``zendesk``, ``email``, ...), else ``import``; never the file's name, so the
    same records exported twice under two names are stored once.

    Raises:
        InputError: when the file cannot be read to detect its format.
    """
    if not path.exists():
        raise InputError("no such file", path=str(path))
    if fmt == "auto":
        fmt = detect_format(path)
    return _SYSTEMS.get(fmt, "import")


_HELPDESKS = ("zendesk", "freshdesk", "intercom")


def _check_shape(path: Path, fmt: str) -> None:
    """Refuse a help-desk export given another format: read so, its nested objects would be
    stored as text (a JSON object as the agent, a serialised object as the channel).

    Raises:
        InputError: naming the export the file looks like and the format to use.
    """
    found = _detect_json(_head(path))
    if found in _HELPDESKS and found != fmt:
        raise InputError(
            f"this looks like a {found} export, not {fmt}: use --format {found} (or auto)",
            path=str(path),
        )


def _is_mail(path: Path) -> bool:
    """A file of one e-mail: named ``.eml``, or (as in Maildir folders and saved messages with
    no extension) starting with mail headers."""
    name = path.name.lower()
    if name.endswith((".eml", ".eml.gz")):
        return True
    if name.startswith(".") or any(name.removesuffix(".gz").endswith(e) for e, _ in _EXTENSIONS):
        return False
    try:
        return _MAIL_HEADERS.match(_head(path, 1024).lstrip()) is not None
    except InputError:
        return False


def _eml_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and _is_mail(p))
    if not files:
        raise InputError(
            "folder holds no e-mail files (.eml, or files that start with mail headers)",
            path=str(folder),
        )
    return files


def _data_format(path: Path) -> str:
    """csv, tsv, json or jsonl: the syntax of a customers/events/chat file."""
    name = path.name.lower().removesuffix(".gz")
    fmt = next((f for ext, f in _EXTENSIONS if name.endswith(ext)), "")
    if fmt in {"csv", "tsv", "json", "jsonl"}:
        return fmt
    head = _head(path, 256).lstrip()
    return "json" if head.startswith("[") else "jsonl" if head.startswith("{") else "csv"


def read_records(
    path: Path,
    fmt: str = "auto",
    mapping: Mapping[str, str] | None = None,
    encoding: str | None = None,
) -> Iterator[Item]:
    """Stream the records of one file (or folder of ``.eml`` files).

    ``encoding`` is the text encoding of a CSV, TSV or JSON file (default: UTF-8, or
    Windows-1252 where the file plainly is that); e-mail says its own charsets.

    Returns:
        An iterator of records; records a reader cannot use come as ``Rejected``.

    Raises:
        InputError: when the file is missing, unreadable or not of its format at all.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})", path=str(path))
    if encoding is not None:
        try:
            encoding = codecs.lookup(encoding).name
        except LookupError:
            raise InputError(f"unknown encoding {encoding!r}", path=str(path)) from None
    if path.is_dir():
        if fmt not in {"auto", "eml"}:
            raise InputError(f"a folder can only be read as eml, not {fmt}", path=str(path))
        return read_eml(_eml_files(path))
    if not path.is_file():
        raise InputError("no such file", path=str(path))
    if fmt == "auto":
        fmt = detect_format(path)
    elif fmt in {"json", "jsonl", *_HELPDESKS}:
        _check_shape(path, fmt)
    if fmt in {"csv", "tsv"}:
        return read_csv(path, "\t" if fmt == "tsv" else ",", mapping, encoding)
    if fmt in {"jsonl", "json"}:
        return read_json(path, fmt, mapping, encoding)
    if fmt == "eml":
        return read_eml([path])
    if fmt == "mbox":
        return read_mbox(path)
    if fmt == "chat-json":
        data = _data_format(path)
        return read_chat(path, "jsonl" if data == "jsonl" else "json", encoding)
    if fmt == "freshdesk" and (data := _data_format(path)) in {"csv", "tsv"}:
        return read_freshdesk_csv(path, "\t" if data == "tsv" else ",", mapping, encoding)
    if fmt in {"zendesk", "freshdesk", "intercom"}:
        return read_helpdesk(path, fmt, encoding)
    if fmt == "customers":
        return read_customers(path, _data_format(path), mapping, encoding)
    return read_events(path, _data_format(path), mapping, encoding)
