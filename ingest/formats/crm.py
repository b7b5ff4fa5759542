"""CRM files: customers (ids, names, e-mails, phones, segment, value, owner) and their events.

Both are CSV/TSV, JSON or JSON lines with columns recognised by name like interactions.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from rootline.errors import InputError
from rootline.ingest.convert import convert_field, normalise_customer_kind, parse_number
from rootline.ingest.formats.tabular import iter_csv_rows, iter_json_objects, json_objects
from rootline.ingest.schemas import CustomerEventRecord, CustomerRecord, Rejected

__all__ = [
    "CUSTOMER_COLUMNS",
    "EVENT_COLUMNS",
    "EVENT_KIND_ALIASES",
    "read_customers",
    "read_events",
]

#: Field -> column names that mean it in a customer file (case and punctuation ignored).
CUSTOMER_COLUMNS: dict[str, tuple[str, ...]] = {
    "account_id": (
        "account_id",
        "customer_id",
        "id",
        "crm_id",
        "account",
        "account_number",
        "customer_number",
    ),
    "name": ("name", "customer_name", "full_name", "company", "account_name"),
    "emails": ("emails", "email", "email_addresses", "e_mails", "email_address"),
    "phones": ("phones", "phone", "phone_numbers", "mobile", "telephone"),
    "segment": ("segment", "customer_segment", "tier", "plan"),
    "value": ("value", "revenue", "arr", "mrr", "ltv", "customer_value", "annual_revenue"),
    "account_owner": ("account_owner", "owner", "account_manager", "csm"),
    "kind": ("customer_kind", "customer_type"),
    "department": ("department", "dept", "business_unit"),
}
#: Field -> column names that mean it in a customer events file.
EVENT_COLUMNS: dict[str, tuple[str, ...]] = {
    "external_id": ("event_id", "external_id", "id", "order_id", "transaction_id"),
    "kind": ("kind", "event", "event_type", "type", "action"),
    "occurred_at": ("occurred_at", "date", "timestamp", "created_at", "time", "event_date"),
    "amount": ("amount", "value", "revenue", "total", "price"),
    "currency": ("currency", "ccy"),
    "account_id": ("account_id", "customer_id", "account", "crm_id"),
    "customer_email": ("customer_email", "email"),
    "customer_phone": ("customer_phone", "phone"),
}
#: Words exports use for each event kind.
EVENT_KIND_ALIASES = {
    "order": "order",
    "purchase": "order",
    "sale": "order",
    "new": "order",
    "signup": "order",
    "cancellation": "cancellation",
    "cancel": "cancellation",
    "cancelled": "cancellation",
    "canceled": "cancellation",
    "churn": "cancellation",
    "churned": "cancellation",
    "upgrade": "upgrade",
    "upsell": "upgrade",
    "expansion": "upgrade",
    "downgrade": "downgrade",
    "contraction": "downgrade",
    "renewal": "renewal",
    "renew": "renewal",
    "refund": "refund",
    "return": "refund",
    "referral": "referral",
    "referred": "referral",
    "refer": "referral",
}


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def _columns(
    header: list[str], aliases: dict[str, tuple[str, ...]], mapping: Mapping[str, str] | None
) -> dict[str, str]:
    result = {c: f for c, f in (mapping or {}).items() if c in header}
    taken = set(result.values())
    by_norm = {_norm(c): c for c in header if c not in result}
    for fld, names in aliases.items():
        for alias in names:
            col = by_norm.get(alias)
            if fld not in taken and col is not None and col not in result:
                result[col] = fld
                taken.add(fld)
                break
    return result


def _split(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in re.split(r"[;,|\n]", str(value)) if v.strip()]


def _fields(
    row: Mapping[str, Any],
    columns: dict[str, str],
    where: str,
    line: int,
    convert: Callable[[str, Any], Any],
) -> dict[str, Any]:
    """A record's fields from a row: mapped columns through ``convert`` (field, value), the
    rest kept in ``extra``; a value ``convert`` refuses names its column."""
    data: dict[str, Any] = {"extra": {}, "line": line}
    for col, value in row.items():
        fld = columns.get(col)
        if value in (None, ""):
            continue
        if fld is None:
            data["extra"][col] = value
            continue
        try:
            data[fld] = convert(fld, value)
        except ValueError as exc:
            raise InputError(str(exc), path=where, line=line, field=col) from None
    return data


def _text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise ValueError(f"expected text, found a JSON {type(value).__name__}")
    return str(value).strip()


def _customer_value(fld: str, value: Any) -> Any:
    if fld in {"emails", "phones"}:
        return _split(value)
    if fld == "value":
        return parse_number(value)
    if fld == "kind":
        return normalise_customer_kind(value)
    return _text(value)


def _event_value(fld: str, value: Any) -> Any:
    if fld == "occurred_at":
        return convert_field("created_at", value)
    if fld == "amount":
        return parse_number(value)
    if fld == "kind":
        kind = EVENT_KIND_ALIASES.get(_norm(str(value)))
        if kind is None:
            known = ", ".join(sorted(set(EVENT_KIND_ALIASES.values())))
            raise ValueError(f"unknown event kind {str(value)[:30]!r} (known: {known})")
        return kind
    return _text(value)


def _customer(
    row: Mapping[str, Any], columns: dict[str, str], where: str, line: int
) -> CustomerRecord:
    data = _fields(row, columns, where, line, _customer_value)
    if not (data.get("account_id") or data.get("emails") or data.get("phones")):
        raise InputError("no customer id, e-mail or phone", path=where, line=line, field="id")
    return CustomerRecord.model_validate(data)


def _event(
    row: Mapping[str, Any], columns: dict[str, str], where: str, line: int
) -> CustomerEventRecord:
    data = _fields(row, columns, where, line, _event_value)
    for needed in ("kind", "occurred_at"):
        if needed not in data:
            raise InputError(f"missing {needed}", path=where, line=line, field=needed)
    if not (data.get("account_id") or data.get("customer_email") or data.get("customer_phone")):
        raise InputError(
            "no customer id, e-mail or phone", path=where, line=line, field="customer_id"
        )
    if "external_id" not in data:
        raw = json.dumps(row, sort_keys=True, default=str).encode()
        data["external_id"] = "sha1:" + hashlib.sha1(raw).hexdigest()
    return CustomerEventRecord.model_validate(data)


def _rows(path: Path, fmt: str, encoding: str | None) -> Iterator[tuple[int, Any]]:
    if fmt in {"csv", "tsv"}:
        yield from iter_csv_rows(path, "\t" if fmt == "tsv" else ",", encoding)
    else:
        yield from iter_json_objects(path, fmt, encoding)


def _read(
    path: Path,
    fmt: str,
    mapping: Mapping[str, str] | None,
    aliases: dict[str, tuple[str, ...]],
    build: Any,
    encoding: str | None,
) -> Iterator[Any]:
    where = str(path)
    columns: dict[str, str] | None = None
    for item in json_objects(_rows(path, fmt, encoding), where):
        if isinstance(item, Rejected):
            yield item
            continue
        line, row = item
        if columns is None or any(k not in columns for k in row):
            columns = _columns(list(row), aliases, mapping)
        try:
            yield build(row, columns, where, line)
        except InputError as exc:
            yield Rejected(exc, row)


def read_customers(
    path: Path, fmt: str, mapping: Mapping[str, str] | None = None, encoding: str | None = None
) -> Iterator[CustomerRecord | Rejected]:
    """Customer records of a CRM export (``fmt``: csv, tsv, json or jsonl)."""
    return _read(path, fmt, mapping, CUSTOMER_COLUMNS, _customer, encoding)


def read_events(
    path: Path, fmt: str, mapping: Mapping[str, str] | None = None, encoding: str | None = None
) -> Iterator[CustomerEventRecord | Rejected]:
    """Customer event records (order, cancellation, upgrade, downgrade, ...)."""
    return _read(path, fmt, mapping, EVENT_COLUMNS, _event, encoding)
