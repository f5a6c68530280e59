"""Token minting, parsing and constant-time checking; Argon2 passwords."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from control_plane.api import security
from control_plane.api.security import hash_password, mint_token, parse_token, secret_matches, verify_password


def test_token_is_id_plus_32_byte_secret_and_only_its_hash_is_kept() -> None:
    new = mint_token()
    token_id, secret_part = parse_token(new.secret) or ("", "")
    assert token_id == new.token_id and len(token_id) == 16
    assert len(secret_part) == 43  # 32 bytes, URL-safe base64 without padding
    assert new.secret_hash == hashlib.sha256(secret_part.encode()).hexdigest()
    assert secret_part not in new.secret_hash
    assert secret_matches(secret_part, new.secret_hash)
    assert not secret_matches(secret_part[:-1] + ("A" if secret_part[-1] != "A" else "B"), new.secret_hash)


def test_tokens_are_unique() -> None:
    assert len({mint_token().secret for _ in range(200)}) == 200


@settings(max_examples=200)
@given(st.text(max_size=120))
def test_parse_rejects_anything_not_shaped_like_a_token(text: str) -> None:
    parsed = parse_token(text)
    if parsed is not None:
        assert text == f"fd_{parsed[0]}_{parsed[1]}"


def test_comparison_uses_compare_digest(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    calls = []
    real = security.hmac.compare_digest

    def spy(a, b):  # type: ignore[no-untyped-def]
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(security.hmac, "compare_digest", spy)
    new = mint_token()
    assert secret_matches(parse_token(new.secret)[1], new.secret_hash)  # type: ignore[index]
    assert calls


def test_password_hash_is_argon2_and_verifies() -> None:
    h = hash_password("correct horse battery")
    assert h.startswith("$argon2id$") and "correct" not in h
    assert verify_password("correct horse battery", h)
    assert not verify_password("wrong", h)
    assert not verify_password("correct horse battery", None)  # unknown user: same work, no match
    assert not verify_password("x", "not-a-hash")
