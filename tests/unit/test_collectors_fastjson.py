"""The fast OTLP/JSON reader gives exactly the messages protobuf's json_format gives."""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collectors.otlp import decode, fastjson
from collectors.testing import to_otlp_json

scalars = st.one_of(
    st.text(max_size=20).map(lambda s: {"stringValue": s}),
    st.integers(-(2**63), 2**63 - 1).map(lambda i: {"intValue": str(i)}),
    st.booleans().map(lambda b: {"boolValue": b}),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: {"doubleValue": f}),
    st.binary(max_size=8).map(lambda b: {"bytesValue": __import__("base64").b64encode(b).decode()}),
)
any_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3).map(lambda vs: {"arrayValue": {"values": vs}}),
    st.lists(st.tuples(st.text(max_size=5), inner), max_size=3).map(
        lambda kvs: {"kvlistValue": {"values": [{"key": k, "value": v} for k, v in kvs]}}),
), max_leaves=6)
attributes = st.lists(st.tuples(st.text(max_size=8), any_values), max_size=4).map(
    lambda kvs: [{"key": k, "value": v} for k, v in kvs])
hex_ids = st.binary(min_size=8, max_size=8).map(bytes.hex)
uint64 = st.integers(0, 2**64 - 1)
spans = st.fixed_dictionaries({
    "traceId": st.binary(min_size=16, max_size=16).map(bytes.hex), "spanId": hex_ids, "name": st.text(max_size=10),
    "kind": st.integers(0, 5), "startTimeUnixNano": uint64.map(str), "endTimeUnixNano": uint64,
    "attributes": attributes,
}, optional={
    "parentSpanId": hex_ids, "status": st.fixed_dictionaries({"code": st.integers(0, 2), "message": st.text(max_size=5)}),
    "events": st.lists(st.fixed_dictionaries({"name": st.text(max_size=5), "timeUnixNano": uint64.map(str),
                                              "attributes": attributes}), max_size=2),
    "links": st.lists(st.fixed_dictionaries({"traceId": st.binary(min_size=16, max_size=16).map(bytes.hex),
                                             "spanId": hex_ids, "attributes": attributes}), max_size=2),
    "flags": st.integers(0, 2**32 - 1), "traceState": st.text(max_size=5),
})
resource = st.fixed_dictionaries({"attributes": attributes})
scope = st.fixed_dictionaries({"name": st.text(max_size=5), "version": st.text(max_size=3)})
trace_docs = st.lists(st.fixed_dictionaries({"resource": resource, "scopeSpans": st.lists(
    st.fixed_dictionaries({"scope": scope, "spans": st.lists(spans, max_size=3)}), max_size=2)}), max_size=2).map(
    lambda rs: {"resourceSpans": rs})
records = st.fixed_dictionaries({
    "timeUnixNano": uint64.map(str), "severityNumber": st.integers(0, 24), "body": any_values, "attributes": attributes,
}, optional={"traceId": st.binary(min_size=16, max_size=16).map(bytes.hex), "spanId": hex_ids,
             "severityText": st.text(max_size=5), "observedTimeUnixNano": uint64, "eventName": st.text(max_size=4)})
log_docs = st.lists(st.fixed_dictionaries({"resource": resource, "scopeLogs": st.lists(
    st.fixed_dictionaries({"scope": scope, "logRecords": st.lists(records, max_size=3)}), max_size=2)}), max_size=2).map(
    lambda rl: {"resourceLogs": rl})


def _reference(doc: dict[str, Any], kind: Any, paths: Any) -> Any:
    copy = json.loads(json.dumps(doc))
    for path in paths:
        decode._hex_ids_to_base64(copy, path)
    return json_format.ParseDict(copy, kind(), ignore_unknown_fields=True)


@settings(max_examples=60, deadline=None)
@given(doc=trace_docs)
def test_fast_traces_equal_json_format(doc: dict[str, Any]) -> None:
    assert fastjson.traces(doc) == _reference(doc, ExportTraceServiceRequest, decode._TRACE_ID_PATHS)


@settings(max_examples=60, deadline=None)
@given(doc=log_docs)
def test_fast_logs_equal_json_format(doc: dict[str, Any]) -> None:
    assert fastjson.logs(doc) == _reference(doc, ExportLogsServiceRequest, decode._LOG_ID_PATHS)


def test_what_the_fast_reader_declines_still_decodes_through_json_format() -> None:
    doc = {"resource_spans": [{"scope_spans": [{"spans": [{"trace_id": "00" * 15 + "01", "span_id": "00" * 7 + "01",
                                                          "kind": "SPAN_KIND_CLIENT", "futureField": 1}]}]}]}
    body = json.dumps(doc).encode()
    req = decode.parse_traces(body, decode.Encoding.JSON)
    assert req.resource_spans[0].scope_spans[0].spans[0].kind == 3


def test_testing_encoder_round_trips() -> None:
    req = ExportTraceServiceRequest()
    span = req.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.kind = b"\x01" * 16, b"\x02" * 8, 2
    assert decode.parse_traces(to_otlp_json(req), decode.Encoding.JSON) == req
