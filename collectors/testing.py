"""Builders of OTLP requests for tests and benchmarks (not used by the running collector)."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Sequence
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue


def _set_attrs(target: Any, attrs: dict[str, Any]) -> None:
    for k, v in attrs.items():
        kv: KeyValue = target.add()
        kv.key = k
        if isinstance(v, bool):
            kv.value.bool_value = v
        elif isinstance(v, int):
            kv.value.int_value = v
        elif isinstance(v, float):
            kv.value.double_value = v
        else:
            kv.value.string_value = str(v)


def resource(service: str, version: str = "v1", instance: str | None = None) -> dict[str, str]:
    """Resource attributes as the fleet sets them."""
    return {"service.name": service, "service.version": version,
            "service.instance.id": instance or f"{service}-{version}-1"}


def span_request(spans: Sequence[dict[str, Any]]) -> ExportTraceServiceRequest:
    """One ResourceSpans per distinct ``service`` in ``spans``.

    Each span dict: trace_id, span_id (hex), parent (hex or ''), name, service, start_ns, end_ns,
    optional kind, status (0/1/2), attrs, version.
    """
    req = ExportTraceServiceRequest()
    by_resource: dict[tuple[str, str], Any] = {}
    for sp in spans:
        key = (sp["service"], sp.get("version", "v1"))
        if key not in by_resource:
            rs = req.resource_spans.add()
            _set_attrs(rs.resource.attributes, resource(*key))
            ss = rs.scope_spans.add()
            ss.scope.name = "fleet"
            by_resource[key] = ss
        s = by_resource[key].spans.add()
        s.trace_id = bytes.fromhex(sp["trace_id"])
        s.span_id = bytes.fromhex(sp["span_id"])
        if sp.get("parent"):
            s.parent_span_id = bytes.fromhex(sp["parent"])
        s.name = sp.get("name", "op")
        s.kind = sp.get("kind", 2)
        s.start_time_unix_nano = sp["start_ns"]
        s.end_time_unix_nano = sp["end_ns"]
        s.status.code = sp.get("status", 0)
        _set_attrs(s.attributes, sp.get("attrs", {}))
    return req


def synthetic_spans(n: int, service: str = "cart", start_ns: int | None = None, spans_per_trace: int = 8,
                    attrs: dict[str, Any] | None = None) -> ExportTraceServiceRequest:
    """``n`` spans of one service in traces of ``spans_per_trace``, with typical HTTP attributes."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    _set_attrs(rs.resource.attributes, resource(service))
    ss = rs.scope_spans.add()
    ss.scope.name = "fleet"
    t0 = start_ns or time.time_ns()
    attrs = attrs or {"http.request.method": "GET", "http.route": "/cart", "http.response.status_code": 200,
                      "url.path": "/cart/42"}
    trace_id = os.urandom(16)
    parent = b""
    for i in range(n):
        if i % spans_per_trace == 0:
            trace_id, parent = os.urandom(16), b""
        s = ss.spans.add()
        s.trace_id = trace_id
        s.span_id = os.urandom(8)
        if parent:
            s.parent_span_id = parent
        else:
            parent = s.span_id
        s.name = "GET /cart"
        s.kind = 2
        s.start_time_unix_nano = t0 + i * 1000
        s.end_time_unix_nano = t0 + i * 1000 + 1_500_000
        _set_attrs(s.attributes, attrs)
    return req


def synthetic_logs(n: int, service: str = "cart", start_ns: int | None = None) -> ExportLogsServiceRequest:
    """``n`` log records of one service, each tied to a trace and span."""
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    _set_attrs(rl.resource.attributes, resource(service))
    sl = rl.scope_logs.add()
    sl.scope.name = "fleet"
    t0 = start_ns or time.time_ns()
    for i in range(n):
        r = sl.log_records.add()
        r.time_unix_nano = t0 + i * 1000
        r.observed_time_unix_nano = r.time_unix_nano
        r.severity_number = 9 if i % 10 else 17
        r.severity_text = "INFO" if i % 10 else "ERROR"
        r.body.string_value = f"handled request {i} for cart 42"
        r.trace_id = os.urandom(16)
        r.span_id = os.urandom(8)
        _set_attrs(r.attributes, {"http.route": "/cart", "code.function.name": "get_cart"})
    return req


def log_request(records: Sequence[dict[str, Any]]) -> ExportLogsServiceRequest:
    """Log records: each dict has service, time_ns, body, optional severity (number), trace_id, span_id, attrs."""
    req = ExportLogsServiceRequest()
    by_service: dict[str, Any] = {}
    for rec in records:
        if rec["service"] not in by_service:
            rl = req.resource_logs.add()
            _set_attrs(rl.resource.attributes, resource(rec["service"]))
            by_service[rec["service"]] = rl.scope_logs.add()
        r = by_service[rec["service"]].log_records.add()
        r.time_unix_nano = rec["time_ns"]
        r.severity_number = rec.get("severity", 9)
        r.body.string_value = rec["body"]
        if rec.get("trace_id"):
            r.trace_id = bytes.fromhex(rec["trace_id"])
        if rec.get("span_id"):
            r.span_id = bytes.fromhex(rec["span_id"])
        _set_attrs(r.attributes, rec.get("attrs", {}))
    return req


_ID_KEYS = ("traceId", "spanId", "parentSpanId")


def to_otlp_json(message: Any) -> bytes:
    """OTLP/JSON encoding of a request message (protobuf JSON mapping with hex ids)."""
    doc = json_format.MessageToDict(message, use_integers_for_enums=True)

    def fix(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k in _ID_KEYS and isinstance(v, str):
                    node[k] = base64.b64decode(v).hex()
                else:
                    fix(v)
        elif isinstance(node, list):
            for v in node:
                fix(v)

    fix(doc)
    return json.dumps(doc).encode("utf-8")


REPO_ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


class CollectorProcess:
    """A real ``python -m collectors`` child on a free port; ``stop()`` sends SIGTERM and waits."""

    def __init__(self, *args: str, prefix: Sequence[str] = (), stderr_path: str | None = None,
                 python: str | None = None) -> None:
        import subprocess
        import sys

        self._stderr = open(stderr_path or os.devnull, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [*prefix, python or sys.executable, "-m", "collectors", "--host", "127.0.0.1", "--port", "0", *args],
            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=self._stderr,
        )
        self.url = self._wait_ready()

    def _wait_ready(self, timeout: float = 30.0) -> str:
        import select

        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                line = self.proc.stdout.readline().decode()
                if line.startswith("collectors listening on "):
                    return line.split()[-1]
            if self.proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"collector did not start (exit {self.proc.returncode})")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, wait for a graceful exit (SIGKILL after ``timeout``); returns the exit code."""
        import signal
        import subprocess

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()
        return self.proc.returncode

    def __enter__(self) -> CollectorProcess:  # noqa: PYI034 - a plain class, not meant to be subclassed
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
