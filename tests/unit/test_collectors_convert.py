"""Converting OTLP messages to store rows: resource fields, attribute values, rejections."""

from __future__ import annotations

import json

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collectors.otlp.convert import LOG_COLUMNS, SPAN_COLUMNS, UNKNOWN_SERVICE, convert_logs, convert_traces
from collectors.testing import log_request, span_request

TRACE = "0af7651916cd43dd8448eb211c80319c"


def _row(columns: tuple[str, ...], row: tuple[object, ...]) -> dict[str, object]:
    return dict(zip(columns, row))


def test_span_row_keeps_what_a_responder_uses() -> None:
    req = span_request([{"trace_id": TRACE, "span_id": "b7ad6b7169203331", "parent": "00f067aa0ba902b7",
                         "name": "GET /cart", "service": "cart", "version": "v2", "kind": 3, "status": 2,
                         "start_ns": 1_000, "end_ns": 5_000, "attrs": {"http.route": "/cart", "n": 3, "ok": True,
                                                                       "ratio": 0.5}}])
    ev = req.resource_spans[0].scope_spans[0].spans[0].events.add()
    ev.name = "exception"
    ev.time_unix_nano = 2_000
    out = convert_traces(req)
    assert out.rejected == 0
    row = _row(SPAN_COLUMNS, out.rows[0])
    assert row["trace_id"] == TRACE and row["parent_span_id"] == "00f067aa0ba902b7"
    assert (row["service"], row["service_version"], row["instance_id"]) == ("cart", "v2", "cart-v2-1")
    assert (row["kind"], row["status_code"], row["duration_ns"]) == (3, 2, 4_000)
    assert json.loads(str(row["attributes"])) == {"http.route": "/cart", "n": 3, "ok": True, "ratio": 0.5}
    assert json.loads(str(row["events"])) == [{"name": "exception", "time_ns": 2000, "attributes": {}}]
    assert json.loads(str(row["resource"]))["service.name"] == "cart"


def test_invalid_ids_are_rejected_one_by_one() -> None:
    req = ExportTraceServiceRequest()
    spans = req.resource_spans.add().scope_spans.add().spans
    good = spans.add()
    good.trace_id, good.span_id = bytes.fromhex(TRACE), b"\x01" * 8
    spans.add().span_id = b"\x01" * 8  # no trace id
    bad_span = spans.add()
    bad_span.trace_id, bad_span.span_id = bytes.fromhex(TRACE), b"\x00" * 8
    bad_parent = spans.add()
    bad_parent.trace_id, bad_parent.span_id, bad_parent.parent_span_id = bytes.fromhex(TRACE), b"\x02" * 8, b"\x01"
    out = convert_traces(req)
    assert len(out.rows) == 1 and out.rejected == 3 and "trace_id" in out.reason
    assert _row(SPAN_COLUMNS, out.rows[0])["service"] == UNKNOWN_SERVICE


def test_log_rows_take_severity_text_from_number_and_body_of_any_type() -> None:
    req = log_request([{"service": "shop", "time_ns": 10, "body": "hello", "severity": 17, "trace_id": TRACE,
                        "span_id": "b7ad6b7169203331"}])
    extra = req.resource_logs[0].scope_logs[0].log_records.add()
    extra.observed_time_unix_nano = 77
    extra.body.kvlist_value.values.add(key="a").value.int_value = 1
    wrong = req.resource_logs[0].scope_logs[0].log_records.add()
    wrong.trace_id = b"\x01\x02"
    out = convert_logs(req)
    assert out.rejected == 1
    first, second = (_row(LOG_COLUMNS, r) for r in out.rows)
    assert (first["severity_text"], first["trace_id"], first["body"]) == ("ERROR", TRACE, "hello")
    assert (second["time_ns"], second["body"], second["trace_id"]) == (77, '{"a":1}', None)


def test_empty_requests_convert_to_nothing() -> None:
    assert convert_traces(ExportTraceServiceRequest()).rows == []
    assert convert_logs(ExportLogsServiceRequest()).rows == []
