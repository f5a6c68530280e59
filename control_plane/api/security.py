"""Secrets: password hashing (Argon2) and API tokens (random secret, stored as SHA-256).

A token reads ``fd_<id>_<secret>``: ``id`` finds the row, the SHA-256 of ``secret`` is compared
with the stored hash in constant time. The secret itself is shown once and never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

TOKEN_PREFIX = "fd"
_TOKEN_RE = re.compile(r"^fd_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_HASHER = PasswordHasher()
# Verified when the user does not exist, so a wrong name costs as much time as a wrong password.
_DUMMY_HASH = _HASHER.hash("not-a-real-password-" + secrets.token_hex(8))


@dataclass(frozen=True)
class NewToken:
    """A freshly minted token: ``secret`` (the whole bearer string) goes to the caller once."""

    token_id: str
    secret: str
    secret_hash: str


def hash_secret(secret_part: str) -> str:
    return hashlib.sha256(secret_part.encode()).hexdigest()


def mint_token() -> NewToken:
    """A new token: 8 random bytes of id, 32 random bytes of secret."""
    token_id = secrets.token_hex(8)
    secret_part = secrets.token_urlsafe(32)
    return NewToken(token_id, f"{TOKEN_PREFIX}_{token_id}_{secret_part}", hash_secret(secret_part))


def parse_token(bearer: str) -> tuple[str, str] | None:
    """``(token_id, secret_part)`` of a well-formed token, else None."""
    m = _TOKEN_RE.match(bearer)
    return (m.group(1), m.group(2)) if m else None


def secret_matches(secret_part: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented secret with the stored hash."""
    return hmac.compare_digest(hash_secret(secret_part).encode(), stored_hash.encode())


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password: str, stored_hash: str | None) -> bool:
    """Whether ``password`` matches; takes the same time whether or not the user exists."""
    try:
        return _HASHER.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
