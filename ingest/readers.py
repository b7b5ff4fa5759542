"""Readers turn an input file into a stream of ``InteractionRecord``s.

Tabular formats (CSV, TSV, JSON lines, a JSON list) share column detection. Each record
carries its line number so every error can name the file, line and field.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, Any

from rootline.errors import InputError
from rootline.ingest.columns import detect_columns
from rootline.ingest.schemas import InteractionRecord

__all__ = ["FORMATS", "detect_format", "parse_datetime", "read_records"]

FORMATS = ("auto", "csv", "tsv", "jsonl", "json")

_CHANNELS = {
    "email": "email", "e-mail": "email", "mail": "email",
    "chat": "chat", "live_chat": "chat", "livechat": "chat", "messaging": "chat",
    "web": "web", "web_form": "web", "webform": "web", "form": "web", "portal": "web",
    "phone": "phone", "call": "phone", "voice": "phone", "telephone": "phone",
    "social": "social", "twitter": "social", "facebook": "social",
}
_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%d/%m/%Y %H:%M",
                 "%d/%m/%Y", "%m/%d/%Y %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d")


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return path.open("r", encoding="utf-8-sig", newline="")


def detect_format(path: Path) -> str:
    """Guess the format from the extension, then from the first bytes."""
    name = path.name.lower().removesuffix(".gz")
    for ext, fmt in ((".csv", "csv"), (".tsv", "tsv"), (".jsonl", "jsonl"), (".ndjson", "jsonl"),
                     (".json", "json")):
        if name.endswith(ext):
            return fmt
    try:
        with _open_text(path) as fh:
            head = fh.read(2048).lstrip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", path=str(path)) from None
    if head.startswith("["):
        return "json"
    if head.startswith("{"):
        return "jsonl"
    return "csv"


def parse_datetime(value: str) -> datetime:
    """Parse ISO 8601, common day/month formats and RFC 2822 dates; naive means UTC.

    Raises:
        ValueError: when no format fits.
    """
    text = value.strip()
    if re.fullmatch(r"\d{9,11}(\.\d+)?", text):  # Unix seconds
        return datetime.fromtimestamp(float(text), tz=UTC)
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
            try:
                dt = parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                raise ValueError(f"not a date: {value!r}") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _convert(field: str, value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if field in {"created_at", "resolved_at"}:
        return value if isinstance(value, datetime) else parse_datetime(str(value))
    if field in {"csat", "customer_value"}:
        if isinstance(value, bool):
            raise ValueError(f"not a number: {value!r}")
        number = float(str(value).strip().replace(",", "")) if isinstance(value, str) else float(value)
        if number != number:  # NaN
            raise ValueError(f"not a number: {value!r}")
        return number
    if field == "tags":
        if isinstance(value, list):
            return [str(v).strip() for v in value if str(v).strip()]
        return [t.strip() for t in re.split(r"[,;|]", str(value)) if t.strip()]
    if field == "channel":
        key = re.sub(r"[\s-]+", "_", str(value).strip().lower())
        return _CHANNELS.get(key, key[:32] or "other")
    return str(value).strip() if not isinstance(value, str) else value.strip()


def _record(
    row: Mapping[str, Any], columns: Mapping[str, str], path: Path, line: int
) -> InteractionRecord:
    data: dict[str, Any] = {"extra": {}}
    for col, value in row.items():
        target = columns.get(col)
        if target is None:
            continue
        if target.startswith("extra."):
            if value not in (None, ""):
                data["extra"][target[6:]] = value
            continue
        try:
            converted = _convert(target, value)
        except ValueError as exc:
            raise InputError(str(exc), path=str(path), line=line, field=col) from None
        if converted is not None:
            data[target] = converted
    if not data.get("body") and not data.get("subject"):
        raise InputError("no text: both body and subject are empty", path=str(path), line=line,
                         field="body")
    if "external_id" not in data:
        # Stable across re-ingests of the same content, so re-reading adds nothing.
        raw = json.dumps(row, sort_keys=True, default=str).encode()
        data["external_id"] = "sha1:" + hashlib.sha1(raw).hexdigest()
    data["line"] = line
    return InteractionRecord.model_validate(data)


def _read_csv(path: Path, delimiter: str, mapping: Mapping[str, str] | None) -> Iterator[InteractionRecord]:
    with _open_text(path) as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputError(f"unreadable header: {exc}", path=str(path), line=1) from None
        if len(set(header)) != len(header):
            raise InputError("duplicate column names in header", path=str(path), line=1)
        columns = detect_columns(header, mapping)
        line = reader.line_num
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except (csv.Error, UnicodeDecodeError) as exc:
                raise InputError(f"malformed CSV: {exc}", path=str(path), line=line + 1) from None
            start, line = line + 1, reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                raise InputError(
                    f"expected {len(header)} columns, found {len(values)}", path=str(path), line=start
                )
            yield _record(dict(zip(header, values, strict=True)), columns, path, start)


def _read_json_objects(path: Path, fmt: str) -> Iterator[tuple[int, Any]]:
    try:
        with _open_text(path) as fh:
            if fmt == "jsonl":
                for number, text in enumerate(fh, start=1):
                    if text.strip():
                        try:
                            yield number, json.loads(text)
                        except json.JSONDecodeError as exc:
                            raise InputError(f"invalid JSON: {exc.msg}", path=str(path),
                                             line=number) from None
                return
            try:
                data = json.load(fh)
            except json.JSONDecodeError as exc:
                raise InputError(f"invalid JSON: {exc.msg}", path=str(path), line=exc.lineno) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text: {exc.reason}", path=str(path)) from None
    if isinstance(data, dict):
        data = next((v for v in data.values() if isinstance(v, list)), [data])
    if not isinstance(data, list):
        raise InputError("expected a JSON list of objects", path=str(path), line=1)
    yield from enumerate(data, start=1)


def _read_json(path: Path, fmt: str, mapping: Mapping[str, str] | None) -> Iterator[InteractionRecord]:
    columns: dict[str, str] = {}
    for number, obj in _read_json_objects(path, fmt):
        if not isinstance(obj, dict):
            raise InputError("expected a JSON object", path=str(path), line=number)
        flat = {k: (json.dumps(v) if isinstance(v, dict) else v) for k, v in obj.items()}
        if any(k not in columns for k in flat):
            columns = detect_columns(list(dict.fromkeys([*columns, *flat])), mapping)
        yield _record(flat, columns, path, number)


def read_records(
    path: Path, fmt: str = "auto", mapping: Mapping[str, str] | None = None
) -> Iterator[InteractionRecord]:
    """Stream the records of one file.

    Raises:
        InputError: naming the file, line and field of the first bad record.
    """
    if not path.is_file():
        raise InputError("no such file", path=str(path))
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt in {"csv", "tsv"}:
        return _read_csv(path, "\t" if fmt == "tsv" else ",", mapping)
    if fmt in {"jsonl", "json"}:
        return _read_json(path, fmt, mapping)
    raise InputError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})", path=str(path))
