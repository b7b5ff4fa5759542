"""Chat transcripts: a JSON list of conversations, each a list of turns with role and time.

Accepted shapes (JSON list, JSON lines, or one object)::

    {"id": "c1", "customer": {"email": "a@b.c", "name": "Ann"}, "channel": "chat",
     "turns": [{"role": "customer", "text": "...", "time": "2026-01-01T10:00:00Z"},
               {"role": "agent", "name": "Bo", "text": "...", "time": "..."}]}

``turns`` may also be called ``messages`` or ``transcript``; a turn's role ``role``, ``author``,
``from``, ``sender`` or ``speaker``; its text ``text``, ``message``, ``body`` or ``content``.
A flat list of turns that each carry ``conversation_id`` is grouped by it. Customer turns
are what the theme is about; agent and bot turns are kept in ``body_raw`` for display.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rootline.errors import InputError
from rootline.ingest.convert import RATING_WORDS, convert_field, normalise_channel
from rootline.ingest.formats.tabular import iter_json_objects, json_objects
from rootline.ingest.schemas import InteractionRecord, Rejected

__all__ = ["CUSTOMER_ROLES", "conversation_record", "read_chat"]

CUSTOMER_ROLES = frozenset(
    {
        "customer",
        "user",
        "visitor",
        "end-user",
        "end_user",
        "enduser",
        "client",
        "contact",
        "lead",
        "guest",
        "caller",
        "requester",
    }
)
_AGENT_ROLES = frozenset(
    {
        "agent",
        "operator",
        "admin",
        "support",
        "staff",
        "rep",
        "representative",
        "human_agent",
        "teammate",
    }
)
_TURN_KEYS = ("turns", "messages", "transcript", "conversation", "parts", "history")
_ROLE_KEYS = ("role", "author_role", "author", "from", "sender", "speaker", "nick", "type")
_TEXT_KEYS = ("text", "message", "body", "content", "utterance", "msg")
_TIME_KEYS = ("time", "timestamp", "created_at", "sent_at", "date", "ts")


def _first(obj: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in obj and obj[key] not in (None, ""):
            return obj[key]
    return None


def _role(turn: dict[str, Any]) -> tuple[str, str | None]:
    """(customer|agent|bot, display name) of a turn."""
    value = _first(turn, _ROLE_KEYS)
    name = turn.get("name") or turn.get("author_name")
    if isinstance(value, dict):  # {"author": {"type": "user", "name": "Ann"}}
        name = name or value.get("name")
        value = value.get("role") or value.get("type")
    role = str(value or "").strip().lower()
    if ":" in role:  # Zendesk Chat's nick: "visitor:98765", "agent:361030"
        role = role.split(":", 1)[0]
    if role in CUSTOMER_ROLES:
        return "customer", name
    if role in _AGENT_ROLES:
        return "agent", name
    return (
        "bot" if role in {"bot", "system", "assistant", "automation"} else role or "unknown"
    ), name


def conversation_record(conv: dict[str, Any], where: str, number: int) -> InteractionRecord:
    """One interaction from a chat conversation object.

    Raises:
        InputError: naming the field that is missing or of the wrong type.
    """

    def bad(reason: str, fld: str) -> InputError:
        return InputError(reason, path=where, line=number, field=fld)

    turns = _first(conv, _TURN_KEYS)
    message = conv.get("message")
    if turns is None and isinstance(message, str) and message.strip():
        # A message left while nobody was there (Zendesk Chat's offline_msg): one customer turn.
        turns = [{"role": "customer", "text": message, "time": conv.get("timestamp")}]
    if not isinstance(turns, list) or not turns:
        raise bad("expected a non-empty list of turns", "turns")
    lines, customer_turns, agents = [], [], []
    started = None
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise bad(f"turn {i + 1} is not an object", "turns")
        text = _first(turn, _TEXT_KEYS)
        if text is None:
            continue
        if not isinstance(text, str):
            raise bad(f"turn {i + 1}: expected text, found {type(text).__name__}", "turns.text")
        role, name = _role(turn)
        stamp = _first(turn, _TIME_KEYS)
        if stamp is not None:
            try:
                when = convert_field("created_at", stamp)
            except ValueError as exc:
                raise bad(f"turn {i + 1}: {exc}", "turns.time") from None
            started = started or when
            stamp = when.isoformat() if when else stamp
        label = f"{role.capitalize()}{f' ({name})' if name else ''}"
        lines.append(f"[{stamp}] {label}: {text}" if stamp is not None else f"{label}: {text}")
        if role == "customer":
            customer_turns.append(text)
        elif role == "agent" and name:
            agents.append(str(name))
    comment = conv.get("comment")
    if isinstance(comment, str) and comment.strip():
        # The customer's own words after the chat (Zendesk Chat's post-chat comment).
        lines.append(f"Customer (comment after the chat): {comment}")
        customer_turns.append(comment)
    if not customer_turns:
        raise bad("no customer turn: no turn has a customer role", "turns.role")
    customer = conv.get("customer") or conv.get("user") or conv.get("visitor") or {}
    if not isinstance(customer, dict):
        customer = {"email" if "@" in str(customer) else "id": str(customer)}
    conv_id = _first(conv, ("id", "conversation_id", "chat_id", "session_id"))
    if conv_id is None or isinstance(conv_id, (dict, list, bool)):
        raise bad("missing conversation id", "id")
    try:
        created = convert_field(
            "created_at", _first(conv, ("created_at", "started_at", "start_time", "timestamp"))
        )
        rating = _first(conv, ("csat", "rating", "satisfaction"))
        if isinstance(rating, str) and rating.strip().lower() in RATING_WORDS:
            rating = RATING_WORDS[rating.strip().lower()]
        csat = convert_field("csat", rating)
    except ValueError as exc:
        raise bad(str(exc), "created_at/csat") from None
    return InteractionRecord(
        external_id=str(conv_id),
        subject=conv.get("subject") if isinstance(conv.get("subject"), str) else None,
        body="\n".join(lines),
        customer_turns=customer_turns,
        channel=normalise_channel(conv.get("channel") or "chat"),
        created_at=created or started,
        csat=csat,
        status=str(conv["status"]) if isinstance(conv.get("status"), str) else None,
        agent=agents[0] if agents else None,
        customer_email=_text(_first(customer, ("email", "email_address")))
        or _text(conv.get("customer_email")),
        customer_phone=_text(_first(customer, ("phone", "phone_number"))),
        account_id=_text(_first(customer, ("account_id", "customer_id", "id")))
        or _text(conv.get("account_id")),
        customer_name=_text(customer.get("name")),
        tags=[str(t) for t in conv.get("tags") or [] if isinstance(t, (str, int))],
        extra={
            "turns": len(turns),
            "agent_turns": sum(1 for t in turns if isinstance(t, dict) and _role(t)[0] == "agent"),
            **{k: v for k, v in conv.items() if k in {"intent", "topic", "queue", "language"}},
            **{
                name: conv[key]
                for key, name in (("department_name", "department"), ("department", "department"))
                if isinstance(conv.get(key), str)
            },
            **(
                {"ticket_id": conv["zendesk_ticket_id"]}
                if isinstance(conv.get("zendesk_ticket_id"), (int, str))
                else {}
            ),
        },
        line=number,
    )


def _text(value: Any) -> str | None:
    return (
        str(value).strip() or None
        if isinstance(value, (str, int)) and not isinstance(value, bool)
        else None
    )


def read_chat(
    path: Path, fmt: str = "json", encoding: str | None = None
) -> Iterator[InteractionRecord | Rejected]:
    """Interactions from a chat transcript export."""
    where = str(path)
    found = iter_json_objects(path, fmt, encoding)
    items = list(found) if fmt == "json" else found
    if (
        isinstance(items, list)
        and items
        and all(
            isinstance(obj, dict)
            and "conversation_id" in obj
            and _first(obj, _TEXT_KEYS) is not None
            for _, obj in items[:20]
        )
    ):
        # A flat list of turns: group them into conversations, keeping the file order.
        grouped: dict[str, dict[str, Any]] = {}
        for number, turn in items:
            if not isinstance(turn, dict):
                yield Rejected(InputError("expected a JSON object", path=where, line=number), turn)
                continue
            conv = grouped.setdefault(
                str(turn.get("conversation_id")),
                {
                    "id": turn.get("conversation_id"),
                    "turns": [],
                    "_line": number,
                    "customer": {k: turn[k] for k in ("email", "phone", "name") if k in turn},
                },
            )
            conv["turns"].append(turn)
        items = [(conv.pop("_line"), conv) for conv in grouped.values()]
    for item in json_objects(items, where):
        if isinstance(item, Rejected):
            yield item
            continue
        number, conv = item
        try:
            yield conversation_record(conv, where, number)
        except InputError as exc:
            yield Rejected(exc, conv)
