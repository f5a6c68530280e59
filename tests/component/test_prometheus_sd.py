"""A real Prometheus discovering targets through http_sd, queried through the metrics adapter."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from control_plane import procs
from control_plane.errors import TemporaryError
from control_plane.metrics.local_prometheus import LocalPrometheus
from control_plane.metrics.prometheus import PrometheusMetrics
from control_plane.settings import load_settings

pytestmark = pytest.mark.component


class Stub:
    """One HTTP server in a thread: /sd answers the current target groups, /metrics a counter."""

    def __init__(self) -> None:
        self.groups: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.startswith("/sd"):
                    body, ctype = json.dumps(stub.groups).encode(), "application/json"
                else:
                    body, ctype = b'fleet_http_requests_total{route="/x",method="GET",code="200"} 42\n', "text/plain"
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1})
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def prom(tmp_path: Path) -> Iterator[tuple[Stub, LocalPrometheus, PrometheusMetrics]]:
    stub = Stub()
    settings = load_settings({}, state_dir=tmp_path, prometheus_port=procs.free_port(), scrape_interval_s=1.0)
    local = LocalPrometheus(settings, sd_url=f"http://127.0.0.1:{stub.port}/sd")
    try:
        local.start()
        yield stub, local, PrometheusMetrics(local.url, timeout=3)
    finally:
        local.stop()
        stub.close()
    assert not procs.pid_alive(local.pid or -1)


def wait_value(metrics: PrometheusMetrics, promql: str, timeout: float = 30.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        samples = metrics.instant(promql)
        if samples:
            return samples[0].value
        time.sleep(0.5)
    raise AssertionError(f"no result for {promql} within {timeout}s")


def test_new_instances_are_discovered_without_a_restart(prom) -> None:
    stub, local, metrics = prom
    assert metrics.healthy()
    pid = local.pid
    stub.groups = [{"targets": [f"127.0.0.1:{stub.port}"],
                    "labels": {"job": "fleet", "service": "cart", "version": "v2", "instance": "cart-v2-1"}}]
    assert wait_value(metrics, 'up{job="fleet",instance="cart-v2-1"}') == 1.0
    got = metrics.instant('fleet_http_requests_total{service="cart",version="v2"}')
    assert got[0].value == 42.0 and got[0].labels["instance"] == "cart-v2-1"
    end = datetime.now(UTC) + timedelta(seconds=2)  # past the first scrape even if the adapter rounds to seconds
    series = metrics.range_query('up{instance="cart-v2-1"}', end - timedelta(minutes=1), end, 1.0)
    assert series and series[0].points[-1][1] == 1.0
    assert local.pid == pid
    assert (Path(local.settings.state_dir) / "prometheus" / "data").is_dir()


def test_an_unreachable_prometheus_is_a_temporary_error(prom) -> None:
    _, local, metrics = prom
    local.stop()
    assert metrics.healthy() is False
    with pytest.raises(TemporaryError, match="unreachable"):
        metrics.instant("up")
