"""Cleaning contact text before any model reads it.

Removes what is about the medium, not the issue: HTML, quoted earlier replies, greetings,
pleasantries, sign-offs, signatures, mobile footers, legal disclaimers and help-desk tracking
lines; then replaces personal data (e-mail addresses, card numbers, IBANs, phone numbers, ...)
with typed placeholders. ``body_raw`` is kept untouched elsewhere; this module only produces
``body_clean``.

The work is line based: a message is cut at the first line that starts quoted history or a
footer, a web-form dump or pasted chat is reduced to the customer's words (``forms``), then
greeting lines are dropped from the top and signature lines from the bottom.
"""

from __future__ import annotations

import html
import re

from rootline.ingest.forms import form_message, form_subject_topic

__all__ = [
    "PLACEHOLDERS",
    "clean_subject",
    "clean_text",
    "drop_signature",
    "form_message",
    "form_subject_topic",
    "iban_ok",
    "luhn_ok",
    "redact_pii",
    "strip_html",
]

#: Every placeholder personal data may be replaced with.
PLACEHOLDERS = ("[EMAIL]", "[URL]", "[IBAN]", "[CARD]", "[SSN]", "[IP]", "[PHONE]")

# --- HTML ------------------------------------------------------------------------------------
_DROP_BLOCKS = re.compile(
    r"<(script|style|head|title)\b.*?</\1\s*>|<!--.*?-->"
    # Quoted history as mail clients mark it up: a blockquote or Gmail's quote container.
    r"|<blockquote\b.*?</blockquote\s*>",
    re.S | re.I,
)
_QUOTE_DIV = re.compile(
    r"<div[^>]*class=\"?[^\">]*(gmail_quote|moz-cite|OutlookMessageHeader)", re.I
)
_BREAK = re.compile(r"<\s*(br|/?p|/div|/li|/tr|/h\d|/table|hr)\b[^>]*>", re.I)
_ANY_TAG = re.compile(r"<[^>]*>")

# --- lines that start quoted history or a footer: cut there ------------------------------------
_CUT_LINE = re.compile(
    r"^[ \t]*(?:"
    r"On\b.{0,250}?\b(?:wrote|said|writes)\s*:"  # Gmail, Apple Mail
    r"|(?:Le|El|Il|Op|Am)\b.{0,250}?\b(?:a écrit|escribió|ha scritto|schreef|schrieb)\s*:"
    # Any other line that introduces a quote: "Yesterday at 15:02, NAME wrote:", and the
    # localised forms that put the sender after the verb ("Am ... schrieb NAME <mail>:").
    r"|[^\n]{0,250}\b(?:wrote|writes)\s*:[ \t]*$"
    r"|(?:Le|El|Il|Op|Am)\b[^\n]{0,250}\b(?:a écrit|escribió|ha scritto|schreef|schrieb)\b"
    r"[^\n]{0,200}:[ \t]*$"
    r"|-{2,}\s*(?:Original Message|Forwarded message|Original|Ursprüngliche Nachricht)\b"
    r"|Begin forwarded message:"
    r"|(?:From|Von|De)\s*:[^\n]*\n[ \t]*(?:Sent|Date|Gesendet|Envoyé|To|Subject)\s*:"  # Outlook
    r"|_{8,}\s*$"  # Outlook's rule above the header
    r"|-- ?$"  # signature delimiter
    r"|Sent from my\b|Sent from (?:Mail|Yahoo|Outlook|Gmail)\b|Get Outlook for\b|Sent via\b"
    r"|Sent with (?:BlackBerry|Proton)|Envoyé de mon|Von meinem .{0,30} gesendet"
    r"|(?:CONFIDENTIAL(?:ITY)?(?: NOTICE)?|DISCLAIMER|LEGAL NOTICE|PRIVILEGED)\b"
    r"|This (?:e-?mail|message|communication)(?: and any (?:files|attachments)[^.\n]{0,40})?"
    r" (?:is|are|may|contains?)\b[^\n]{0,80}\b(?:confidential|privileged|intended)"
    r"|The information (?:contained )?in this (?:e-?mail|message)"
    r"|If you (?:are not|have received this)\b[^\n]{0,60}\b(?:intended recipient|in error)"
    r"|Please consider the environment before printing"
    r"|[^\n]{0,80}\bis registered in (?:England|Scotland|Ireland|Wales|the)\b"
    r"|Registered (?:office|in England)\b|Company (?:registration )?(?:number|no\.?)\s*:?\s*\d"
    r"|(?:To )?unsubscribe\b|View (?:this e-?mail|it) in your browser"
    r"|##- Please type your reply above this line -##"
    r")",
    re.I | re.M,
)

# A forwarded message starts with the forwarding header; the customer's words come after it.
_FORWARD_HEAD = re.compile(
    r"\A\s*(?:"
    r"(?:-{2,}\s*Forwarded message\s*-*|Begin forwarded message:|-{2,}\s*Original Message\s*-*)"
    r"[ \t]*\n"
    r"|(?=(?:From|Von|De)\s*:[^\n]*\n[ \t]*(?:Sent|Date|Gesendet|Envoyé)\s*:)"
    r")"
    r"(?:[ \t]*(?:From|Date|Sent|Subject|To|Cc|Von|Gesendet|An|Betreff|De|Envoyé|À|Objet)"
    r"\s*:[^\n]*\n|[ \t]*\n)*",
    re.I,
)

# --- greetings, pleasantries, sign-offs ---------------------------------------------------------
_GREETING = re.compile(
    r"^\s*(?:hi|hello|hey|heya|hiya|howdy|dear|greetings|good (?:morning|afternoon|evening|day)"
    r"|to whom it may concern|hallo|bonjour|hola)\b[^\n.!?:]{0,60}?(?:[,!.:]+|\s*$|\s*\n)\s*",
    re.I,
)
_PLEASANTRY = re.compile(
    r"(?:^|(?<=[.!?]\s))\s*(?:"
    r"I hope (?:this|you)[^.!?\n]{0,60}[.!?]?"
    r"|Hope (?:this|you|all|everything)[^.!?\n]{0,60}[.!?]?"
    # Thanks ends its own sentence ("Thanks!", "Thanks for your help."); "Thanks again :)" is
    # the customer's sentence and stays.
    r"|(?:Many )?thanks(?: a lot| so much)?(?: in advance)?(?: for[^.!?\n]{0,60})?"
    r"(?:[.!?]+|(?=[ \t]*$))"
    r"|Thank you(?: (?:so|very) much)?(?: in advance)?(?: for[^.!?\n]{0,60})?"
    r"(?:[.!?]+|(?=[ \t]*$))"
    r"|(?:I )?look(?:ing)? forward to[^.!?\n]{0,60}[.!?]?"
    r"|(?:Any|Your) (?:help|assistance|advice)[^.!?\n]{0,40}(?:appreciated|welcome)[.!?]*"
    r"|Please (?:advise|let me know|help)[.!?]+"
    r"|Let me know if you need[^.!?\n]{0,60}[.!?]?"
    r"|Sorry (?:to bother you|for the (?:trouble|inconvenience))[^.!?\n]{0,30}[.!?]?"
    r")\s*(?=$|\n|[A-Z\[])",
    re.I | re.M,
)
_SIGNOFF_WORDS = (
    r"(?:best|kind|warm|warmest|many|with (?:best|kind)) (?:regards|wishes|thanks)|regards"
    r"|best|cheers|thanks(?: again| so much| a lot| in advance)?|thank you(?: (?:so|very) much)?"
    r"|many thanks|thx|ty|sincerely|yours (?:sincerely|truly|faithfully)|respectfully"
    r"|all the best|take care|talk soon|br|kr|rgds|mfg|mit freundlichen grüßen|viele grüße"
    r"|cordialement|bien à vous|saludos|un saludo|atentamente|grazie|merci"
)
_SIGNOFF_LINE = re.compile(rf"^\s*(?:{_SIGNOFF_WORDS})\s*[,.!\-–]*\s*$", re.I)
# A sign-off that shares its line with the name: "Thanks, Anna" or "Best regards - J. Smith".
_SIGNOFF_INLINE = re.compile(
    rf"(?:^|(?<=[.!?])\s+|\n)\s*(?:{_SIGNOFF_WORDS})\s*[,.!\-–]+\s*[^\n.!?]{{0,40}}$", re.I
)

# --- signature lines at the bottom ------------------------------------------------------------
_CONTACT_LINE = re.compile(
    r"^\s*(?:(?:tel|phone|mobile|mob|cell|fax|direct|office|t|m|p|f|e|w|ph)\.?\s*[:.]?\s*[+(\d]"
    r"|[a-z]{1,8}\s*:\s*[\w.+-]+@|e-?mail\s*:|web(?:site)?\s*:|www\.|https?://"
    r"|\+?\(?\d[\d\s().-]{6,}\d\s*$|[\w.+-]+@[\w-]+\.[\w.-]+\s*$|\[(?:EMAIL|PHONE|URL)\]\s*$"
    r")",
    re.I,
)
# Short lines of a signature block: a street address, a job title, a company, a name.
_SHORT_SIG_LINE = re.compile(
    r"^\s*(?:\d{1,5}[a-z]?,?\s+\S"
    r"|[^\n]*\b(?:ceo|cto|cfo|coo|vp|head of|manager|director|engineer|assistant|consultant"
    r"|founder|owner|coordinator|specialist|analyst|officer|lead|supervisor|administrator"
    r"|executive|president|partner|associate)\b"
    r"|[^\n]*\b(?:ltd|llc|llp|inc|gmbh|bv|plc|corp|co|ag|sa|sarl|pty)\b\.?\s*$"
    r")",
    re.I,
)
_ABBREVIATION_END = re.compile(r"\b(?:inc|ltd|co|corp|jr|sr|dr|st|ave|rd)\.$", re.I)
_NAME_LINE = re.compile(
    r"^\s*[A-Z][\w.'&-]*(?:\s+(?:[A-Z&|][\w.'&-]*|of|and|de|van|von)){0,5},?\s*$"
)
_TRACKING = re.compile(
    r"\[?\bref:[^\]\n]*\]?|\bticket #?\d+ has been (?:created|updated|received)[^\n]*"
    r"|\byour (?:request|ticket|case) \(?#?\d+\)? has been [^\n]*"
    r"|\bcase number:?\s*\d+\b|\[(?:ticket|case|req)\s*#?\s*\d+\]",
    re.I,
)
# "You can reach me on +44 ...": contact details, not the issue.
_CALLBACK = re.compile(
    r"(?:\b(?:you can|you may|please|feel free to)\s+)?\b(?:reach|call|contact|text|ring|phone)"
    r"\s+me\b(?:\s+back)?(?:\s+(?:on|at|via|under))?\s*:?\s*"
    r"(?:\[PHONE\]|\+?[\d(][\d\s().\-/]{5,}\d)[^.!?\n]{0,30}[.!?]?"
    r"|\bmy (?:phone |mobile |cell )?(?:number|no\.?) is\s*"
    r"(?:\[PHONE\]|\+?[\d(][\d\s().\-/]{5,}\d)[.!?]?",
    re.I,
)
# Substrings without which the pattern cannot match: a cheap test before the costly search.
_PLEASANTRY_HINTS = (
    "hope",
    "thank",
    "look",
    "help",
    "assistance",
    "advice",
    "advise",
    "let me know",
    "sorry",
)
_SIGNOFF_HINTS = (
    "regard",
    "best",
    "wish",
    "cheers",
    "thank",
    "thx",
    "ty",
    "sincerely",
    "yours",
    "respectfully",
    "care",
    "soon",
    "br",
    "kr",
    "rgds",
    "mfg",
    "grüß",
    "cordialement",
    "bien",
    "saludo",
    "atentamente",
    "grazie",
    "merci",
)
_CALLBACK_HINTS = ("reach me", "call me", "contact me", "text me", "ring me", "phone me")
_TRACKING_HINTS = ("ref:", "ticket", "request", "case", "[")
# One search for any of the hints beats a Python loop over them on the hot path.
_PLEASANTRY_HINT = re.compile("|".join(map(re.escape, _PLEASANTRY_HINTS)))
_SIGNOFF_HINT = re.compile("|".join(map(re.escape, _SIGNOFF_HINTS)))
_TRACKING_HINT = re.compile("|".join(map(re.escape, _TRACKING_HINTS)))
_CALLBACK_HINT = re.compile("|".join(map(re.escape, _CALLBACK_HINTS)))
_SUBJECT_PREFIX = re.compile(r"^\s*(?:(?:re|fw|fwd|aw|wg|tr|sv|vs)\s*(?:\[\d+\])?\s*:\s*)+", re.I)

# --- personal data ----------------------------------------------------------------------------
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.I)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b")
_CARD = re.compile(r"(?<!\w[-/])\b\d(?:[ -]?\d){12,18}\b")
_SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
_IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
# A digit run glued to a letter prefix ("BC-10483921", "X/1234567-B") or after "#" is an order,
# ticket or part id, not a phone number.
_PHONE = re.compile(
    r"(?<![\w+#])(?<!\w[-/])(?:\+|00|\()?\d(?:[\s.()\-/]{0,2}\d){6,16}(?!\w|[-/][A-Za-z])"
    r"|\+\d{1,3}[\s(]"
)
_NON_DIGIT = re.compile(r"\D")
# 29/11/2015, 2015-11-29, 29.11.2015: a date, not a phone number.
_DATE_LIKE = re.compile(
    r"\d{1,2}[/.\-]\d{1,2}[/.\-](?:\d{4}|\d{2})|\d{4}[/.\-]\d{1,2}[/.\-]\d{1,2}"
)
_SPACES = re.compile(r"\s+")
_LINE_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\s*\n\s*")
_UPPER_PAIR = re.compile(r"[A-Z]{2}\d{2}")
_NEEDS_PII_SCAN = re.compile(r"[@\d]|www\.|https?:", re.I)


def strip_html(text: str) -> str:
    """Turn HTML into plain text with line breaks where blocks ended; quoted history dropped."""
    if "<" not in text:
        return html.unescape(text) if "&" in text else text
    m = _QUOTE_DIV.search(text)
    if m:
        text = text[: m.start()]
    text = _DROP_BLOCKS.sub(" ", text)
    text = _BREAK.sub("\n", text)
    text = _ANY_TAG.sub(" ", text)
    return html.unescape(text).replace("\xa0", " ")


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


def iban_ok(iban: str) -> bool:
    """True when ``iban`` (spaces allowed) passes the ISO 13616 mod-97 check."""
    compact = iban.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not compact.isalnum():
        return False
    moved = compact[4:] + compact[:4]
    try:
        return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1
    except ValueError:
        return False


def _card(match: re.Match[str]) -> str:
    digits = _NON_DIGIT.sub("", match.group())
    return "[CARD]" if 13 <= len(digits) <= 19 and luhn_ok(digits) else match.group()


def _iban(match: re.Match[str]) -> str:
    return "[IBAN]" if iban_ok(match.group()) else match.group()


def _phone(match: re.Match[str]) -> str:
    text = match.group()
    digits = _NON_DIGIT.sub("", text)
    if text.endswith(("(", " ")):  # a bare country prefix like "+44 (": the rest follows
        return "[PHONE] "
    # Dates and plain amounts look like digit runs too; a phone has 7-15 digits.
    if not 7 <= len(digits) <= 15 or _DATE_LIKE.fullmatch(text.strip()):
        return text
    # A bare run of ten digits starting with 1 is a Unix time (2001-2033), never a phone:
    # national numbers start with 0 and North American area codes never with 1.
    if text.isdigit() and len(text) == 10 and text[0] == "1":
        return text
    return "[PHONE]"


def redact_pii(text: str) -> str:
    """Replace e-mail addresses, URLs, IBANs, card, social security and phone numbers, IPs."""
    if not _NEEDS_PII_SCAN.search(text):
        return text
    # Each pattern runs only when the cheap test says it could match: this is the hot path
    # of a million-row ingest.
    if "@" in text:
        text = _EMAIL.sub("[EMAIL]", text)
    if "http" in text or "www." in text or "HTTP" in text or "WWW." in text:
        text = _URL.sub("[URL]", text)
    digits = sum(map(str.isdigit, text)) if len(text) < 2000 else 99
    if digits >= 7:
        if _UPPER_PAIR.search(text):
            text = _IBAN.sub(_iban, text)
        if digits >= 13:
            text = _CARD.sub(_card, text)
        if "-" in text:
            text = _SSN.sub("[SSN]", text)
        if "." in text:
            text = _IPV4.sub("[IP]", text)
        text = _PHONE.sub(_phone, text)
    elif "+" in text:
        text = _PHONE.sub(_phone, text)
    return text.replace("[PHONE] [PHONE]", "[PHONE]")


def clean_subject(subject: str) -> str:
    """A subject without reply/forward prefixes and ticket tags."""
    subject = _SUBJECT_PREFIX.sub("", subject) if ":" in subject else subject
    if _TRACKING_HINT.search(subject.lower()):
        subject = _TRACKING.sub("", subject)
    return subject.strip()


def drop_signature(lines: list[str]) -> list[str]:
    """Drop a sign-off and what follows it, or a trailing block of contact lines."""
    # A sign-off line ends the message; keep looking only in the later part so a "Thanks"
    # opening the message does not erase it.
    for i in range(len(lines) - 1, 0, -1):
        if _SIGNOFF_LINE.match(lines[i]):
            tail = [t for t in lines[i + 1 :] if t.strip()]
            if len(tail) <= 8:
                return lines[:i]
    while len(lines) > 1 and _is_signature_line(lines[-1]):
        lines = lines[:-1]
    return lines


def _is_signature_line(line: str) -> bool:
    text = line.strip()
    if not text or _CONTACT_LINE.match(text):
        return True
    # A sentence of the message is longer, or ends like a sentence.
    if len(text.split()) > 10 or text.endswith(("?", "!")):
        return False
    if text.endswith(".") and not _ABBREVIATION_END.search(text):
        return False
    return bool(_SHORT_SIG_LINE.match(text) or _NAME_LINE.match(text))


def clean_text(text: str, *, redact: bool = True) -> str:
    """The part of a message a model should read, with personal data replaced.

    Args:
        text: the raw body (plain text or HTML).
        redact: replace personal data with placeholders such as ``[EMAIL]``.

    Returns:
        The text's lines, each with its whitespace collapsed, blank lines dropped (a line break
        still ends a sentence the customer did not punctuate); empty when nothing of the issue
        is left.
    """
    text = strip_html(text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\n" in text:
        head = _FORWARD_HEAD.match(text)
        if head and head.end() < len(text):
            text = text[head.end() :]
    if "\n" in text or len(text) > 200:
        m = _CUT_LINE.search(text)
        if m and m.start() > 0:
            text = text[: m.start()]
    if ":" in text:
        # A web-form dump or a pasted chat: only the customer's words go on.
        form = form_message(text)
        if form is not None:
            text = form
    if "\n" in text:
        lines = [ln for ln in text.split("\n") if not ln.lstrip().startswith(">")]
        lines = drop_signature(lines)
        text = "\n".join(lines)
    issue = text
    text = _GREETING.sub("", text, count=1)
    low = text.lower()
    if _PLEASANTRY_HINT.search(low):
        text = _PLEASANTRY.sub(" ", text)
    if len(text) > 40 and _SIGNOFF_HINT.search(low, len(low) - 90):
        text = _SIGNOFF_INLINE.sub("", text)
    if _TRACKING_HINT.search(low):
        text = _TRACKING.sub("", text)
    if " me " in low and _CALLBACK_HINT.search(low):
        text = _CALLBACK.sub("", text)
    if not text.strip():
        # The whole message was a courtesy ("Thank you!"): that is what it is about.
        text = issue
    if redact:
        text = redact_pii(text)
    if "\n" not in text:
        return _SPACES.sub(" ", text).strip()
    return _BLANK_LINES.sub("\n", _LINE_SPACES.sub(" ", text)).strip()
