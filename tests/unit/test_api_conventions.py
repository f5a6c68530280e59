"""Cursors, pages, ETag preconditions, rate limits and idempotency fingerprints."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from control_plane.api.conventions import (
    PreconditionFailed,
    PreconditionRequired,
    RateLimiter,
    check_idempotency_key,
    check_if_match,
    credential_fingerprint,
    decode_cursor,
    encode_cursor,
    etag_for,
    int_cursor,
    page,
    request_fingerprint,
    retry_after_header,
    str_cursor,
)
from control_plane.errors import ValidationError


@given(st.one_of(st.integers(), st.text(max_size=50)))
def test_cursor_round_trips(position: object) -> None:
    assert decode_cursor(encode_cursor({"id": position})) == {"id": position}


@pytest.mark.parametrize("bad", ["", "!!!", "e30", encode_cursor({"x": 1}), encode_cursor({"id": 1, "y": 2}),
                                 "bm90IGpzb24"])
def test_foreign_cursors_are_a_validation_error_on_cursor(bad: str) -> None:
    with pytest.raises(ValidationError) as err:
        decode_cursor(bad)
    assert err.value.field == "cursor"


def test_typed_cursors() -> None:
    assert int_cursor(None) is None and int_cursor(encode_cursor({"id": 5})) == 5
    assert str_cursor(encode_cursor({"id": "b"})) == "b"
    with pytest.raises(ValidationError):
        int_cursor(encode_cursor({"id": "5"}))
    with pytest.raises(ValidationError):
        int_cursor(encode_cursor({"id": True}))
    with pytest.raises(ValidationError):
        str_cursor(encode_cursor({"id": 5}))


def test_page_gives_a_cursor_only_when_more_rows_exist() -> None:
    assert page([1, 2, 3], 3, key=lambda r: r) == ([1, 2, 3], None)
    items, nxt = page([1, 2, 3, 4], 3, key=lambda r: r)
    assert items == [1, 2, 3] and decode_cursor(nxt or "") == {"id": 3}


def test_if_match() -> None:
    current = etag_for(3)
    check_if_match('"3"', current)
    check_if_match('"1", W/"3"', current)
    check_if_match("*", current)
    check_if_match(None, current, required=False)
    with pytest.raises(PreconditionRequired):
        check_if_match(None, current)
    with pytest.raises(PreconditionRequired):
        check_if_match("  ", current)
    with pytest.raises(PreconditionFailed) as err:
        check_if_match('"2"', current)
    assert err.value.details["current_etag"] == '"3"'


def test_rate_limiter_refills_with_the_clock() -> None:
    now = [100.0]
    limiter = RateLimiter(rate=2.0, burst=3, clock=lambda: now[0])
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.acquire("a")
    assert wait == pytest.approx(0.5)
    assert limiter.acquire("b") == 0.0  # per key
    now[0] += 0.5
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0
    assert retry_after_header(0.2) == "1" and retry_after_header(2.1) == "3"


def test_rate_limiter_memory_is_bounded() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, clock=lambda: 0.0, max_keys=10)
    for i in range(100):
        assert limiter.acquire(f"k{i}") == 0.0
    assert len(limiter._buckets) <= 10


def test_fingerprints_separate_what_differs() -> None:
    base = request_fingerprint("POST", "/api/v1/tokens", "", b'{"a":1}')
    assert base == request_fingerprint("post", "/api/v1/tokens", "", b'{"a":1}')
    assert base != request_fingerprint("POST", "/api/v1/tokens", "", b'{"a":2}')
    assert base != request_fingerprint("POST", "/api/v1/token", "s", b'{"a":1}')  # no ambiguous joins
    assert credential_fingerprint("Bearer x") != credential_fingerprint("Bearer y")
    assert len(credential_fingerprint(None)) == 64


def test_idempotency_key_shape() -> None:
    assert check_idempotency_key(" ci-run-42 ") == "ci-run-42"
    for bad in ("", "x" * 256, "a\nb"):
        with pytest.raises(ValidationError):
            check_idempotency_key(bad)
