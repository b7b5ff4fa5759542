"""Help-desk exports: Zendesk tickets, Freshdesk tickets and Intercom conversations (JSON),
and Freshdesk's ticket export as CSV.

Each export's mapping to Rootline's fields is documented in the README ("Ingest: help-desk
exports"). Comments or conversation parts written by the requester are the customer turns;
agents' public replies are kept in ``body_raw``; private notes are left out of both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from rootline.errors import InputError
from rootline.ingest.cleaning import strip_html
from rootline.ingest.convert import RATING_WORDS, convert_field, normalise_channel
from rootline.ingest.formats.tabular import iter_json_objects, json_objects, open_text, read_csv
from rootline.ingest.schemas import InteractionRecord, Rejected

__all__ = [
    "FRESHDESK_CSV_COLUMNS",
    "freshdesk_record",
    "intercom_record",
    "is_freshdesk_csv_header",
    "read_freshdesk_csv",
    "read_helpdesk",
    "zendesk_record",
]

_FRESHDESK_SOURCE = {1: "email", 2: "web", 3: "phone", 7: "chat", 9: "web", 10: "email"}
_FRESHDESK_STATUS = {2: "open", 3: "pending", 4: "resolved", 5: "closed"}
#: Intercom author types that are the customer (the rest are admins, bots and teams).
_INTERCOM_PEOPLE = frozenset({"user", "lead", "contact"})

#: Freshdesk's ticket export (Tickets, Export, CSV) column -> field, names as ``_norm`` writes
#: them. ``Source`` is the channel the ticket came by (Email, Portal, Phone, Chat, Feedback
#: Widget, Outbound Email), never the system: every record of the file is Freshdesk's.
FRESHDESK_CSV_COLUMNS = {
    "ticket_id": "external_id",
    "subject": "subject",
    "description": "body",
    "status": "status",
    "source": "channel",
    "agent": "agent",
    "created_time": "created_at",
    "resolved_time": "resolved_at",
    "tags": "tags",
    "full_name": "customer_name",
    "email": "customer_email",
    "work_phone": "customer_phone",
    "mobile_phone": "customer_phone",
}
# Columns only Freshdesk's export has; with "Ticket ID" and "Source", two of them tell it.
_FRESHDESK_CSV_OWN = frozenset(
    {
        "due_by_time",
        "resolution_status",
        "first_response_status",
        "agent_interactions",
        "customer_interactions",
        "initial_response_time",
        "first_response_time_in_hrs",
        "resolution_time_in_hrs",
        "last_update_time",
        "created_time",
    }
)


def _kept(record: dict[str, Any], *keys: str) -> dict[str, Any]:
    """The named fields of ``record`` that hold a value, for ``extra``."""
    return {k: record[k] for k in keys if record.get(k) is not None}


def _obj(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one: exports omit or null them."""
    return value if isinstance(value, dict) else {}


def _key(value: Any) -> str | int | None:
    """A user id usable as a dict key; ids of the wrong type match nobody."""
    return value if isinstance(value, (str, int)) and not isinstance(value, bool) else None


class _Fields:
    """Reads typed fields of one export object; every error names the field's path."""

    def __init__(self, obj: dict[str, Any], where: str, number: int) -> None:
        self.obj, self.where, self.number = obj, where, number

    def error(self, reason: str, fld: str) -> InputError:
        return InputError(reason, path=self.where, line=self.number, field=fld)

    def record_id(self, noun: str) -> Any:
        """The record's ``id``, which every export carries; its absence names the record."""
        value = self.get("id")
        if value is None:
            raise self.error(f"missing {noun} id", "id")
        return value

    def get(self, dotted: str, kind: str = "text") -> Any:
        value: Any = self.obj
        for key in dotted.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if value is None or value == "":
            return None
        if kind == "text":
            if isinstance(value, (dict, list, bool)):
                raise self.error(f"expected text, found {type(value).__name__}", dotted)
            return str(value)
        if kind == "list":
            if not isinstance(value, list):
                raise self.error(f"expected a list, found {type(value).__name__}", dotted)
            return value
        try:
            return convert_field("created_at" if kind == "date" else "csat", value)
        except ValueError as exc:
            raise self.error(str(exc), dotted) from None


def _turns(
    parts: list[Any],
    f: _Fields,
    fld: str,
    read: Callable[[dict[str, Any]], tuple[str, str, str, Any] | None],
) -> tuple[list[str], list[str], list[str]]:
    """(raw lines, customer texts, agent names) from comments / conversation parts."""
    lines, customer, agents = [], [], []
    for i, part in enumerate(parts):
        if not isinstance(part, dict):
            raise f.error(f"item {i + 1} is not an object", fld)
        got = read(part)
        if got is None:
            continue
        role, name, text, when = got
        if not isinstance(text, str):
            raise f.error(
                f"item {i + 1}: expected text, found {type(text).__name__}", f"{fld}.body"
            )
        text = strip_html(text) if "<" in text else text
        lines.append(f"[{when}] {role.capitalize()}{f' ({name})' if name else ''}: {text.strip()}")
        if role == "customer":
            customer.append(text)
        elif name:
            agents.append(name)
    return lines, customer, agents


def zendesk_record(
    ticket: dict[str, Any], users: dict[Any, dict[str, Any]], where: str, number: int
) -> InteractionRecord:
    """One interaction from a Zendesk ticket (with ``comments``; ``users`` sideloaded or not).

    Raises:
        InputError: naming the ticket field that is missing or of the wrong type.
    """
    f = _Fields(ticket, where, number)
    ticket_id = f.record_id("ticket")
    requester_id = ticket.get("requester_id")
    requester = users.get(_key(requester_id)) or _obj(ticket.get("requester"))

    def read(c: dict[str, Any]) -> tuple[str, str, str, Any] | None:
        if c.get("public") is False:
            return None  # internal notes are not the customer's words, nor shown to them
        author = users.get(_key(c.get("author_id")), {})
        role = "customer" if c.get("author_id") == requester_id else "agent"
        return (
            role,
            author.get("name") or "",
            c.get("plain_body") or c.get("body") or c.get("html_body") or "",
            c.get("created_at"),
        )

    comments = f.get("comments", "list") or []
    lines, customer, agents = _turns(comments, f, "comments", read)
    description = f.get("description") or ""
    if not customer and description:
        customer = [description]
    status = f.get("status")
    solved = f.get("solved_at", "date") or (
        f.get("updated_at", "date") if status in {"solved", "closed"} else None
    )
    score = (
        ticket.get("satisfaction_rating", {}).get("score")
        if isinstance(ticket.get("satisfaction_rating"), dict)
        else None
    )
    # Sideloaded users name the assignee; the full JSON export embeds it as an object instead.
    assignee = (
        users.get(_key(ticket.get("assignee_id")), {}).get("name")
        or _obj(ticket.get("assignee")).get("name")
        or None
    )
    return InteractionRecord(
        external_id=ticket_id,
        subject=f.get("subject") or f.get("raw_subject"),
        body="\n".join(lines) or description,
        customer_turns=customer or None,
        channel=normalise_channel(f.get("via.channel") or "web"),
        created_at=f.get("created_at", "date"),
        resolved_at=solved,
        status=status,
        csat=RATING_WORDS.get(str(score)) if score is not None else None,
        agent=assignee or (agents[0] if agents else None),
        tags=[str(t) for t in f.get("tags", "list") or []],
        customer_email=requester.get("email"),
        customer_phone=requester.get("phone"),
        customer_name=requester.get("name"),
        account_id=str(requester["external_id"]) if requester.get("external_id") else None,
        extra=_kept(ticket, "priority", "type", "organization_id", "group_id"),
        line=number,
    )


def freshdesk_record(ticket: dict[str, Any], where: str, number: int) -> InteractionRecord:
    """One interaction from a Freshdesk ticket (API v2 shape, ``conversations`` included).

    Raises:
        InputError: naming the ticket field that is missing or of the wrong type.
    """
    f = _Fields(ticket, where, number)
    ticket_id = f.record_id("ticket")

    def read(c: dict[str, Any]) -> tuple[str, str, str, Any] | None:
        if c.get("private"):
            return None
        role = "customer" if c.get("incoming") else "agent"
        return role, "", c.get("body_text") or c.get("body") or "", c.get("created_at")

    description = f.get("description_text") or strip_html(f.get("description") or "")
    lines, customer, _ = _turns(f.get("conversations", "list") or [], f, "conversations", read)
    requester = _obj(ticket.get("requester"))
    status = ticket.get("status")
    source = ticket.get("source")
    return InteractionRecord(
        external_id=ticket_id,
        subject=f.get("subject"),
        body="\n".join([f"Customer: {description}", *lines]) if lines else description,
        customer_turns=[description, *customer] if description or customer else None,
        channel=_FRESHDESK_SOURCE.get(source, "other")
        if isinstance(source, int)
        else normalise_channel(source or "other"),
        created_at=f.get("created_at", "date"),
        resolved_at=f.get("stats.resolved_at", "date") or f.get("stats.closed_at", "date"),
        status=_FRESHDESK_STATUS.get(status, str(status)) if status is not None else None,
        agent=str(ticket["responder_id"]) if ticket.get("responder_id") is not None else None,
        tags=[str(t) for t in f.get("tags", "list") or []],
        customer_email=requester.get("email") or f.get("email"),
        customer_phone=requester.get("phone") or requester.get("mobile") or f.get("phone"),
        customer_name=requester.get("name") or f.get("name"),
        account_id=str(ticket["company_id"]) if ticket.get("company_id") is not None else None,
        extra=_kept(ticket, "priority", "type", "group_id"),
        line=number,
    )


def intercom_record(conv: dict[str, Any], where: str, number: int) -> InteractionRecord:
    """One interaction from an Intercom conversation (REST API shape, parts included).

    Raises:
        InputError: naming the conversation field that is missing or of the wrong type.
    """
    f = _Fields(conv, where, number)
    conv_id = f.record_id("conversation")
    # API 2.x puts the opening message in ``source``; the older API in ``conversation_message``,
    # with the customer as ``user``.
    source = _obj(conv.get("source")) or _obj(conv.get("conversation_message"))
    author = _obj(source.get("author"))
    first = {
        "author": author,
        "body": source.get("body") or "",
        "created_at": conv.get("created_at"),
        "part_type": "comment",
    }
    parts_holder = conv.get("conversation_parts")
    parts = (
        parts_holder.get("conversation_parts") if isinstance(parts_holder, dict) else parts_holder
    )
    if parts is not None and not isinstance(parts, list):
        raise f.error("expected a list", "conversation_parts")

    def read(p: dict[str, Any]) -> tuple[str, str, str, Any] | None:
        if p.get("part_type") not in (None, "comment", "open") or not p.get("body"):
            return None  # notes, assignments and closes are not part of the conversation
        who = _obj(p.get("author"))
        role = "customer" if who.get("type") in _INTERCOM_PEOPLE else "agent"
        return role, who.get("name") or "", p["body"], p.get("created_at")

    lines, customer, agents = _turns([first, *(parts or [])], f, "conversation_parts", read)
    # The customer: the opening message's author when a person wrote it, else the first person
    # who replied in a part (a conversation an agent started), else the older API's ``user``.
    people = [_obj(p.get("author")) for p in parts or [] if isinstance(p, dict)]
    person = next((a for a in [author, *people] if a.get("type") in _INTERCOM_PEOPLE), {})
    user = _obj(conv.get("user"))
    if user.get("type") in _INTERCOM_PEOPLE and person.get("id") in (None, user.get("id")):
        person = {**user, **{k: v for k, v in person.items() if v}}  # the older API's user
    rating = _obj(conv.get("conversation_rating"))
    tags = conv.get("tags", {}).get("tags", []) if isinstance(conv.get("tags"), dict) else []
    stats = _obj(conv.get("statistics"))
    return InteractionRecord(
        external_id=conv_id,
        subject=strip_html(source["subject"])
        if isinstance(source.get("subject"), str) and source["subject"]
        else f.get("title"),
        body="\n".join(lines),
        # Only the customer's words count; when only agents wrote, there are none.
        customer_turns=customer,
        channel=normalise_channel(
            source.get("type")
            if source.get("type") in {"email", "phone", "twitter", "facebook"}
            else "chat"
        ),
        created_at=f.get("created_at", "date"),
        resolved_at=f.get("statistics.last_close_at", "date") if stats else None,
        status=f.get("state"),
        csat=f.get("conversation_rating.rating", "number") if rating else None,
        agent=agents[0] if agents else None,
        tags=[str(t.get("name")) for t in tags if isinstance(t, dict) and t.get("name")],
        customer_email=person.get("email") if isinstance(person.get("email"), str) else None,
        customer_name=person.get("name") if isinstance(person.get("name"), str) else None,
        account_id=str(person["user_id"]) if person.get("user_id") else None,
        extra={"parts": len(parts or []) + 1},
        line=number,
    )


def read_helpdesk(
    path: Path, fmt: str, encoding: str | None = None
) -> Iterator[InteractionRecord | Rejected]:
    """Interactions of a Zendesk, Freshdesk or Intercom export (JSON list, object or lines)."""
    where = str(path)
    users: dict[Any, dict[str, Any]] = {}
    if fmt == "zendesk":
        # Zendesk exports sideload users beside tickets; read them first to name requesters.
        import json

        try:
            with open_text(path, encoding) as fh:
                first = fh.read(1)
            data = None
            if first == "{":  # a list or JSON lines has no sideloaded users
                with open_text(path, encoding) as fh:
                    data = json.load(fh)
        except (ValueError, UnicodeDecodeError, RecursionError, OSError, EOFError):
            data = None  # iter_json_objects reports what is wrong, with a line number
        if isinstance(data, dict) and isinstance(data.get("users"), list):
            users = {_key(u.get("id")): u for u in data["users"] if isinstance(u, dict)}
    jsonl = path.name.lower().removesuffix(".gz").endswith((".jsonl", ".ndjson"))
    items = iter_json_objects(path, "jsonl" if jsonl else "json", encoding)
    for item in json_objects(items, where):
        if isinstance(item, Rejected):
            yield item
            continue
        number, obj = item
        if fmt == "zendesk" and obj.get("status") == "deleted":
            continue  # Zendesk's incremental export lists deleted tickets: no contact
        try:
            if fmt == "zendesk":
                yield zendesk_record(obj, users, where, number)
            elif fmt == "freshdesk":
                yield freshdesk_record(obj, where, number)
            else:
                yield intercom_record(obj, where, number)
        except InputError as exc:
            yield Rejected(exc, obj)
        except (TypeError, AttributeError, ValueError) as exc:
            # Pydantic and the shape checks above catch most wrong types; this names the rest.
            yield Rejected(
                InputError(f"unexpected shape: {exc}".splitlines()[0], path=where, line=number), obj
            )


def is_freshdesk_csv_header(names: list[str]) -> bool:
    """Whether a CSV header (column names as ``_norm`` writes them) is Freshdesk's export."""
    found = set(names)
    return {"ticket_id", "source"} <= found and len(found & _FRESHDESK_CSV_OWN) >= 2


def read_freshdesk_csv(
    path: Path,
    delimiter: str,
    mapping: Mapping[str, str] | None,
    encoding: str | None = None,
) -> Iterator[InteractionRecord | Rejected]:
    """Interactions of Freshdesk's ticket export as CSV (``FRESHDESK_CSV_COLUMNS``; the rest,
    such as ``Priority``, ``Type``, ``Group``, kept as extra fields)."""
    return read_csv(
        path, delimiter, mapping, encoding, known=FRESHDESK_CSV_COLUMNS, per_record_source=False
    )
