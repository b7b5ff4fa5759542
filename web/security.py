"""Security primitives: password hashing, API token hashing and CSRF tokens.

Plain functions on plain values, so they are tested without a database or a request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = [
    "TOKEN_PREFIX",
    "check_csrf",
    "hash_password",
    "hash_token",
    "needs_rehash",
    "new_api_token",
    "new_csrf_token",
    "verify_password",
]

TOKEN_PREFIX = "rl_"
MIN_PASSWORD_LENGTH = 8
_hasher = PasswordHasher()
# A hash of nothing anyone knows: checked when the user does not exist, so a wrong e-mail
# takes as long as a wrong password and does not reveal who has an account.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    """The argon2id hash of a password, with its own salt and parameters."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (False for a user without a password)."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than the current ones."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def new_api_token() -> str:
    """A fresh random API token (shown to the user once, never stored)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """What is stored for a token: its SHA-256, hex. The token has 256 random bits, so a
    plain fast hash is enough (no salt or slow hash needed, unlike a password)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_csrf_token() -> str:
    """A random token for one browser session, put in every form."""
    return secrets.token_urlsafe(32)


def check_csrf(expected: str | None, given: str | None) -> bool:
    """Whether the token sent with a form matches the session's, in constant time."""
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))
