"""The push API for contacts: a help desk's webhook posts batches of interactions.

``POST /api/ingest`` takes a JSON batch with the field names (and aliases) of file ingest and
hands it to ``rootline.ingest.service.ingest_batch``. The whole batch is one savepoint: a bad
record writes nothing and the 422 names its index and field. Re-sending a batch adds nothing;
a changed record with the same source and external id is updated in place.

Who may push is decided by the permission table (``api_ingest``); a bearer API token is the
intended client, a signed-in browser needs the CSRF header like every other POST. When an
ingest secret is configured, every call must also be signed the way Rootline signs its own
webhooks: ``X-Rootline-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{body}">`` with
``X-Rootline-Timestamp`` (Unix seconds, at most five minutes off), so a leaked token alone
cannot push data and a captured call cannot be replayed later.
"""

from __future__ import annotations

import json
import re
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from rootline.errors import InputError
from rootline.ingest.columns import detect_columns
from rootline.ingest.service import IngestOptions, IngestReport, ingest_batch
from rootline.pipeline import build_ingest_options
from rootline.rootcause.notify import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from rootline.web.deps import SessionDep
from rootline.web.refusals import COMMON, FieldRefusal, Refusal, refusals
from rootline.web.schemas import IngestOut

__all__ = ["MAX_BODY_BYTES", "MAX_RECORDS", "SIGNATURE_TOLERANCE", "router"]

router = APIRouter()

#: Records one call may carry; a help desk sends more as several calls.
MAX_RECORDS = 1000
#: Bytes one call may carry (checked before the body is parsed).
MAX_BODY_BYTES = 10 * 1024 * 1024
_MAX_SOURCE = 64
#: How far a signed call's timestamp may be from the server's clock, in seconds.
SIGNATURE_TOLERANCE = 300
_ITEM = re.compile(r"item (\d+)")

_RECORD_EXAMPLE = {
    "ticket_id": "48213",
    "subject": "Card declined at checkout",
    "description": "My card keeps getting declined when I pay.",
    "channel": "web",
    "created_at": "2026-09-07T10:15:00Z",
    "requester_email": "ada@example.com",
    "csat": 2,
    "product": "shop",
}
_OPENAPI_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {
                            "type": "object",
                            "required": ["interactions"],
                            "properties": {
                                "source": {"type": "string", "maxLength": _MAX_SOURCE},
                                "interactions": {
                                    "type": "array",
                                    "maxItems": MAX_RECORDS,
                                    "items": {"type": "object"},
                                },
                            },
                        },
                        {"type": "array", "maxItems": MAX_RECORDS, "items": {"type": "object"}},
                    ]
                },
                "example": {"source": "zendesk", "interactions": [_RECORD_EXAMPLE]},
            }
        },
    },
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": IngestOut, "description": "The counts, in all and by source."},
    **COMMON,
    401: {
        **COMMON[401],
        # A missing token is one line; a missing or stale signature names its header.
        "model": Refusal | FieldRefusal,
        "description": "No valid API token, or (with an ingest secret) no valid signature.",
    },
    **refusals(
        413,
        422,
        s413=f"More than {MAX_RECORDS} records or {MAX_BODY_BYTES} bytes.",
        s422="A record (by index, from 0) or field is invalid; nothing was written.",
    ),
}


class _Refused(Exception):
    """A request this route answers with an error status and a FastAPI-shaped detail list."""

    def __init__(
        self,
        status: int,
        msg: str,
        loc: list[str | int],
        kind: str,
        where: str = "body",
        **extra: Any,
    ) -> None:
        super().__init__(msg)
        self.status = status
        self.detail = {"loc": [where, *loc], "msg": msg, "type": kind, **extra}

    def response(self) -> JSONResponse:
        return JSONResponse({"detail": [self.detail]}, status_code=self.status)


def _too_large(what: str) -> _Refused:
    return _Refused(
        413,
        f"{what}; send at most {MAX_RECORDS} records and {MAX_BODY_BYTES} bytes per call",
        [],
        "too_large",
    )


async def _read_body(request: Request) -> bytes:
    """The body, refused with 413 as soon as it passes the limit (never read whole first)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large(f"the body has {declared} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large(f"the body has more than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _check_signature(request: Request, raw: bytes, secret: str) -> None:
    """Refuse (401) a call that is not signed with the ingest secret, or signed too long ago."""
    stamp = request.headers.get(TIMESTAMP_HEADER, "")
    given = request.headers.get(SIGNATURE_HEADER, "")
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > SIGNATURE_TOLERANCE:
        raise _Refused(
            401,
            f"{TIMESTAMP_HEADER} must be the Unix time of the call, within "
            f"{SIGNATURE_TOLERANCE} seconds",
            [TIMESTAMP_HEADER],
            "signature",
            where="header",
        )
    if not verify_signature(secret, stamp, raw, given):
        raise _Refused(
            401,
            f"{SIGNATURE_HEADER} is missing or wrong: expected sha256=<hex "
            'HMAC-SHA256 of "{timestamp}.{body}" under the ingest secret>',
            [SIGNATURE_HEADER],
            "signature",
            where="header",
        )


def _check_source(value: Any, index: int | None = None) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > _MAX_SOURCE:
        msg = f"source must be a name of 1 to {_MAX_SOURCE} characters"
        if index is None:
            raise _Refused(422, msg, ["source"], "invalid_source", field="source")
        raise _Refused(
            422,
            f"record {index}, field 'source': {msg}",
            ["interactions", index, "source"],
            "invalid_source",
            field="source",
            index=index,
        )
    return value.strip()


def _parse(raw: bytes, query_source: str | None) -> tuple[str | None, list[Any]]:
    """(batch source, records) from a ``{"source", "interactions"}`` object or a bare list."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _Refused(422, f"the body is not JSON: {exc}", [], "json_invalid") from None
    source = _check_source(query_source) if query_source is not None else None
    if isinstance(data, dict):
        if "interactions" not in data:
            raise _Refused(
                422,
                'expected {"source": ..., "interactions": [...]} or a list of interactions',
                ["interactions"],
                "missing",
                field="interactions",
            )
        if "source" in data:
            source = _check_source(data["source"])
        data = data["interactions"]
    if not isinstance(data, list):
        raise _Refused(
            422,
            "interactions must be a JSON list of objects",
            ["interactions"],
            "list_type",
            field="interactions",
        )
    if len(data) > MAX_RECORDS:
        raise _too_large(f"the batch has {len(data)} records")
    return source, data


#: The fields a record names its own source in: ``source`` here, as in the body, and
#: ``source_system``, as in a file.
_RECORD_SOURCE_FIELDS = ("source", "source_system")


def _record_source(record: dict[str, Any], index: int) -> tuple[str | None, dict[str, Any]]:
    """The source a record names (``source`` or ``source_system``, which must agree) and the
    record without them."""
    named = [k for k in _RECORD_SOURCE_FIELDS if k in record]
    if not named:
        return None, record
    record = dict(record)
    values = [_check_source(record.pop(k), index) for k in named]
    if len(set(values)) > 1:
        raise _Refused(
            422,
            f"record {index}: 'source' {values[0]!r} and 'source_system' {values[1]!r} differ",
            ["interactions", index, "source_system"],
            "invalid_source",
            field="source_system",
            index=index,
        )
    return values[0], record


def _by_source(batch_source: str | None, records: list[Any]) -> dict[str, list[tuple[int, Any]]]:
    """Records grouped by source (a record's own ``source`` or ``source_system`` wins), in
    order of appearance."""
    groups: dict[str, list[tuple[int, Any]]] = {}
    for index, record in enumerate(records):
        source = batch_source
        if isinstance(record, dict):
            named, record = _record_source(record, index)
            source = named or source
        if source is None:
            raise _Refused(
                422,
                'no source: give ?source=NAME, a "source" in the body or in every record',
                ["source"],
                "missing",
                field="source",
                index=index,
            )
        groups.setdefault(source, []).append((index, record))
    return groups


def _bad_id_index(records: list[tuple[int, Any]]) -> tuple[int, str] | None:
    """Which record carries an unusable id: the service names the field, not the record."""
    for index, record in records:
        if not isinstance(record, dict):
            continue
        for column, target in detect_columns(list(record)).items():
            value = record[column]
            if (
                target == "external_id"
                and isinstance(value, str | int)
                and (len(str(value)) > 255 or not str(value).strip())
            ):
                return index, column
    return None


def _refusal(error: InputError, records: list[tuple[int, Any]]) -> _Refused:
    found = _ITEM.fullmatch(error.path or "")
    index: int | None = None
    field = error.field
    if found:
        index = records[int(found.group(1))][0]
    elif error.field == "external_id" and (located := _bad_id_index(records)):
        index, field = located
    loc: list[str | int] = ["interactions"]
    if index is not None:
        loc.append(index)
    if field:
        loc.append(field)
    where = ", ".join(
        p
        for p in (
            f"record {index}" if index is not None else "",
            f"field {field!r}" if field else "",
        )
        if p
    )
    return _Refused(
        422,
        f"{where}: {error.reason}" if where else error.reason,
        loc,
        "invalid_record",
        index=index,
        field=field,
    )


def _ingest(
    session: Session, groups: dict[str, list[tuple[int, Any]]], options: IngestOptions
) -> dict[str, IngestReport]:
    """Every group in one savepoint: a refused record undoes the groups written before it,
    while the request's own writes (the token's last use) are still committed."""
    reports = {}
    with session.begin_nested():
        for source, records in groups.items():
            try:
                reports[source] = ingest_batch(session, source, [r for _, r in records], options)
            except InputError as exc:
                raise _refusal(exc, records) from None
    return reports


@router.post(
    "/api/ingest",
    tags=["ingest"],
    name="api_ingest",
    openapi_extra=_OPENAPI_BODY,
    responses=_RESPONSES,
)
async def push_interactions(
    request: Request,
    session: SessionDep,
    source: Annotated[
        str | None,
        Query(
            max_length=_MAX_SOURCE,
            description="Source name of the batch (a body `source`, or a record's `source` or "
            "`source_system`, overrides it).",
        ),
    ] = None,
) -> Response:
    """Load a batch of interactions pushed by a help desk (up to 1,000 per call).

    Field names are those of file ingest (`external_id`/`ticket_id`/`id`, `subject`, `body`/
    `description`, `channel`, `created_at`, `customer_email`, `customer_phone`, `account_id`/
    `customer_id`, `csat`, ...); other fields are kept as extra fields. The batch is written
    whole or not at all, and sending it again adds nothing. Returns the counts.
    """
    settings = request.app.state.settings
    options = build_ingest_options(settings)
    # ``ingest_secret`` is optional: without it the API token alone authenticates the call.
    secret = settings.ingest_secret
    try:
        raw = await _read_body(request)
        if secret:
            _check_signature(request, raw, secret)
        batch_source, records = _parse(raw, source)
        groups = _by_source(batch_source, records)
        # The body is read on the event loop; the database work runs in a worker thread.
        reports = await run_in_threadpool(_ingest, session, groups, options)
    except _Refused as refused:
        return refused.response()
    total = {
        key: sum(getattr(r, key) for r in reports.values())
        for key in ("inserted", "updated", "unchanged", "customers_created")
    }
    return JSONResponse(
        {
            "received": len(records),
            **total,
            "sources": {
                name: {
                    "inserted": r.inserted,
                    "updated": r.updated,
                    "unchanged": r.unchanged,
                    "known_elsewhere": r.known_elsewhere,
                }
                for name, r in reports.items()
            },
        }
    )
