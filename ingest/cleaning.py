"""Cleaning contact text before any model reads it.

Removes what is about the medium, not the issue: HTML, quoted earlier replies, greetings,
sign-offs, signatures, mobile footers and legal disclaimers; then replaces personal data
(e-mail addresses, card numbers, IBANs, phone numbers) with typed placeholders.
``body_raw`` is kept untouched elsewhere; this module only produces ``body_clean``.
"""

from __future__ import annotations

import html
import re

__all__ = ["clean_text", "luhn_ok", "redact_pii", "strip_html"]

_TAG = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->", re.S | re.I)
_BREAK = re.compile(r"<\s*(br|/p|/div|/li|/tr|/h\d)\b[^>]*>", re.I)
_ANY_TAG = re.compile(r"<[^>]+>")

_QUOTE_HEADERS = [
    re.compile(r"^\s*On .{4,200}(wrote|schrieb|a écrit)\s*:\s*$", re.I | re.M),
    re.compile(r"^\s*-{2,}\s*(Original Message|Forwarded message)\s*-{2,}", re.I | re.M),
    re.compile(r"^\s*From:\s.+\n(\s*(Sent|Date):\s.+\n)?\s*(To|Subject):\s", re.I | re.M),
    re.compile(r"^_{10,}\s*$", re.M),
]
_SIGNOFF = re.compile(
    r"^\s*(best regards|kind regards|warm regards|regards|best wishes|best|cheers|thanks|"
    r"thank you|many thanks|thanks in advance|sincerely|yours sincerely|yours truly|br|"
    r"mit freundlichen grüßen|cordialement)\s*[,.!]*\s*$",
    re.I | re.M,
)
_SIG_DELIM = re.compile(r"^--\s*$", re.M)
_MOBILE = re.compile(
    r"^\s*(sent from my (iphone|ipad|android|samsung|mobile|galaxy|phone)[^\n]*|"
    r"get outlook for (ios|android)[^\n]*|sent from (mail|yahoo mail|outlook)[^\n]*)\s*$",
    re.I | re.M,
)
_DISCLAIMER = re.compile(
    r"^[^\n]*\b(this (e-?mail|message)( and any attachments)? (is|are|may be) "
    r"(confidential|intended)|confidentiality notice|disclaimer:|if you are not the intended "
    r"recipient|please consider the environment before printing)\b.*",
    re.I | re.M | re.S,
)
_GREETING = re.compile(
    r"^\s*(hi|hello|hey|dear|good (morning|afternoon|evening)|greetings|hiya|to whom it may "
    r"concern)\b[^\n.!?]{0,40}[,!.:]?\s*(\n|$)",
    re.I,
)
_TRACKING = re.compile(r"^\s*(\[?ref:[^\]\n]*\]?|ticket #?\d+ has been (created|updated).*)\s*$",
                       re.I | re.M)

_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(\.[\w-]+)+\b")
_URL = re.compile(r"\bhttps?://\S+", re.I)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){2,7}(?:\s?[A-Z0-9]{1,4})?\b")
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_PHONE = re.compile(r"(?<![\w])(?:\+|00)?\d[\d\s().-]{6,}\d\b")


def strip_html(text: str) -> str:
    """Turn HTML into plain text with line breaks where blocks ended."""
    if "<" not in text:
        return html.unescape(text)
    text = _TAG.sub(" ", text)
    text = _BREAK.sub("\n", text)
    text = _ANY_TAG.sub(" ", text)
    return html.unescape(text)


def luhn_ok(digits: str) -> bool:
    """True when ``digits`` passes the Luhn checksum used by payment cards."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return "[CARD]" if 13 <= len(digits) <= 19 and luhn_ok(digits) else match.group()


def _phone(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return "[PHONE]" if 7 <= len(digits) <= 15 else match.group()


def redact_pii(text: str) -> str:
    """Replace e-mail addresses, URLs with personal paths, IBANs, card and phone numbers."""
    text = _EMAIL.sub("[EMAIL]", text)
    text = _URL.sub("[URL]", text)
    text = _IBAN.sub("[IBAN]", text)
    text = _CARD.sub(_card, text)
    return _PHONE.sub(_phone, text)


def _cut_at_first(text: str, patterns: list[re.Pattern[str]]) -> str:
    cut = len(text)
    for pattern in patterns:
        m = pattern.search(text)
        if m and m.start() < cut:
            cut = m.start()
    return text[:cut]


def clean_text(text: str, *, redact: bool = True) -> str:
    """The part of a message a model should read, with personal data replaced.

    Args:
        text: the raw body (plain text or HTML).
        redact: replace personal data with placeholders such as ``[EMAIL]``.
    """
    text = strip_html(text).replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(line for line in text.split("\n") if not line.lstrip().startswith(">"))
    text = _cut_at_first(text, _QUOTE_HEADERS)
    text = _cut_at_first(text, [_SIG_DELIM, _MOBILE, _DISCLAIMER])
    m = _SIGNOFF.search(text)
    if m and m.start() > 0:
        text = text[: m.start()]
    text = _TRACKING.sub("", text)
    text = _GREETING.sub("", text, count=1)
    if redact:
        text = redact_pii(text)
    return re.sub(r"\s+", " ", text).strip()
