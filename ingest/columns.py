"""Recognising common column names of help-desk exports, and ``--map COL=FIELD``."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from rootline.errors import InputError
from rootline.ingest.schemas import CANONICAL_FIELDS, CRM_FIELDS

__all__ = ["ALIASES", "detect_columns", "parse_mapping"]

#: Canonical field -> column names that mean it, most specific first.
ALIASES: dict[str, tuple[str, ...]] = {
    "external_id": (
        "external_id",
        "ticket_id",
        "ticket_number",
        "case_id",
        "case_number",
        "conversation_id",
        "interaction_id",
        "message_id",
        "id",
        "ticket",
        "number",
    ),
    "subject": ("subject", "title", "summary", "topic"),
    "body": (
        "body",
        "description",
        "text",
        "message",
        "content",
        "comment",
        "details",
        "utterance",
        "question",
        "notes",
        "transcript",
    ),
    "channel": ("channel", "via", "medium", "source_channel", "contact_channel"),
    "customer_email": (
        "customer_email",
        "requester_email",
        "email",
        "requester",
        "from",
        "sender",
        "email_address",
    ),
    "customer_phone": ("customer_phone", "phone", "phone_number", "caller", "mobile"),
    "account_id": ("account_id", "customer_id", "account", "account_number", "customer_number"),
    "customer_name": ("customer_name", "requester_name", "name", "customer"),
    "created_at": (
        "created_at",
        "created",
        "date",
        "timestamp",
        "opened_at",
        "submitted_at",
        "time",
        "datetime",
        "received_at",
    ),
    "resolved_at": ("resolved_at", "solved_at", "closed_at", "resolved", "closed"),
    "status": ("status", "state", "ticket_status"),
    "csat": ("csat", "csat_score", "satisfaction", "satisfaction_score", "rating", "score"),
    "agent": ("agent", "assignee", "agent_name", "owner", "handled_by"),
    "tags": ("tags", "labels"),
    "segment": ("segment", "customer_segment", "tier", "plan"),
    "customer_kind": ("customer_kind", "customer_type", "requester_type", "requester_kind"),
    "department": ("requester_department", "customer_department", "employee_department"),
    "customer_value": ("customer_value", "value", "revenue", "arr", "ltv", "account_value"),
    # The system a record comes from. Never a plain "source": help desks use that name for
    # the channel (Freshdesk's Email, Portal, Phone), CRMs for the lead's origin.
    "source": ("source_system",),
}


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def parse_mapping(pairs: Iterable[str]) -> dict[str, str]:
    """Parse ``COL=FIELD`` pairs from ``--map``.

    Raises:
        InputError: on a pair without ``=`` or an unknown field name.
    """
    out: dict[str, str] = {}
    for pair in pairs:
        col, sep, fld = pair.partition("=")
        if not sep or not col.strip() or not fld.strip():
            raise InputError(f"--map {pair!r} is not COL=FIELD")
        fld = fld.strip()
        if fld not in CANONICAL_FIELDS and fld not in CRM_FIELDS and not fld.startswith("extra."):
            known = ", ".join(CANONICAL_FIELDS)
            raise InputError(f"--map {pair!r}: unknown field {fld!r} (known: {known}, extra.NAME)")
        out[col.strip()] = fld
    return out


def detect_columns(
    header: Iterable[str],
    mapping: Mapping[str, str] | None = None,
    known: Mapping[str, str] | None = None,
    per_record_source: bool = True,
) -> dict[str, str]:
    """Decide which canonical field each column feeds.

    Explicit ``mapping`` entries win; then ``known`` names (a vendor export's own columns,
    written as ``_norm`` leaves them: ``created_time``); then aliases, each field taken by its
    most specific column; every other column becomes ``extra.<column>``. Without
    ``per_record_source`` (a help desk's own export, whose records all come from it) no
    column is taken as the record's source unless ``mapping`` says so.

    Returns:
        column name -> canonical field name or ``extra.<name>``.
    """
    columns = list(header)
    result: dict[str, str] = {}
    taken: set[str] = set()
    for col in columns:
        if mapping and col in mapping:
            result[col] = mapping[col]
            taken.add(mapping[col])
    for col in columns:
        fld = (known or {}).get(_norm(col))
        if col not in result and fld is not None and fld not in taken:
            result[col] = fld
            taken.add(fld)
    if not per_record_source:
        taken.add("source")
    by_norm = {_norm(c): c for c in columns if c not in result}
    for fld, aliases in ALIASES.items():
        if fld in taken:
            continue
        for alias in aliases:
            found = by_norm.get(alias)
            if found is not None and found not in result:
                result[found] = fld
                taken.add(fld)
                break
    for col in columns:
        result.setdefault(col, f"extra.{col}")
    return result
