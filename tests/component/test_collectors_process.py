"""The real collector process: stock OTLP exporters, spec example payloads, bad payloads, fuzzing,
live tail, /metrics, and a SIGTERM that loses nothing acknowledged."""

from __future__ import annotations

import gzip
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.testing import CollectorProcess, synthetic_logs, synthetic_spans, to_otlp_json

pytestmark = pytest.mark.component

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "otlp"
PB = {"content-type": "application/x-protobuf"}
JS = {"content-type": "application/json"}
MAX_BODY = 256 * 1024
MAX_INFLATED = 1024 * 1024


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CollectorProcess, Path]]:
    db = tmp_path_factory.mktemp("collector") / "telemetry.db"
    proc = CollectorProcess("--db-path", str(db), "--retention-hours", "0", "--max-body-bytes", str(MAX_BODY),
                            "--max-decompressed-bytes", str(MAX_INFLATED))
    try:
        yield proc, db
    finally:
        assert proc.stop() == 0


@pytest.fixture(scope="module")
def http(collector: tuple[CollectorProcess, Path]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=collector[0].url, timeout=30) as client:
        yield client


def counts(db: Path) -> tuple[int, int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return (conn.execute("select count(*) from spans").fetchone()[0],
                conn.execute("select count(*) from logs").fetchone()[0])


def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def test_stock_sdk_exporters_deliver_traces_and_logs(collector: tuple[CollectorProcess, Path],
                                                     http: httpx.Client) -> None:
    import logging

    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace import StatusCode

    url = collector[0].url
    res = Resource.create({"service.name": "checkout", "service.version": "v2", "service.instance.id": "checkout-v2-1"})
    tracer_provider = TracerProvider(resource=res)
    tracer_provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=f"{url}/v1/traces", compression=Compression.Gzip)))
    logger_provider = LoggerProvider(resource=res)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{url}/v1/logs")))
    logger = logging.getLogger("test_collectors.sdk")
    handler = LoggingHandler(logger_provider=logger_provider)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        tracer = tracer_provider.get_tracer("test")
        with tracer.start_as_current_span("POST /checkout") as root:
            root.set_attribute("shop.order", "o-1")
            with tracer.start_as_current_span("charge") as child:
                child.set_status(StatusCode.ERROR, "card declined")
                child.add_event("retry", {"attempt": 2})
                logger.error("payment declined for order o-1")
            trace_id = format(root.get_span_context().trace_id, "032x")
        assert tracer_provider.force_flush(10_000) and logger_provider.force_flush(10_000)
    finally:
        logger.removeHandler(handler)
        tracer_provider.shutdown()
        logger_provider.shutdown()

    trace = eventually(lambda: (r := http.get(f"/api/traces/{trace_id}")).status_code == 200 and r.json())
    assert trace["span_count"] == 2 and trace["error_count"] == 1 and trace["root_operation"] == "POST /checkout"
    charge = trace["spans"][1]
    assert charge["status"] == {"code": "error", "message": "card declined"}
    assert charge["events"][0]["attributes"] == {"attempt": 2}
    assert charge["service_version"] == "v2" and charge["instance_id"] == "checkout-v2-1"
    logs = eventually(lambda: http.get("/api/logs", params={"trace_id": trace_id}).json()["items"])
    assert logs[0]["body"] == "payment declined for order o-1" and logs[0]["span_id"] == charge["span_id"]
    assert logs[0]["severity"] == "ERROR"
    assert http.get(logs[0]["trace_href"]).json()["trace_id"] == trace_id  # log → trace
    assert eventually(lambda: trace_id in [t["trace_id"] for t in http.get(
        "/api/traces", params={"service": "checkout", "status": "error"}).json()["items"]])
    metrics = http.get("/metrics").text
    assert 'collectors_accepted_items_total{signal="spans"}' in metrics
    assert "collectors_batch_write_seconds_bucket" in metrics and "collectors_queue_depth_items" in metrics


def test_spec_json_examples_are_accepted(http: httpx.Client) -> None:
    r = http.post("/v1/traces", content=(FIXTURES / "trace.json").read_bytes(), headers=JS)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json" and r.json() == {}
    r = http.post("/v1/logs", content=gzip.compress((FIXTURES / "logs.json").read_bytes()),
                  headers={**JS, "content-encoding": "gzip"})
    assert r.status_code == 200 and r.json() == {}
    trace_id = "5b8efff798038103d269b633813fc60c"
    trace = eventually(lambda: (r := http.get(f"/api/traces/{trace_id}")).status_code == 200 and r.json())
    span = trace["spans"][0]
    assert (span["name"], span["kind"], span["service"], span["duration_ms"]) == (
        "I'm a server span", "SERVER", "my.service", 1000.0)
    assert span["attributes"] == {"my.span.attr": "some value"}
    log = eventually(lambda: http.get(f"/api/traces/{trace_id}/logs").json()["items"])[0]
    assert http.get(f"/api/traces/{trace_id}").json()["logs"]["count"] == 1
    assert log["body"] == "Example log record" and log["severity"] == "Information"
    assert log["attributes"]["map.attribute"] == {"some.map.key": "some value"}
    assert log["attributes"]["int.attribute"] == 10 and log["attributes"]["array.attribute"] == ["many", "values"]


def _bomb() -> bytes:
    return gzip.compress(bytes(MAX_INFLATED * 8))


BAD_PAYLOADS = [
    ("malformed protobuf", "/v1/traces", b"\x0a\xff\xff\xff\xff\x0f", PB, 400),
    ("truncated protobuf", "/v1/traces", synthetic_spans(50).SerializeToString()[:-9], PB, 400),
    ("malformed json", "/v1/logs", b'{"resourceLogs": [', JS, 400),
    ("json of the wrong shape", "/v1/logs", b'{"resourceLogs": {"a": 1}}', JS, 400),
    ("truncated gzip", "/v1/traces", gzip.compress(synthetic_spans(50).SerializeToString())[:-20],
     {**PB, "content-encoding": "gzip"}, 400),
    ("oversized body", "/v1/traces", synthetic_spans(3000).SerializeToString(), PB, 413),
    ("decompression bomb", "/v1/logs", _bomb(), {**PB, "content-encoding": "gzip"}, 413),
    ("wrong content type", "/v1/traces", synthetic_spans(5).SerializeToString(), {"content-type": "text/plain"}, 415),
    ("unknown encoding", "/v1/traces", synthetic_spans(5).SerializeToString(), {**PB, "content-encoding": "br"}, 415),
]


@pytest.mark.parametrize("name,path,body,headers,status", BAD_PAYLOADS, ids=[p[0] for p in BAD_PAYLOADS])
def test_bad_payloads_get_the_right_status_and_leave_the_store_unchanged(
        collector: tuple[CollectorProcess, Path], http: httpx.Client,
        name: str, path: str, body: bytes, headers: dict[str, str], status: int) -> None:
    before = counts(collector[1])
    r = http.post(path, content=body, headers=headers)
    assert r.status_code == status, r.content
    if r.headers["content-type"] == "application/json":
        assert r.json()["message"]  # google.rpc.Status, JSON-encoded
    else:
        from google.rpc.status_pb2 import Status

        assert Status.FromString(r.content).message
    time.sleep(0.1)
    assert counts(collector[1]) == before


def _mutations() -> st.SearchStrategy[tuple[bytes, dict[str, str]]]:
    valid_pb = [synthetic_spans(3).SerializeToString(), synthetic_logs(3).SerializeToString()]
    valid_js = [to_otlp_json(synthetic_spans(2)), to_otlp_json(synthetic_logs(2)),
                (FIXTURES / "trace.json").read_bytes(), (FIXTURES / "logs.json").read_bytes()]

    def mutate(base: bytes, edits: list[tuple[int, int]], cut: int) -> bytes:
        data = bytearray(base)
        for pos, val in edits:
            data[pos % len(data)] = val
        return bytes(data[: max(0, len(data) - cut)])

    mutated = st.builds(mutate, st.sampled_from(valid_pb + valid_js),
                        st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
                        st.integers(0, 40))
    bodies = st.one_of(st.binary(max_size=400), mutated, st.sampled_from(valid_js).map(
        lambda b: b.replace(b'"', b"", 1)))
    headers = st.fixed_dictionaries({"content-type": st.sampled_from(
        ["application/x-protobuf", "application/json", "application/json; charset=utf-8"])})
    return st.tuples(bodies, headers)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(case=_mutations(), gz=st.booleans(), path=st.sampled_from(["/v1/traces", "/v1/logs"]))
def test_fuzzed_payloads_never_get_a_500(http: httpx.Client, case: tuple[bytes, dict[str, str]], gz: bool,
                                         path: str) -> None:
    body, headers = case
    if gz:
        body, headers = gzip.compress(body), {**headers, "content-encoding": "gzip"}
    r = http.post(path, content=body, headers=headers)
    assert r.status_code in (200, 400, 413, 415, 429), (r.status_code, r.content[:200])


def test_live_tail_streams_new_matching_logs(collector: tuple[CollectorProcess, Path], http: httpx.Client) -> None:
    received: list[dict[str, Any]] = []
    started = threading.Event()

    def listen() -> None:
        with httpx.Client(base_url=collector[0].url, timeout=20) as client, \
                client.stream("GET", "/api/logs/tail", params={"service": "tailme", "severity": "WARN"}) as r:
            assert r.status_code == 200
            for line in r.iter_lines():
                started.set()
                if line.startswith("data: "):
                    received.append(json.loads(line[6:]))
                    if len(received) == 2:
                        return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert started.wait(10)
    from collectors.testing import log_request

    now = time.time_ns()
    req = log_request([{"service": "tailme", "time_ns": now, "body": "quiet", "severity": 9},
                       {"service": "tailme", "time_ns": now, "body": "loud 1", "severity": 13},
                       {"service": "other", "time_ns": now, "body": "elsewhere", "severity": 17},
                       {"service": "tailme", "time_ns": now, "body": "loud 2", "severity": 21}])
    assert http.post("/v1/logs", content=req.SerializeToString(), headers=PB).status_code == 200
    thread.join(15)
    assert [e["body"] for e in received] == ["loud 1", "loud 2"]
    assert http.get("/api/logs/tail", params={"severity": "nope"}).status_code == 400


def test_query_api_errors_follow_the_contract(http: httpx.Client) -> None:
    r = http.get("/api/traces/" + "0" * 31 + "1")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = http.get("/api/traces", params={"min_duration_ms": "slow"})
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "min_duration_ms"
    r = http.get("/api/logs", params={"cursor": "garbage"})
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "cursor"
    assert http.get("/api/service-graph", params={"start": "2026-01-02T00:00:00Z", "end": "1"}).status_code == 400


def test_sigterm_loses_nothing_acknowledged(tmp_path: Path) -> None:
    db = tmp_path / "telemetry.db"
    proc = CollectorProcess("--db-path", str(db), "--retention-hours", "0", "--batch-items", "512")
    acked: list[set[str]] = []
    stop_sending = threading.Event()

    def send() -> None:
        with httpx.Client(base_url=proc.url, timeout=10) as client:
            while not stop_sending.is_set():
                req = synthetic_spans(200)
                ids = {s.span_id.hex() for s in req.resource_spans[0].scope_spans[0].spans}
                try:
                    r = client.post("/v1/traces", content=req.SerializeToString(), headers=PB)
                except httpx.TransportError:
                    return  # the collector stopped listening
                if r.status_code == 200:
                    acked.append(ids)

    senders = [threading.Thread(target=send) for _ in range(3)]
    for t in senders:
        t.start()
    try:
        eventually(lambda: len(acked) >= 20, timeout=20)
    finally:
        code = proc.stop()
        stop_sending.set()
        for t in senders:
            t.join(15)
    assert code == 0 and len(acked) >= 20
    with sqlite3.connect(db) as conn:
        stored = {row[0] for row in conn.execute("select span_id from spans")}
    missing = set().union(*acked) - stored
    assert not missing, f"{len(missing)} acknowledged spans lost"


def test_postgresql_store_end_to_end(pg_url: str) -> None:
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    from collectors.store.engine import drop_pg_schema

    try:
        engine = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"),
                               connect_args={"connect_timeout": 2})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except OperationalError:
        pytest.skip(f"no PostgreSQL at {pg_url}")
    schema = f"tel_test_{uuid.uuid4().hex[:12]}"
    proc = CollectorProcess("--db-url", pg_url, "--db-schema", schema, "--retention-hours", "0")
    try:
        req = synthetic_spans(64, service="orders")
        trace_id = req.resource_spans[0].scope_spans[0].spans[0].trace_id.hex()
        with httpx.Client(base_url=proc.url, timeout=30) as client:
            assert client.post("/v1/traces", content=req.SerializeToString(), headers=PB).status_code == 200
            assert client.post("/v1/logs", content=to_otlp_json(synthetic_logs(10, service="orders")),
                               headers=JS).status_code == 200
            trace = eventually(lambda: (r := client.get(f"/api/traces/{trace_id}")).status_code == 200 and r.json())
            assert trace["span_count"] == 8 and trace["services"] == ["orders"]
            assert len(eventually(lambda: client.get("/api/logs", params={"service": "orders"}).json()["items"])) == 10
    finally:
        assert proc.stop() == 0
        drop_pg_schema(pg_url, schema)
