"""Turning raw values of any input format into the fields of a canonical record.

Each converter raises ``ValueError`` with a short reason; callers add the file, line and field.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from rootline.errors import InputError
from rootline.ingest.schemas import MAX_SOURCE_LENGTH, InteractionRecord

__all__ = [
    "CHANNELS",
    "RATING_WORDS",
    "as_utc",
    "build_record",
    "convert_field",
    "normalise_channel",
    "normalise_customer_kind",
    "parse_datetime",
    "parse_number",
]

#: Satisfaction given in words (Zendesk tickets and chats): good and bad as the ends of the 1-5
#: scale; a rating only offered is none.
RATING_WORDS: dict[str, float | None] = {
    "good": 5.0,
    "bad": 1.0,
    "offered": None,
    "unoffered": None,
}

#: Channel names seen in exports -> the channel Rootline reports.
CHANNELS = {
    "email": "email",
    "e-mail": "email",
    "mail": "email",
    "e_mail": "email",
    "outbound_email": "email",
    "chat": "chat",
    "live_chat": "chat",
    "livechat": "chat",
    "messaging": "chat",
    "messenger": "chat",
    "whatsapp": "chat",
    "sms": "chat",
    "native_messaging": "chat",
    "web": "web",
    "web_form": "web",
    "webform": "web",
    "form": "web",
    "portal": "web",
    "web_widget": "web",
    "feedback_widget": "web",
    "help_center": "web",
    "api": "web",
    "phone": "phone",
    "call": "phone",
    "voice": "phone",
    "telephone": "phone",
    "social": "social",
    "twitter": "social",
    "facebook": "social",
    "instagram": "social",
}
_DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%m/%d/%Y %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
)
_UNIX = re.compile(r"\d{9,11}(\.\d+)?|\d{12,13}")
_TEXT_FIELDS = frozenset(
    {
        "external_id",
        "subject",
        "body",
        "status",
        "agent",
        "customer_email",
        "customer_phone",
        "account_id",
        "customer_name",
        "segment",
        "department",
        "source",
    }
)


#: Every field of a record with its default, so ``model_construct`` has nothing to look up.
_RECORD_DEFAULTS: dict[str, Any] = {
    name: info.default
    for name, info in InteractionRecord.model_fields.items()
    if info.default_factory is None and not info.is_required()
}


def as_utc(value: datetime | None) -> datetime | None:
    """The same instant in UTC (a time without a zone is taken as UTC already).

    Stored times are all UTC: SQLite keeps a time's text as given, so ``+10:00`` beside
    ``+00:00`` would sort and filter by their text, not by the instant.
    """
    if value is None:
        return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def parse_datetime(value: str) -> datetime:
    """Parse ISO 8601, Unix seconds or milliseconds, common day/month formats and RFC 2822 dates.

    A date without a zone is taken as UTC.

    Raises:
        ValueError: when no format fits.
    """
    text = value.strip()
    try:
        if _UNIX.fullmatch(text):
            seconds = float(text) / (1000 if len(text) >= 12 and "." not in text else 1)
            return datetime.fromtimestamp(seconds, tz=UTC)
        dt: datetime | None
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            dt = None
            for fmt in _DATE_FORMATS:
                try:
                    dt = datetime.strptime(text, fmt)
                    break
                except ValueError:
                    continue
            if dt is None:
                dt = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError, OSError):
        raise ValueError(f"not a date: {value[:40]!r}") from None
    if not isinstance(dt, datetime):
        raise ValueError(f"not a date: {value[:40]!r}")
    return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)


def parse_number(value: Any) -> float:
    """A finite number from a number or a text like ``"1,234.5"``.

    Raises:
        ValueError: for anything else, including booleans, NaN and infinity.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"not a number: {str(value)[:40]!r}")
    try:
        number = float(value.strip().replace(",", "")) if isinstance(value, str) else float(value)
    except (ValueError, OverflowError):
        raise ValueError(f"not a number: {str(value)[:40]!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"not a number: {value!r}")
    return number


def normalise_channel(value: Any) -> str:
    """The channel Rootline reports for a channel name found in an export."""
    return _channel(str(value))


@functools.lru_cache(maxsize=1024)
def _channel(value: str) -> str:
    # An export uses a handful of channel names a million times: work each out once.
    key = re.sub(r"[\s-]+", "_", value.strip().lower())
    return CHANNELS.get(key, key[:32] or "other")


#: What exports call each kind of customer: external customers, and the internal ones of an
#: IT help desk (employees and whole departments).
CUSTOMER_KINDS = {
    "external": "external",
    "customer": "external",
    "client": "external",
    "consumer": "external",
    "business": "external",
    "employee": "employee",
    "staff": "employee",
    "internal": "employee",
    "colleague": "employee",
    "user": "employee",
    "department": "department",
    "dept": "department",
    "team": "department",
    "business_unit": "department",
}


def normalise_customer_kind(value: Any) -> str | None:
    """``external``, ``employee`` or ``department`` from what an export writes.

    Raises:
        ValueError: a word that names none of them.
    """
    text = re.sub(r"[\s-]+", "_", str(value or "").strip().lower())
    if not text:
        return None
    kind = CUSTOMER_KINDS.get(text)
    if kind is None:
        raise ValueError(
            f"unknown customer kind {text[:30]!r} (known: external, employee, department)"
        )
    return kind


def convert_field(field: str, value: Any) -> Any:
    """Convert one raw value into the type of canonical ``field``; ``None`` when empty.

    Raises:
        ValueError: when the value cannot mean what the field needs.
    """
    if type(value) is str and field in _TEXT_FIELDS:  # the common case of a CSV cell, first
        text = value.strip()
        if "\x00" in text:
            # PostgreSQL cannot store NUL characters in text; they never carry meaning here.
            text = text.replace("\x00", "").strip()
        if field == "source" and len(text) > MAX_SOURCE_LENGTH:
            raise ValueError(f"a source name has at most {MAX_SOURCE_LENGTH} characters")
        return text or None
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if field in {"created_at", "resolved_at"}:
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ValueError(f"not a date: {value!r}")
            value = str(int(value))
        if not isinstance(value, str):
            raise ValueError(f"not a date: {str(value)[:40]!r}")
        return parse_datetime(value)
    if field in {"csat", "customer_value"}:
        return parse_number(value)
    if field == "tags":
        if isinstance(value, list):
            return [str(v).strip() for v in value if str(v).strip()]
        return [t.strip() for t in re.split(r"[,;|]", str(value)) if t.strip()]
    if field == "channel":
        return normalise_channel(value)
    if field == "customer_kind":
        return normalise_customer_kind(value)
    if isinstance(value, (list, dict)):
        raise ValueError(f"expected text, found a JSON {type(value).__name__}")
    if field in _TEXT_FIELDS and isinstance(value, bool):
        raise ValueError(f"expected text, found {value!r}")
    text = (value if isinstance(value, str) else str(value)).replace("\x00", "").strip()
    if field == "source" and len(text) > MAX_SOURCE_LENGTH:
        raise ValueError(f"a source name has at most {MAX_SOURCE_LENGTH} characters")
    return text or None


def build_record(
    row: Mapping[str, Any],
    columns: Mapping[str, str],
    path: str,
    line: int,
    digest_salt: str = "",
) -> InteractionRecord:
    """An ``InteractionRecord`` from one row whose columns were mapped by ``detect_columns``.

    Raises:
        InputError: naming ``path``, ``line`` and the column of the first bad value.
    """
    # tags and extra are given, not left to their default factories, which pydantic's
    # model_construct would inspect on every call.
    data: dict[str, Any] = {**_RECORD_DEFAULTS, "extra": {}, "tags": []}
    for col, value in row.items():
        target = columns.get(col)
        if target is None:
            continue
        if target.startswith("extra."):
            if value not in (None, ""):
                if type(value) is str and "\x00" in value:
                    value = value.replace("\x00", "")
                data["extra"][target[6:]] = value
            continue
        try:
            converted = convert_field(target, value)
        except (ValueError, OverflowError) as exc:
            raise InputError(str(exc), path=path, line=line, field=col) from None
        if converted is not None:
            data[target] = converted
    if not data.get("body") and not data.get("subject"):
        raise InputError(
            "no text: both body and subject are empty", path=path, line=line, field="body"
        )
    raw = json.dumps(row, sort_keys=True, default=str).encode()
    if "external_id" not in data:
        # Stable across re-ingests of the same content, so re-reading adds nothing.
        data["external_id"] = "sha1:" + hashlib.sha1(raw).hexdigest()
    data["line"] = line
    data["source_digest"] = hashlib.sha256(digest_salt.encode() + raw).hexdigest()
    # Every value was converted to its field's type above; skipping validation is what makes
    # a million-row file fast.
    return InteractionRecord.model_construct(**data)
