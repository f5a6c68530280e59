"""The fleet as real processes (``python -m fleet <svc>`` on free loopback ports, upstreams wired
directly): a checkout journey end to end, trace context across services seen in the OTLP export,
faults at run time, a real crash, a real leak, and the load generator's CLI."""

from __future__ import annotations

import gzip
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from fleet.testing import LocalFleet, ServiceProcess, start_service

pytestmark = pytest.mark.component

REPO = Path(__file__).resolve().parents[2]
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"}
ADDRESS = {"street": "1 Main St", "city": "Springfield", "zip": "12345", "country": "US"}
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


class OtlpSink:
    """A tiny OTLP/HTTP receiver that keeps every decoded export request (for assertions only)."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.logs: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                sink.record(self.path, body)
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="otlp-sink", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def record(self, path: str, body: bytes) -> None:
        with self._lock:
            if path == "/v1/traces":
                req = ExportTraceServiceRequest.FromString(body)
                for rs in req.resource_spans:
                    res = {a.key: a.value.string_value for a in rs.resource.attributes}
                    for ss in rs.scope_spans:
                        for s in ss.spans:
                            self.spans.append({"service": res.get("service.name"), "resource": res, "name": s.name,
                                               "trace_id": s.trace_id.hex(), "span_id": s.span_id.hex(),
                                               "parent": s.parent_span_id.hex(), "kind": s.kind,
                                               "status": s.status.code})
            elif path == "/v1/logs":
                req = ExportLogsServiceRequest.FromString(body)
                for rl in req.resource_logs:
                    res = {a.key: a.value.string_value for a in rl.resource.attributes}
                    for sl in rl.scope_logs:
                        for r in sl.log_records:
                            self.logs.append({"service": res.get("service.name"), "body": r.body.string_value,
                                              "trace_id": r.trace_id.hex(), "span_id": r.span_id.hex()})

    def wait_for(self, what: Callable[[OtlpSink], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if what(self):
                    return True
            time.sleep(0.1)
        return False

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture(scope="module")
def sink() -> Iterator[OtlpSink]:
    with OtlpSink() as s:
        yield s


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, sink: OtlpSink) -> Iterator[LocalFleet]:
    fleet = LocalFleet(tmp_path_factory.mktemp("fleet"), env={"OTEL_EXPORTER_OTLP_ENDPOINT": sink.url})
    fleet.start(timeout=90)  # eight interpreters starting at once on a busy 2-core machine can be slow
    try:
        yield fleet
    finally:
        fleet.stop()


def test_a_checkout_journey_ends_in_an_order_and_one_trace_spans_the_services(fleet: LocalFleet,
                                                                              sink: OtlpSink) -> None:
    session = {"X-Session-Id": "component-1"}
    with httpx.Client(base_url=fleet.url("frontend"), headers=session, timeout=10) as c:
        assert c.get("/").status_code == 200
        assert c.post("/api/cart/items", json={"product_id": "watch", "quantity": 1}).status_code == 201
        traced = {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
        r = c.post("/api/checkout", json={"email": "a@b.c", "address": ADDRESS, "card": CARD}, headers=traced)
        assert r.status_code == 201, r.text
        order_id = r.json()["order_id"]
    order = httpx.get(f"{fleet.url('orders')}/orders/{order_id}", timeout=5).json()
    assert (order["session_id"], order["items"][0]["product_id"], order["total_cents"]) == (
        "component-1", "watch", 10999 + 499)

    expected = {"frontend", "checkout", "cart", "catalog", "payment", "shipping", "orders"}

    def all_services_exported(s: OtlpSink) -> bool:
        return {x["service"] for x in s.spans if x["trace_id"] == TRACE_ID and x["kind"] == 2} >= expected

    assert sink.wait_for(all_services_exported), {x["service"] for x in sink.spans if x["trace_id"] == TRACE_ID}
    in_trace = [x for x in sink.spans if x["trace_id"] == TRACE_ID]
    ids = {x["span_id"] for x in in_trace}
    root = [x for x in in_trace if x["parent"] == "00f067aa0ba902b7"]
    assert [x["service"] for x in root] == ["frontend"], root  # continued from our traceparent
    assert all(x["parent"] in ids for x in in_trace if x is not root[0])  # one connected tree
    payment = next(x for x in in_trace if x["service"] == "payment")
    assert payment["resource"]["service.version"] == "v1"
    assert payment["resource"]["service.instance.id"] == "payment-v1-1"

    assert sink.wait_for(lambda s: any(x["trace_id"] == TRACE_ID and x["service"] == "checkout" for x in s.logs))
    stdout = [x for x in fleet.procs["orders"].log_lines() if x.get("trace_id") == TRACE_ID]
    assert stdout and stdout[0]["http_route"] == "/orders"


def test_an_upstream_outage_is_a_503_with_an_error_span(fleet: LocalFleet, sink: OtlpSink) -> None:
    trace_id = "5bf92f3577b34da6a3ce929d0e0e4737"
    with httpx.Client(base_url=fleet.url("checkout"), timeout=10) as c:
        c.put("/_fleet/faults", json={})
        httpx.put(f"{fleet.url('payment')}/_fleet/faults", json={"error_rate": 1.0}, timeout=5)
        try:
            httpx.post(f"{fleet.url('cart')}/carts/component-2/items", json={"product_id": "mug"}, timeout=5)
            r = c.post("/checkout", json={"session_id": "component-2", "email": "a@b.c", "address": ADDRESS,
                                          "card": CARD}, headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
        finally:
            httpx.put(f"{fleet.url('payment')}/_fleet/faults", json={}, timeout=5)
    assert r.status_code == 502 and r.json()["error"]["details"]["upstream"] == "payment"

    def errors(s: OtlpSink) -> set[tuple[str, int]]:
        return {(x["service"], x["kind"]) for x in s.spans if x["trace_id"] == trace_id and x["status"] == 2}

    # payment's server span, checkout's client and server spans all say error
    assert sink.wait_for(lambda s: {("payment", 2), ("checkout", 3), ("checkout", 2)} <= errors(s)), errors(sink)
    metrics = httpx.get(f"{fleet.url('payment')}/metrics", timeout=5).text
    assert 'fleet_http_requests_total{code="500",instance="payment-v1-1",method="POST",route="/charges",' \
           'service="payment",version="v1"} 1.0' in metrics


def test_the_load_generator_cli_stops_on_sigterm_and_reports(fleet: LocalFleet) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "fleet.loadgen", "--target", fleet.url("frontend"), "--rate", "10",
                             "--duration", "60", "--json", "--seed", "5"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    def home_requests() -> float:
        text = httpx.get(f"{fleet.url('frontend')}/metrics", timeout=5).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("fleet_http_requests_total{") and 'route="/"' in line)

    try:
        # SIGTERM only once journeys run (its handler is installed by then): interpreter start-up
        # alone can take seconds on a busy machine, and an early SIGTERM would just kill it
        seen = home_requests()
        deadline = time.monotonic() + 60
        while home_requests() < seen + 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    report = json.loads(out)
    assert report["elapsed_s"] < 60 and report["journeys"]["started"] >= 3 and report["errors"] == 0
    assert report["journeys"]["orders"] >= 1


@pytest.fixture
def single(tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    started: list[ServiceProcess] = []

    def start(service: str, **kw: Any) -> ServiceProcess:
        p = start_service(service, tmp_path, **kw)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


def test_crash_after_kills_the_process_after_the_nth_request(single: Callable[..., ServiceProcess]) -> None:
    svc = single("catalog", faults={"crash_after": 3}, env={"FLEET_TELEMETRY": "off"})
    svc.wait_ready(60)
    codes = [httpx.get(f"{svc.url}/products/mug", timeout=5).status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    assert svc.proc.wait(timeout=5) == 70
    assert "crash_after reached" in svc.log_tail()


def test_leak_grows_resident_memory(single: Callable[..., ServiceProcess]) -> None:
    svc = single("shipping", faults={"leak_kb_per_request": 1024}, env={"FLEET_TELEMETRY": "off"})
    svc.wait_ready(60)

    def rss_kb() -> int:
        status = Path(f"/proc/{svc.proc.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))

    before = rss_kb()
    with httpx.Client(base_url=svc.url, timeout=5) as c:
        for _ in range(40):
            c.get("/shipments/none")
    assert rss_kb() - before >= 35 * 1024


def test_bad_environment_fails_fast_with_a_clear_message(tmp_path: Path) -> None:
    for args, env, needle in ((["nope"], {}, "unknown service 'nope'"),
                              (["cart"], {"FLEET_FAULTS": '{"error_rate": 7}'}, "error_rate must be between"),
                              (["cart"], {"FLEET_PORT": "http"}, "FLEET_PORT must be an integer")):
        r = subprocess.run([sys.executable, "-m", "fleet", *args], cwd=REPO, capture_output=True, text=True, check=False,
                           env={"PATH": "/usr/bin:/bin", "FLEET_DATA_DIR": str(tmp_path), **env}, timeout=30)
        assert r.returncode == 2 and needle in r.stderr, r.stderr


def test_sigterm_flushes_pending_telemetry(single: Callable[..., ServiceProcess], sink: OtlpSink) -> None:
    svc = single("cart", env={"OTEL_EXPORTER_OTLP_ENDPOINT": sink.url})
    svc.wait_ready(60)
    trace_id = "6bf92f3577b34da6a3ce929d0e0e4738"
    for _ in range(3):
        httpx.get(f"{svc.url}/carts/flush", headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}, timeout=5)
    svc.stop()  # well inside the 1 s batch delay: only the shutdown flush can have sent them
    assert len([x for x in sink.spans if x["trace_id"] == trace_id]) == 3
    assert len([x for x in sink.logs if x["trace_id"] == trace_id]) == 3
    assert [x["message"] for x in svc.log_lines()][-3:] == ["stopped", "Application shutdown complete.",
                                                            f"Finished server process [{svc.proc.pid}]"]
