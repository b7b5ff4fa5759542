"""CSV, TSV, JSON lines and JSON lists of flat records, with column auto-detection."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from rootline.errors import InputError
from rootline.ingest.columns import detect_columns
from rootline.ingest.convert import build_record
from rootline.ingest.schemas import InteractionRecord, Rejected

__all__ = [
    "iter_csv_rows",
    "iter_json_objects",
    "json_objects",
    "open_text",
    "read_csv",
    "read_json",
]

# Fields bigger than csv's default 128 KiB limit occur in real exports (long e-mail threads).
csv.field_size_limit(16 * 1024 * 1024)


def open_text(path: Path, encoding: str | None = None) -> IO[str]:
    """Open a text file (``.gz`` too) in ``encoding``; by default UTF-8, tolerating a
    byte-order mark.

    A spreadsheet saved as Windows-1252 (Excel's "CSV" on Western Windows) is read as such
    when its start is plainly that: not UTF-8, and every accented letter beside a plain one.
    """
    if encoding is None:
        with gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb") as raw:
            head = raw.read(_SNIFF)
        encoding = "cp1252" if _looks_cp1252(head) else "utf-8-sig"
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding=encoding, newline="")
    return path.open("r", encoding=encoding, newline="")


def _not_text(path: Path, exc: UnicodeDecodeError) -> InputError:
    """The error for a file that is not text in the encoding it was read in, naming the line
    of the first byte that does not fit (the decoder reads ahead, so its offset is not it)."""
    codec = exc.encoding.replace("-sig", "").replace("_", "-").upper()
    line, byte = None, None
    with gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb") as raw:
        decoder = codecs.getincrementaldecoder(exc.encoding)()
        for number, chunk in enumerate(raw, start=1):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as bad:
                line, byte = number, bad.object[bad.start]
                break
    what = f"byte 0x{byte:02x}" if byte is not None else exc.reason
    return InputError(
        f"not {codec} text ({what}): save the file as UTF-8, or give its encoding "
        "(e.g. --encoding cp1252)",
        path=str(path),
        line=line,
    )


_SNIFF = 65_536
# A high byte that is a letter in Windows-1252 (À-ÿ, and Š š Œ œ Ž ž Ÿ).
_CP1252_LETTER = frozenset(range(0xC0, 0x100)) | {0x8A, 0x8C, 0x8E, 0x9A, 0x9C, 0x9E, 0x9F}


def _looks_cp1252(head: bytes) -> bool:
    """Whether bytes that are not UTF-8 read as Windows-1252 text.

    Binary data and other encodings also fail UTF-8; Windows-1252 text is told apart by its
    accented letters standing inside words (``caf\xe9``), never alone between symbols.
    """
    try:
        head.decode("utf-8")
        return False
    except UnicodeDecodeError as exc:
        if len(head) == _SNIFF and exc.start >= len(head) - 3:
            return False  # only the last character was cut by the sniff
    if b"\x00" in head:
        return False
    try:
        head.decode("cp1252")
    except UnicodeDecodeError:
        return False
    for i, byte in enumerate(head):
        if byte in _CP1252_LETTER:
            before = head[i - 1 : i]
            after = head[i + 1 : i + 2]
            if not (before.isalpha() or after.isalpha()):
                return False
    return True


def iter_csv_rows(
    path: Path, delimiter: str, encoding: str | None = None
) -> Iterator[tuple[int, dict[str, str] | Rejected]]:
    """(line, row) for every non-blank row; a row of the wrong width comes as ``Rejected``.

    Raises:
        InputError: when the header is unreadable or the file is not text.
    """
    where = str(path)
    try:
        with open_text(path, encoding) as fh:
            reader = csv.reader(fh, delimiter=delimiter)
            try:
                header = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise InputError(f"unreadable header: {exc}", path=where, line=1) from None
            header = [h.strip() for h in header]
            if len(set(header)) != len(header):
                raise InputError("duplicate column names in header", path=where, line=1)
            if any("\x00" in h for h in header):
                raise InputError("binary data, not a CSV header", path=where, line=1)
            line = reader.line_num
            while True:
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    raise InputError(f"malformed CSV: {exc}", path=where, line=line + 1) from None
                start, line = line + 1, reader.line_num
                if not any(v.strip() for v in values):
                    continue
                if len(values) != len(header):
                    error = InputError(
                        f"expected {len(header)} columns, found {len(values)}",
                        path=where,
                        line=start,
                    )
                    yield start, Rejected(error, values)
                    continue
                yield start, dict(zip(header, values, strict=True))
    except UnicodeDecodeError as exc:
        raise _not_text(path, exc) from None


def json_objects(
    items: Iterable[tuple[int, Any]], where: str
) -> Iterator[tuple[int, dict[str, Any]] | Rejected]:
    """The JSON objects among numbered ``items``; anything else as a rejected record."""
    for number, obj in items:
        if isinstance(obj, Rejected):
            yield obj
        elif not isinstance(obj, dict):
            yield Rejected(InputError("expected a JSON object", path=where, line=number), obj)
        else:
            yield number, obj


def iter_json_objects(
    path: Path, fmt: str, encoding: str | None = None
) -> Iterator[tuple[int, Any]]:
    """(line or item number, value) for each item of a JSON list or line of JSON lines.

    What a file holds is judged by its content, not its name: a ``.json`` file of one object
    per line is read as JSON lines. An object that holds a list of records (``{"tickets":
    [...]}``) is read as that list; an object that is one record (it has an ``id``, as
    ``GET /tickets/{id}`` returns it) or wraps one (``{"ticket": {...}}``) as that record. A
    JSON line that does not parse comes as ``Rejected``.

    Raises:
        InputError: when the file is not UTF-8, not JSON at all, or an API's error response.
    """
    where = str(path)
    try:
        if fmt != "jsonl":
            with open_text(path, encoding) as fh:
                try:
                    data = json.load(fh)
                except json.JSONDecodeError as exc:
                    if exc.msg != "Extra data":
                        raise InputError(
                            f"invalid JSON: {exc.msg}", path=where, line=exc.lineno
                        ) from None
                    fmt = "jsonl"  # one JSON document after another: JSON lines
                except RecursionError:
                    raise InputError("JSON nested too deeply", path=where) from None
        if fmt == "jsonl":
            yield from _json_lines(path, encoding)
            return
    except UnicodeDecodeError as exc:
        raise _not_text(path, exc) from None
    if isinstance(data, dict):
        _refuse_error_document(data, where)
        data = _records_of(data)
    if not isinstance(data, list):
        raise InputError("expected a JSON list of objects", path=where, line=1)
    yield from enumerate(data, start=1)


def _json_lines(path: Path, encoding: str | None) -> Iterator[tuple[int, Any]]:
    where = str(path)
    with open_text(path, encoding) as fh:
        for number, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                yield number, json.loads(text)
            except json.JSONDecodeError as exc:
                error = InputError(f"invalid JSON: {exc.msg}", path=where, line=number)
                yield number, Rejected(error, text[:200])
            except RecursionError:
                error = InputError("JSON nested too deeply", path=where, line=number)
                yield number, Rejected(error, text[:200])


# Keys that make up an API's error response, and never a record.
_ERROR_KEYS = frozenset(
    {"error", "errors", "description", "details", "message", "code", "type", "request_id"}
)


def _refuse_error_document(data: dict[str, Any], where: str) -> None:
    """An API's error response saved as a file (Intercom's ``error.list``, Zendesk's and
    Freshdesk's ``error``/``errors``) is refused with its own message."""
    is_error = data.get("type") == "error.list" or (
        set(data) <= _ERROR_KEYS and ("error" in data or "errors" in data)
    )
    if not is_error:
        return
    errors = data.get("errors")
    first = errors[0] if isinstance(errors, list) and errors else errors
    if isinstance(first, dict):
        message = first.get("message") or first.get("code") or first
    else:
        message = first or data.get("description") or data.get("error")
    raise InputError(f"the file is an API error response, not records: {message}", path=where)


def _records_of(data: dict[str, Any]) -> list[Any]:
    """The records a JSON object holds: its list of objects, itself, or the one it wraps."""
    if "id" in data:
        return [data]
    lists = [v for v in data.values() if isinstance(v, list) and (not v or isinstance(v[0], dict))]
    if lists:
        return lists[0]  # the first collection, as exports put their records first
    inner = [v for v in data.values() if isinstance(v, dict) and "id" in v]
    return inner if len(data) == 1 and inner else [data]


def read_csv(
    path: Path,
    delimiter: str,
    mapping: Mapping[str, str] | None,
    encoding: str | None = None,
    known: Mapping[str, str] | None = None,
    per_record_source: bool = True,
) -> Iterator[InteractionRecord | Rejected]:
    """Interaction records of a CSV or TSV file; ``known`` and ``per_record_source`` as
    :func:`detect_columns` takes them (a vendor's export)."""
    columns: dict[str, str] | None = None
    salt = ""
    for line, row in iter_csv_rows(path, delimiter, encoding):
        if isinstance(row, Rejected):
            yield row
            continue
        if columns is None:
            columns = detect_columns(list(row), mapping, known, per_record_source)
            # A different --map changes what a row means, so it must count as a change.
            salt = json.dumps(columns, sort_keys=True)
        try:
            yield build_record(row, columns, str(path), line, salt)
        except InputError as exc:
            yield Rejected(exc, row)


def read_json(
    path: Path, fmt: str, mapping: Mapping[str, str] | None, encoding: str | None = None
) -> Iterator[InteractionRecord | Rejected]:
    """Interaction records of a JSON list or a JSON lines file of flat objects."""
    columns: dict[str, str] = {}
    where = str(path)
    for item in json_objects(iter_json_objects(path, fmt, encoding), where):
        if isinstance(item, Rejected):
            yield item
            continue
        number, obj = item
        flat = {str(k): (json.dumps(v) if isinstance(v, dict) else v) for k, v in obj.items()}
        if any(k not in columns for k in flat):
            columns = detect_columns(list(dict.fromkeys([*columns, *flat])), mapping)
        try:
            yield build_record(flat, columns, where, number, json.dumps(mapping or {}))
        except InputError as exc:
            yield Rejected(exc, obj)
