"""Text from bytes in the charset they claim, read as mail clients and browsers read it.

Senders mislabel charsets in a few well-known ways, and clients long ago agreed how to read
them (the WHATWG Encoding Standard): ISO-8859-1 and ASCII mean Windows-1252, GB2312 means
GBK (read as its superset GB18030), EUC-KR means Windows-949, Shift_JIS means Windows-31J.
Reading by the label's superset gets these right with no guessing.

When the bytes still do not fit the label, a few bad bytes among good text (a truncated
character, one byte of another charset pasted in) cost only those bytes; text that does not
fit at all is read as UTF-8 or Windows-1252, whichever reads it with fewer errors. Valid
UTF-8 under a one-byte label (a server's default) is read as UTF-8.
"""

from __future__ import annotations

import codecs

__all__ = ["decode_bytes", "decode_header_bytes", "superset"]

# Label (normalised by ``codecs.lookup``) -> what clients read it as.
_SUPERSETS = {
    "iso8859_1": "cp1252",
    "ascii": "cp1252",
    "iso8859_9": "cp1254",
    "iso8859_11": "cp874",
    "tis_620": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "euc_kr": "cp949",
    "shift_jis": "cp932",
    "big5": "big5hkscs",
}
# Labels Python does not know, and the codec they name.
_ALIASES = {
    "x-gbk": "gbk",
    "ks_c_5601-1987": "cp949",
    "windows-874": "cp874",
    "x-sjis": "shift_jis",
    "x-mac-roman": "mac_roman",
    "unicode-1-1-utf-7": "utf-7",
    "ansi_x3.4-1968": "ascii",
    "x-user-defined": "cp1252",
}
_SINGLE_BYTE = frozenset({"cp1252", "cp1254", "cp874", "iso8859-15", "iso8859-2", "cp1250"})
# Bad bytes per thousand below which a text is taken to be in its label with a few errors.
_FEW_ERRORS = 5


def superset(label: str | None) -> str | None:
    """The codec to read a charset label with, or None when the label names no charset."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = _ALIASES.get(name, name)
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        return None
    return _SUPERSETS.get(codec.replace("-", "_"), codec)


def _errors(data: bytes, codec: str) -> int:
    """Places in ``data`` that ``codec`` cannot read (a U+FFFD written as such is not one)."""
    genuine = "\ufffd".encode(codec, errors="ignore") if codec != "cp1252" else b""
    return data.decode(codec, errors="replace").count("\ufffd") - (
        data.count(genuine) if genuine else 0
    )


def _as_latin1(exc: UnicodeError) -> tuple[str, int]:
    """Error handler: an unreadable byte stands for the Latin-1 character of its value."""
    assert isinstance(exc, UnicodeDecodeError)
    return "".join(map(chr, exc.object[exc.start : exc.end])), exc.end


def _windows_1252(data: bytes) -> str:
    # Windows-1252 leaves five bytes unassigned; browsers read them as their Latin-1 characters.
    codecs.register_error("rootline-latin1", _as_latin1)
    return data.decode("cp1252", errors="rootline-latin1")


def decode_bytes(data: bytes, label: str | None = None) -> str:
    """``data`` as text, read in its charset ``label`` (if any) as mail clients read it.

    Bytes the charset cannot read become U+FFFD when they are few; when they are many, the
    label is wrong and the text is read as UTF-8 or Windows-1252 instead.
    """
    declared = superset(label)
    if declared in _SINGLE_BYTE and not data.isascii():
        # Valid UTF-8 beyond ASCII almost never happens by chance in a one-byte charset: it
        # is UTF-8 sent under the server's default label.
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    if declared:
        try:
            return data.decode(declared) if declared != "cp1252" else _windows_1252(data)
        except UnicodeDecodeError:
            if _errors(data, declared) * 1000 <= _FEW_ERRORS * max(len(data), 1):
                return data.decode(declared, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    utf8_bad = _errors(data, "utf-8")
    if utf8_bad * 1000 <= _FEW_ERRORS * max(len(data), 1):
        return data.decode("utf-8", errors="replace")
    if declared and declared != "cp1252" and _errors(data, declared) < utf8_bad:
        return data.decode(declared, errors="replace")
    return _windows_1252(data)


def decode_header_bytes(value: str) -> str:
    """A header value the parser kept as escaped raw bytes (RFC 6532 UTF-8 headers, or a
    legacy charset with no label) as text."""
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    return decode_bytes(value.encode("utf-8", errors="surrogateescape"))
