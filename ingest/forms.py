"""Web-form dumps and pasted chat transcripts: keep the customer's own words.

A contact form arrives as scaffolding around the message: "Contact form: Delivery",
"Name: ...", "Email: ...", "Order number: BC-...", "Topic: ...", "Message: <the text>". The
labels, the identifiers and the chosen topic are the same for thousands of unrelated contacts,
so they pull them together in embedding space. :func:`form_message` reduces such a dump to its
free text; the topic only when nothing else is left. A transcript pasted as one body
("Customer: ... / Agent (Sam): ...") is reduced to the customer's turns the same way.

Fields are recognised by a vocabulary of common form labels, one per line or run together on
one line as flattening exports do; a body needs two known fields (or a form header) to count.
"""

from __future__ import annotations

import re

__all__ = ["form_message", "form_subject_topic"]

# What the customer wrote.
_MESSAGE = (
    r"(?:your |additional |customer )?(?:message|comments?|description|details|enquiry|inquiry"
    r"|question|request|feedback|query|issue|problem|notes?)"
    r"(?: (?:details|description|text|body))?"
    r"|how can we help(?: you)?(?: today)?\??|what can we help (?:you )?with\??"
    r"|tell us (?:more|about (?:it|the (?:issue|problem)))|what happened\??"
)
# What it is about, chosen from a list: kept only when there is no message.
_TOPIC = (
    r"topic|subject|title|category|department|regarding|product|service"
    r"|(?:contact |enquiry |inquiry )?reason(?: for (?:contact(?:ing us)?|enquiry|inquiry))?"
    r"|(?:enquiry|inquiry|issue|request|query|contact) type|type of (?:enquiry|inquiry|issue|request)"
    r"|nature of (?:enquiry|inquiry)"
)
# Who, where, which order: identifiers and personal data, never what the contact is about.
_DATA = (
    r"(?:first |last |full |your |customer |contact |company |business )?name|surname"
    r"|(?:your |customer |contact )?e-?mail(?: address)?|(?:your )?(?:tele)?phone(?: number| no\.?)?"
    r"|tel|mobile(?: number| no\.?)?|contact (?:number|details)"
    r"|(?:your )?order(?: number| no\.?| id| #| ref(?:erence)?)?|order reference"
    r"|(?:customer |member(?:ship)? |loyalty |card )?(?:account|customer|member(?:ship)?|card)"
    r"(?: number| no\.?| id)"
    r"|account|reference(?: number| no\.?)?|ticket(?: number| no\.?| id)?|case(?: number| id)?"
    r"|tracking(?: number| no\.?| code)?|invoice(?: number| no\.?)?"
    r"|(?:street |postal |billing |delivery |shipping )?address(?: line \d)?|post ?code|zip(?: code)?"
    r"|city|town|county|state|country|company|organi[sz]ation|date(?: of (?:order|purchase|birth))?"
    r"|preferred (?:contact method|time)|submitted(?: at| on)?|page(?: url)?"
    r"|url|ip(?: address)?|browser|device|platform|app version|attachments?|consent|language"
    r"|form(?: id| name)?|source"
)
_LABEL_END = r"[ \t]*[*_]*[ \t]*[:：][*_]*"
_FIELD = re.compile(
    rf"^[ \t]*[*_]*(?:(?P<message>{_MESSAGE})|(?P<topic>{_TOPIC})|(?P<data>{_DATA}))"
    rf"{_LABEL_END}[ \t]*(?P<value>.*)$",
    re.I,
)
# "Contact form: Delivery", "New web form submission - Returns", "Website enquiry".
_HEADER = re.compile(
    r"^[ \t]*(?:new )?(?:(?:contact|web|website|online|support|help|feedback|enquiry|inquiry)"
    r"[ -]?(?:us )?form(?: submission| entry| enquiry| inquiry| message)?"
    r"|(?:new )?(?:form )?submission(?: from [^:\n]{1,40})?|website (?:enquiry|inquiry|message))"
    r"\b[ \t]*(?:[:\-–|][ \t]*(?P<value>.*))?$",
    re.I,
)
_CUSTOMER = r"customer|client|visitor|user|guest|caller|member|shopper|me"
_AGENT = (
    r"agent|support|advisor|adviser|rep|representative|operator|assistant|virtual assistant"
    r"|bot|chatbot|system|staff|team|host"
)
_SPEAKER = re.compile(
    rf"^[ \t]*(?:\[[^\]\n]{{1,25}}\][ \t]*)?(?:(?P<customer>{_CUSTOMER})|(?P<agent>{_AGENT}))\b"
    rf"(?:[ \t]*\([^)\n]{{0,40}}\))?{_LABEL_END}[ \t]*(?P<value>.*)$",
    re.I,
)
# Where a second field or speaker starts inside one flattened line: a capitalised label after
# a space. Capitals keep prose like "my order: it never came" from being split.
_INLINE_FIELD = re.compile(
    rf"(?<=\S)[ \t]+(?=(?=[A-Z])(?i:{_TOPIC}|{_DATA}|{_MESSAGE}){_LABEL_END})"
)
_INLINE_SPEAKER = re.compile(
    rf"(?<=\S)[ \t]+(?=(?:\[[^\]\n]{{1,25}}\][ \t]*)?(?=[A-Z])(?i:{_CUSTOMER}|{_AGENT})\b(?:[ \t]*\([^)\n]{{0,40}}\))?{_LABEL_END})"
)
_STARTS_MESSAGE = re.compile(rf"[ \t]*[*_]*(?:{_MESSAGE}){_LABEL_END}", re.I)
_SENTENCE = re.compile(r"[.!?]$|(?:\S+\s+){4}\S")
_ACKNOWLEDGEMENT = re.compile(
    r"^(?:\W*\b(?:ok(?:ay)?|k|thanks?|thank you|thx|ty|ta|cheers|great|perfect|cool|fine|sure"
    r"|yes|yep|yeah|no|nope|bye|goodbye|lovely|brilliant|got it|will do|sounds good|much"
    r"|appreciated|so|very)\b)+\W*$",
    re.I,
)


def _split_inline(line: str, splitter: re.Pattern[str]) -> list[str]:
    """Break a flattened "A: x B: y Message: z" line at its labels; never inside a message."""
    parts: list[str] = []
    rest = line
    while True:
        m = splitter.search(rest)
        if m is None:
            parts.append(rest)
            return parts
        parts.append(rest[: m.start()])
        rest = rest[m.end() :]
        if splitter is _INLINE_FIELD and _STARTS_MESSAGE.match(rest):
            parts.append(rest)
            return parts


def form_message(text: str) -> str | None:
    """The customer's words of a web-form dump or pasted transcript, or None when it is neither.

    Args:
        text: plain text (HTML already stripped), lines separated by ``\\n``.

    Returns:
        The message (free-text fields and unlabelled lines, in order); the topic when the form
        has no free text; ``""`` when the form holds only identifiers; ``None`` when ``text``
        does not look like a form or transcript, so the caller keeps it as it is.
    """
    if ":" not in text:
        return None
    lines = text.split("\n")
    transcript = _transcript(lines)
    if transcript is not None:
        return transcript
    return _form(lines)


def _form(lines: list[str]) -> str | None:
    expanded: list[str] = []
    for line in lines:
        if _FIELD.match(line) or _HEADER.match(line):
            expanded += _split_inline(line, _INLINE_FIELD)
        else:
            expanded.append(line)
    kinds: list[tuple[str, str]] = []
    fields = 0
    for line in expanded:
        head = _HEADER.match(line) if not kinds else None
        if head:
            kinds.append(("header", head.group("value") or ""))
        elif m := _FIELD.match(line):
            fields += 1
            kind = "message" if m.group("message") else "topic" if m.group("topic") else "data"
            kinds.append((kind, m.group("value")))
        elif line.strip() or kinds:
            kinds.append(("text", line))
    if fields < 2 and not (kinds and kinds[0][0] == "header"):
        return None
    words: list[str] = []
    topics: list[str] = []
    current = "text"
    for kind, value in kinds:
        value = value.strip()
        if kind != "text":
            current = kind
        if kind in ("header", "topic"):
            topics.append(value)
        elif not value:
            continue
        elif current in ("text", "message", "header") or (
            kind == "text" and _SENTENCE.search(value)
        ):
            # A sentence after an identifier is the message going on, not a wrapped address.
            words.append(value)
    if words:
        return "\n".join(words)
    return ". ".join(dict.fromkeys(t for t in topics if t))


def _transcript(lines: list[str]) -> str | None:
    if not _SPEAKER.match(next((ln for ln in lines if ln.strip()), "")):
        return None
    turns: list[tuple[bool, str]] = []
    for line in lines:
        m = _SPEAKER.match(line)
        if m is None:
            if turns:
                who, said = turns[-1]
                turns[-1] = (who, f"{said}\n{line}")
            continue
        while m is not None:  # a flattened line holds several turns
            value = m.group("value")
            cut = _INLINE_SPEAKER.search(value)
            turns.append((bool(m.group("customer")), value[: cut.start()] if cut else value))
            m = _SPEAKER.match(value[cut.end() :]) if cut else None
    if not any(who for who, _ in turns) or all(who for who, _ in turns):
        return None
    words: list[str] = []
    agent_spoke = False
    for who, said in turns:
        if not who:
            agent_spoke = True
        # "ok", "thanks!" after the agent answered say nothing about the issue.
        elif said.strip() and not (agent_spoke and _ACKNOWLEDGEMENT.match(said.strip())):
            words.append(said.strip())
    return "\n".join(words)


def form_subject_topic(subject: str) -> str | None:
    """The topic of a form-generated subject ("Contact form: Delivery" gives "Delivery").

    Returns None when ``subject`` is not a form header.
    """
    m = _HEADER.match(subject)
    return (m.group("value") or "").strip() if m else None
