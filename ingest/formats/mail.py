"""E-mail: ``.eml`` files, folders of them and ``mbox`` files, threaded into conversations.

Messages are joined into one conversation by Message-ID, In-Reply-To and References; the
conversation's id is its root message id, so a later export with more replies updates the
same interaction. The root message's sender is the customer: their messages are the
customer turns that ``body_clean`` is made of; every message is kept in ``body_raw``.
"""

from __future__ import annotations

import email
import email.header
import gzip
import hashlib
import mailbox
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path

from rootline.errors import InputError
from rootline.ingest.charsets import decode_bytes, decode_header_bytes
from rootline.ingest.cleaning import strip_html
from rootline.ingest.schemas import InteractionRecord, Rejected

# Mailman's archives hide addresses as "user at example.com (Name)".
_MAILMAN_AT = re.compile(r"^\s*([\w.+=-]+) at ((?:[\w-]+\.)+[A-Za-z]{2,})\b")

__all__ = ["ParsedMessage", "parse_message", "read_eml", "read_mbox", "thread_messages"]

_MSGID = re.compile(r"<[^<>\s]+>")


@dataclass
class ParsedMessage:
    """The parts of one e-mail that threading and the interaction need."""

    message_id: str
    parents: list[str]
    subject: str
    sender: str
    sender_name: str
    date: datetime | None
    text: str
    where: str
    number: int = 0
    attachments: list[str] = field(default_factory=list)


def _decode_part(part: Message) -> str:
    """The text of a MIME part, read in its declared charset as mail clients read it."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return str(part.get_payload() or "")
    try:
        label = part.get_content_charset()
    except (ValueError, LookupError):  # a malformed charset parameter
        label = None
    return decode_bytes(payload, label)


def _body(msg: Message) -> tuple[str, list[str]]:
    """Plain text of a message (HTML turned into text when it has no plain part), attachments."""
    plain: list[str] = []
    html_parts: list[str] = []
    attachments: list[str] = []
    for part in msg.walk() if msg.is_multipart() else [msg]:
        if part.is_multipart():
            continue
        disposition = str(part.get("Content-Disposition", "")).lower()
        if "attachment" in disposition:
            attachments.append(part.get_filename() or "attachment")
            continue
        ctype = part.get_content_type()
        if ctype == "text/plain":
            plain.append(_decode_part(part))
        elif ctype == "text/html":
            html_parts.append(_decode_part(part))
    if plain:
        return "\n".join(plain), attachments
    return "\n".join(strip_html(h) for h in html_parts), attachments


def _header(msg: Message, name: str) -> str:
    """A header's value as written; raw 8-bit bytes (UTF-8 headers, RFC 6532) read as text."""
    wanted = name.lower()
    for key, value in msg.raw_items():
        if key.lower() == wanted:
            return decode_header_bytes(str(value or "")).strip()
    return ""


def parse_message(raw: bytes | Message, where: str, number: int = 0) -> ParsedMessage:
    """Parse one e-mail into the fields threading needs.

    Raises:
        InputError: when the bytes are not an e-mail with a sender and some text.
    """
    try:
        msg = (
            raw
            if isinstance(raw, Message)
            else email.message_from_bytes(raw, _class=EmailMessage, policy=policy.compat32)
        )
    except Exception as exc:  # the parser is lenient; anything it raises means garbage
        raise InputError(f"not an e-mail: {exc}", path=where) from None
    message_id = (_MSGID.findall(_header(msg, "Message-ID")) or [""])[0]
    parents = _MSGID.findall(_header(msg, "References")) + _MSGID.findall(
        _header(msg, "In-Reply-To")
    )
    subject = _decode_words(_header(msg, "Subject"))
    senders = getaddresses([_MAILMAN_AT.sub(r"\1@\2", _decode_words(_header(msg, "From")))])
    sender_name, sender = senders[0] if senders else ("", "")
    if "@" not in sender:
        raise InputError("no sender address", path=where, field="From")
    date = None
    if raw_date := _header(msg, "Date"):
        try:
            date = parsedate_to_datetime(raw_date)
            date = date if date.tzinfo else date.replace(tzinfo=UTC)
        except (TypeError, ValueError, IndexError, OverflowError):
            raise InputError(f"not a date: {raw_date[:40]!r}", path=where, field="Date") from None
    try:
        text, attachments = _body(msg)
    except (LookupError, ValueError, AssertionError) as exc:
        raise InputError(f"unreadable body: {exc}", path=where, field="body") from None
    if not text.strip() and not subject:
        raise InputError("no text: both body and subject are empty", path=where, field="body")
    if not message_id:
        # Without an id, the content names the message, so re-reading it adds nothing.
        digest = hashlib.sha1(f"{sender}|{raw_date}|{subject}|{text}".encode()).hexdigest()
        message_id = f"<sha1:{digest}>"
    return ParsedMessage(
        message_id,
        parents,
        subject,
        sender.lower(),
        sender_name,
        date,
        text.replace("\x00", ""),
        where,
        number,
        attachments,
    )


def _decode_words(value: str) -> str:
    """A header with RFC 2047 encoded words turned into text."""
    if "=?" not in value:
        return value
    try:
        parts = email.header.decode_header(value)
    except (ValueError, LookupError, AssertionError):
        return value
    out = []
    for chunk, charset in parts:
        out.append(decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk)
    return "".join(out)


def thread_messages(messages: Iterable[ParsedMessage]) -> Iterator[InteractionRecord]:
    """Group messages into conversations and make one record per conversation."""
    by_id: dict[str, ParsedMessage] = {}
    for msg in messages:
        by_id.setdefault(msg.message_id, msg)

    def root_of(msg: ParsedMessage) -> str:
        # The oldest known ancestor; References lists them oldest first.
        seen = {msg.message_id}
        current = msg
        while current.parents:
            parent_id = current.parents[0]
            if parent_id in seen:
                break
            seen.add(parent_id)
            parent = by_id.get(parent_id)
            if parent is None:
                return parent_id
            current = parent
        return current.message_id

    threads: dict[str, list[ParsedMessage]] = {}
    for msg in by_id.values():
        threads.setdefault(root_of(msg), []).append(msg)
    for root_id, members in threads.items():
        yield _conversation(root_id, members)


def _conversation(root_id: str, members: list[ParsedMessage]) -> InteractionRecord:
    oldest = datetime.min.replace(tzinfo=UTC)
    members.sort(key=lambda m: (m.date or oldest, m.number))
    first = next((m for m in members if m.message_id == root_id), members[0])
    customer = first.sender
    raw_parts = []
    for m in members:
        stamp = m.date.isoformat() if m.date else "unknown date"
        raw_parts.append(
            f"From: {m.sender_name} <{m.sender}>\nDate: {stamp}\n"
            f"Subject: {m.subject}\n\n{m.text.strip()}"
        )
    agents = sorted({m.sender for m in members if m.sender != customer})
    subject = re.sub(r"^\s*((re|fwd?|aw|wg)\s*:\s*)+", "", first.subject, flags=re.I) or None
    return InteractionRecord(
        external_id=root_id,
        subject=subject,
        body="\n\n----------\n\n".join(raw_parts),
        customer_turns=[m.text for m in members if m.sender == customer],
        channel="email",
        created_at=first.date,
        customer_email=customer,
        customer_name=first.sender_name or None,
        agent=agents[0] if agents else None,
        extra={
            "messages": len(members),
            "message_ids": [m.message_id for m in members][:50],
            "participants": sorted({m.sender for m in members})[:20],
            **(
                {"attachments": sorted({a for m in members for a in m.attachments})[:20]}
                if any(m.attachments for m in members)
                else {}
            ),
        },
        line=first.number or None,
    )


def _parse_all(
    items: Iterable[tuple[bytes | Message, str, int]],
) -> Iterator[ParsedMessage | Rejected]:
    for raw, where, number in items:
        try:
            yield parse_message(raw, where, number)
        except InputError as exc:
            if number and exc.message is None:  # the number of the message in its mbox
                exc = InputError(
                    exc.reason, path=exc.path, line=exc.line, field=exc.field, message=number
                )
            yield Rejected(exc, None)


def _threaded(
    items: Iterable[tuple[bytes | Message, str, int]],
) -> Iterator[InteractionRecord | Rejected]:
    good: list[ParsedMessage] = []
    for parsed in _parse_all(items):
        if isinstance(parsed, Rejected):
            yield parsed
        else:
            good.append(parsed)
    yield from thread_messages(good)


def _unreadable(exc: OSError | EOFError, where: str) -> InputError:
    """A file that cannot be read or unpacked (a broken ``.gz`` has no ``strerror``)."""
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return InputError(f"cannot read: {reason}", path=where)


def read_eml(paths: Iterable[Path]) -> Iterator[InteractionRecord | Rejected]:
    """Conversations from ``.eml`` files (a folder's files are threaded together)."""

    def items() -> Iterator[tuple[bytes, str, int]]:
        for path in paths:
            try:
                raw = path.read_bytes()
                yield (gzip.decompress(raw) if path.suffix.lower() == ".gz" else raw), str(path), 0
            except (OSError, EOFError) as exc:
                raise _unreadable(exc, str(path)) from None

    return _threaded(items())


def read_mbox(path: Path) -> Iterator[InteractionRecord | Rejected]:
    """Conversations from an ``mbox`` file; errors name the message number."""
    where = str(path)
    packed = path.suffix.lower() == ".gz"
    try:
        with gzip.open(path, "rb") if packed else path.open("rb") as fh:
            head = fh.read(5)
    except (OSError, EOFError) as exc:
        raise _unreadable(exc, where) from None
    if head and head != b"From ":
        raise InputError("not an mbox file: it must start with a 'From ' line", path=where, line=1)

    def items() -> Iterator[tuple[bytes, str, int]]:
        tmp = tempfile.mkdtemp() if packed else None
        try:
            plain = path
            if tmp is not None:  # mailbox reads a file it can seek in: unpack to a temporary one
                plain = Path(tmp) / "mbox"
                with gzip.open(path, "rb") as src, plain.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
            box = mailbox.mbox(str(plain), create=False)
            try:
                for number, key in enumerate(box.iterkeys(), start=1):
                    yield box.get_bytes(key), where, number
            finally:
                box.close()
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)

    return _threaded(items())
