"""Conventions every route follows: cursors, ETags, rate limits, idempotency fingerprints, limits.

Pure helpers (no database, no framework objects) so they are unit-tested without a server.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from control_plane.errors import FleetdeckError, ValidationError


@dataclass(frozen=True)
class ApiLimits:
    """Front-door limits; a daemon or test may put its own in ``ctx.extras["api_limits"]``."""

    max_body_bytes: int = 1_048_576  # larger requests get 413
    mutation_rate: float = 20.0  # sustained mutations per second per identity
    mutation_burst: int = 100  # mutations allowed back to back per identity
    login_rate: float = 1.0  # login attempts per second per client address
    login_burst: int = 30
    session_ttl_s: int = 12 * 3600  # lifetime of a login session
    idempotency_ttl_s: int = 24 * 3600  # how long a stored response is replayed


# --- cursor pagination -------------------------------------------------------------------------

def encode_cursor(position: dict[str, Any]) -> str:
    """An opaque cursor for ``position`` (e.g. ``{"id": 42}``): URL-safe base64 of compact JSON."""
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, keys: tuple[str, ...] = ("id",)) -> dict[str, Any]:
    """The position inside ``cursor``; ValidationError on ``cursor`` if it is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, binascii.Error, UnicodeError):
        raise ValidationError("cursor is not valid (pass back next_cursor unchanged)", field="cursor") from None
    if not isinstance(value, dict) or set(value) != set(keys):
        raise ValidationError("cursor is not valid (pass back next_cursor unchanged)", field="cursor")
    return value


def int_cursor(cursor: str | None) -> int | None:
    """The ``id`` position of a cursor over rows ordered by integer id, or None for the first page."""
    if cursor is None:
        return None
    pos = decode_cursor(cursor)["id"]
    if not isinstance(pos, int) or isinstance(pos, bool):
        raise ValidationError("cursor is not valid (pass back next_cursor unchanged)", field="cursor")
    return pos


def str_cursor(cursor: str | None) -> str | None:
    """The ``id`` position of a cursor over rows ordered by string id, or None for the first page."""
    if cursor is None:
        return None
    pos = decode_cursor(cursor)["id"]
    if not isinstance(pos, str):
        raise ValidationError("cursor is not valid (pass back next_cursor unchanged)", field="cursor")
    return pos


def page(rows: list[Any], limit: int, key: Callable[[Any], Any]) -> tuple[list[Any], str | None]:
    """Split ``limit + 1`` fetched rows into one page and the cursor of the next (None at the end)."""
    if len(rows) <= limit:
        return rows, None
    items = rows[:limit]
    return items, encode_cursor({"id": key(items[-1])})


# --- ETag / If-Match ---------------------------------------------------------------------------

class PreconditionFailed(FleetdeckError):
    """If-Match names a version that is no longer current (412)."""

    code = "precondition_failed"


class PreconditionRequired(FleetdeckError):
    """This change needs If-Match so it cannot silently overwrite another (428)."""

    code = "precondition_required"


def etag_for(version: int | str) -> str:
    """The strong ETag of an object version."""
    return f'"{version}"'


def check_if_match(if_match: str | None, current_etag: str, *, required: bool = True) -> None:
    """Raise 428 when required and missing, 412 when no listed tag (or ``*``) matches the current one."""
    if if_match is None or not if_match.strip():
        if required:
            raise PreconditionRequired(
                "this change needs an If-Match header with the object's current ETag (GET it first)",
                details={"header": "If-Match", "current_etag": current_etag})
        return
    tags = [t.strip().removeprefix("W/") for t in if_match.split(",")]
    if "*" in tags or current_etag in tags:
        return
    raise PreconditionFailed("the object changed since you read it; GET it again and retry",
                             details={"header": "If-Match", "current_etag": current_etag})


# --- rate limits -------------------------------------------------------------------------------

class RateLimiter:
    """Token buckets per key: ``rate`` per second refill, ``burst`` capacity. Thread-safe, in memory."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 10_000) -> None:
        self._rate, self._burst, self._clock, self._max_keys = rate, burst, clock, max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        """Take one token for ``key``: 0.0 if admitted, else the seconds to wait before retrying."""
        now = self._clock()
        with self._lock:
            level, last = self._buckets.get(key, (float(self._burst), now))
            level = min(float(self._burst), level + (now - last) * self._rate)
            if level >= 1.0:
                if len(self._buckets) >= self._max_keys and key not in self._buckets:
                    self._buckets.clear()  # bounded memory; forgetting everyone is the safe direction
                self._buckets[key] = (level - 1.0, now)
                return 0.0
            self._buckets[key] = (level, now)
            return (1.0 - level) / self._rate if self._rate > 0 else math.inf


def retry_after_header(wait_s: float) -> str:
    return str(max(1, math.ceil(wait_s)))


# --- idempotency -------------------------------------------------------------------------------

def request_fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """What must be identical for a retried request to count as the same request."""
    h = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), query.encode(), body):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def credential_fingerprint(authorization: str | None) -> str:
    """Who sent it, without storing the credential: SHA-256 of the Authorization header."""
    return hashlib.sha256((authorization or "").encode()).hexdigest()


IDEMPOTENCY_KEY_MAX = 255


def check_idempotency_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX or not key.isprintable():
        raise ValidationError(f"Idempotency-Key must be 1..{IDEMPOTENCY_KEY_MAX} printable characters",
                              field="Idempotency-Key")
    return key
