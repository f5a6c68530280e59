"""Decoding OTLP/HTTP bodies: encodings, gzip limits, hex ids in JSON, malformed input."""

from __future__ import annotations

import gzip
import json

import pytest

from collectors.otlp import convert, decode
from collectors.otlp.errors import MalformedPayload, PayloadTooLarge, UnsupportedMedia
from collectors.testing import span_request, synthetic_logs, synthetic_spans, to_otlp_json

TRACE = "5b8efff798038103d269b633813fc60c"


def test_content_type_picks_encoding_and_ignores_parameters() -> None:
    assert decode.encoding_of("application/x-protobuf") is decode.Encoding.PROTOBUF
    assert decode.encoding_of("Application/JSON; charset=utf-8") is decode.Encoding.JSON
    for bad in (None, "", "text/plain", "application/grpc"):
        with pytest.raises(UnsupportedMedia):
            decode.encoding_of(bad)


def test_gzip_roundtrip_and_multiple_members() -> None:
    body = b"x" * 1000
    assert decode.decompress(gzip.compress(body), "gzip", 2000) == body
    assert decode.decompress(gzip.compress(b"ab") + gzip.compress(b"cd"), "gzip", 10) == b"abcd"
    assert decode.decompress(body, None, 10) == body  # identity is not limited here (the body limit is)


def test_decompression_bomb_is_too_large() -> None:
    bomb = gzip.compress(bytes(50_000_000))
    assert len(bomb) < 100_000
    with pytest.raises(PayloadTooLarge):
        decode.decompress(bomb, "gzip", 1_000_000)


def test_bad_or_truncated_gzip_is_malformed_and_unknown_coding_unsupported() -> None:
    with pytest.raises(MalformedPayload):
        decode.decompress(b"not gzip at all", "gzip", 1000)
    with pytest.raises(MalformedPayload):
        decode.decompress(gzip.compress(b"y" * 5000)[:-12], "gzip", 10_000)
    with pytest.raises(UnsupportedMedia):
        decode.decompress(b"", "br", 10)


def test_protobuf_and_json_decode_to_the_same_rows() -> None:
    req = synthetic_spans(20)
    pb = convert.convert_traces(decode.parse_traces(req.SerializeToString(), decode.Encoding.PROTOBUF))
    js = convert.convert_traces(decode.parse_traces(to_otlp_json(req), decode.Encoding.JSON))
    assert pb.rows == js.rows and len(pb.rows) == 20
    logs = synthetic_logs(5)
    a = convert.convert_logs(decode.parse_logs(logs.SerializeToString(), decode.Encoding.PROTOBUF))
    b = convert.convert_logs(decode.parse_logs(to_otlp_json(logs), decode.Encoding.JSON))
    assert a.rows == b.rows and len(a.rows) == 5


def test_json_accepts_upper_case_hex_snake_case_and_unknown_fields() -> None:
    doc = {"resource_spans": [{"scope_spans": [{"spans": [{
        "trace_id": TRACE.upper(), "span_id": "EEE19B7EC3C1B174", "name": "x", "kind": 2,
        "startTimeUnixNano": "1", "endTimeUnixNano": 5, "someFutureField": {"a": 1}}]}]}]}
    rows = convert.convert_traces(decode.parse_traces(json.dumps(doc).encode(), decode.Encoding.JSON)).rows
    assert rows[0][0] == TRACE and rows[0][1] == "eee19b7ec3c1b174" and rows[0][10] == 4


@pytest.mark.parametrize("body", [
    b"{", b"[]", b'"x"', b"\xff\xfe", b'{"resourceSpans": 5}', b'{"resourceSpans": [{"scopeSpans": [{"spans": [1]}]}]}',
    b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
    b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}',
    b"[" * 100_000,
])
def test_malformed_json_raises_malformed(body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        decode.parse_traces(body, decode.Encoding.JSON)


def test_malformed_and_truncated_protobuf_raise_malformed() -> None:
    good = span_request([{"trace_id": TRACE, "span_id": "eee19b7ec3c1b174", "service": "a", "start_ns": 1,
                          "end_ns": 2, "attrs": {"k": "v" * 50}}]).SerializeToString()
    for body in (good[:-7], b"\x0a\xff\xff\xff\xff\x0f", b"\xff" * 20):
        with pytest.raises(MalformedPayload):
            decode.parse_traces(body, decode.Encoding.PROTOBUF)
