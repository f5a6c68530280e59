"""The telemetry store and its queries, on SQLite and on PostgreSQL (a schema of its own per run)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import OperationalError

from collectors.otlp.convert import convert_logs, convert_traces
from collectors.store.engine import Store, drop_pg_schema, open_store
from collectors.store.queries import BadQuery, LogFilter, TelemetryQueries, TraceFilter, TraceNotFound
from collectors.store.writer import LOGS, SPANS, IngestQueue, Retention, Writer
from collectors.telemetry import SelfMetrics
from collectors.testing import log_request, span_request

T0 = 1_800_000_000_000_000_000  # a fixed instant; tests pass explicit windows
MS = 1_000_000


def _pg_available(url: str) -> bool:
    try:
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"), connect_args={"connect_timeout": 2})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return True
    except OperationalError:
        return False


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.component)])
def store(request: pytest.FixtureRequest, tmp_path: Path, pg_url: str) -> Iterator[Store]:
    if request.param == "sqlite":
        st = open_store(f"sqlite:///{tmp_path / 'telemetry.db'}")
        yield st
        st.dispose()
        return
    if not _pg_available(pg_url):
        pytest.skip(f"no PostgreSQL at {pg_url}")
    schema = f"tel_test_{uuid.uuid4().hex[:12]}"
    st = open_store(pg_url, schema=schema)
    try:
        yield st
    finally:
        st.dispose()
        drop_pg_schema(pg_url, schema)


def ingest(store: Store, spans: list[dict[str, Any]] | None = None, logs: list[dict[str, Any]] | None = None,
           retention: Retention | None = None) -> Writer:
    """Write through the real single writer and wait until everything is committed."""
    queue = IngestQueue(1_000_000)
    writer = Writer(store, queue, SelfMetrics(), retention or Retention(max_age_s=0, interval_s=1e9))
    if spans:
        queue.offer(SPANS, convert_traces(span_request(spans)).rows)
    if logs:
        queue.offer(LOGS, convert_logs(log_request(logs)).rows)
    queue.close()
    writer.start()
    writer.join(timeout=30)
    assert not writer.is_alive()
    return writer


def checkout_trace(trace_id: str, t0: int, error: bool = False) -> list[dict[str, Any]]:
    """frontend → checkout → (cart, payment): server spans with client spans between services."""
    def sp(span_id: str, parent: str, service: str, name: str, start: int, end: int, kind: int = 2,
           status: int = 0) -> dict[str, Any]:
        return {"trace_id": trace_id, "span_id": span_id, "parent": parent, "service": service, "name": name,
                "start_ns": t0 + start * MS, "end_ns": t0 + end * MS, "kind": kind, "status": status,
                "attrs": {"http.response.status_code": 500 if status == 2 else 200, "shop.cart": "42"}}
    return [
        sp("a000000000000001", "", "frontend", "POST /checkout", 0, 100),
        sp("a000000000000002", "a000000000000001", "frontend", "POST checkout", 5, 95, kind=3),
        sp("a000000000000003", "a000000000000002", "checkout", "POST /checkout", 6, 94, status=2 if error else 0),
        sp("a000000000000004", "a000000000000003", "checkout", "GET cart", 10, 30, kind=3),
        sp("a000000000000005", "a000000000000004", "cart", "GET /cart", 11, 29),
        sp("a000000000000006", "a000000000000003", "checkout", "POST payment", 35, 90, kind=3),
        sp("a000000000000007", "a000000000000006", "payment", "POST /pay", 36, 89),
    ]


def tid(i: int) -> str:
    return f"{i:032x}"


def test_trace_by_id_is_a_tree_with_critical_path_and_logs(store: Store) -> None:
    ingest(store, checkout_trace(tid(1), T0), logs=[
        {"service": "cart", "time_ns": T0 + 12 * MS, "body": "cart loaded", "trace_id": tid(1),
         "span_id": "a000000000000005"},
        {"service": "payment", "time_ns": T0 + 40 * MS, "body": "charged", "trace_id": tid(1)},
        {"service": "payment", "time_ns": T0 + 40 * MS, "body": "other trace", "trace_id": tid(2)},
    ])
    q = TelemetryQueries(store)
    trace = q.trace(tid(1).upper())
    assert trace["span_count"] == 7 and trace["roots"] == ["a000000000000001"]
    assert trace["services"] == ["cart", "checkout", "frontend", "payment"]
    assert [s["span_id"][-1] for s in trace["spans"]] == list("1234567")
    assert [s["depth"] for s in trace["spans"]] == [0, 1, 2, 3, 4, 3, 4]
    by_id = {s["span_id"]: s for s in trace["spans"]}
    assert by_id["a000000000000003"]["self_time_ms"] == pytest.approx(88 - 20 - 55)
    assert trace["critical_path"] == [f"a00000000000000{i}" for i in range(1, 8)]
    assert trace["logs"]["count"] == 2
    logs = q.search_logs(LogFilter(trace_id=tid(1)))["items"]
    assert {entry["body"] for entry in logs} == {"cart loaded", "charged"}
    assert all(entry["trace_href"] == f"/api/traces/{tid(1)}" for entry in logs)
    with pytest.raises(TraceNotFound):
        q.trace(tid(99))
    with pytest.raises(BadQuery):
        q.trace("nope")


def test_a_retried_span_is_stored_once(store: Store) -> None:
    ingest(store, checkout_trace(tid(1), T0))
    ingest(store, checkout_trace(tid(1), T0))
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(store.tables.spans)).scalar_one() == 7


def test_trace_search_filters_and_pages_newest_first_without_repeats(store: Store) -> None:
    spans = []
    for i in range(1, 26):
        spans += checkout_trace(tid(i), T0 + i * 1000 * MS, error=(i % 5 == 0))
    ingest(store, spans)
    q = TelemetryQueries(store)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = q.search_traces(TraceFilter(limit=7, cursor=cursor))
        seen += [t["trace_id"] for t in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 4 and seen == [tid(i) for i in range(25, 0, -1)]
    errors = q.search_traces(TraceFilter(status="error", limit=50))["items"]
    assert [t["trace_id"] for t in errors] == [tid(i) for i in (25, 20, 15, 10, 5)]
    assert errors[0]["error_count"] == 1 and errors[0]["root_service"] == "frontend"
    assert errors[0]["span_count"] == 7 and errors[0]["duration_ms"] == 100
    got = q.search_traces(TraceFilter(service="payment", operation="POST /pay", min_duration_ms=50,
                                      max_duration_ms=60, start_ns=T0 + 3000 * MS, end_ns=T0 + 5500 * MS))
    assert [t["trace_id"] for t in got["items"]] == [tid(5), tid(4), tid(3)]
    by_attr = q.search_traces(TraceFilter(attrs=[("http.response.status_code", "500")], limit=3))
    assert [t["trace_id"] for t in by_attr["items"]] == [tid(25), tid(20), tid(15)]
    assert q.search_traces(TraceFilter(attrs=[("http.response.status_code", "50")]))["items"] == []
    assert len(q.search_traces(TraceFilter(attrs=[("service.name", "cart")], limit=100))["items"]) == 25
    with pytest.raises(BadQuery):
        q.search_traces(TraceFilter(status="bad"))


def test_service_graph_has_exactly_the_call_edges(store: Store) -> None:
    ingest(store, checkout_trace(tid(1), T0) + checkout_trace(tid(2), T0 + 200 * MS, error=True))
    graph = TelemetryQueries(store).service_graph(T0 - 1000 * MS, T0 + 1000 * MS)
    edges = {(e["source"], e["target"]): e for e in graph["edges"]}
    assert set(edges) == {("frontend", "checkout"), ("checkout", "cart"), ("checkout", "payment")}
    fc = edges[("frontend", "checkout")]
    assert (fc["requests"], fc["errors"], fc["p50_ms"]) == (2, 1, 88.0)
    assert {n["service"] for n in graph["nodes"]} == {"frontend", "checkout", "cart", "payment"}
    assert TelemetryQueries(store).service_graph(T0 + 10_000 * MS, T0 + 20_000 * MS)["edges"] == []


def test_operations_red_per_service(store: Store) -> None:
    ingest(store, checkout_trace(tid(1), T0) + checkout_trace(tid(2), T0, error=True))
    ops = TelemetryQueries(store).operations("checkout", T0 - 5000 * MS, T0 + 5000 * MS)["items"]
    server = next(o for o in ops if o["operation"] == "POST /checkout")
    assert (server["kind"], server["requests"], server["errors"], server["error_ratio"]) == ("SERVER", 2, 1, 0.5)
    assert {o["operation"] for o in ops} == {"POST /checkout", "GET cart", "POST payment"}


def test_log_search_filters_and_pages(store: Store) -> None:
    logs = [{"service": ["cart", "payment"][i % 2], "time_ns": T0 + i * MS, "body": f"line {i} 100%_done",
             "severity": 17 if i % 3 == 0 else 9, "attrs": {"shop.user": f"u{i % 4}"}} for i in range(30)]
    ingest(store, logs=logs)
    q = TelemetryQueries(store)
    seen: list[str] = []
    cursor = None
    while True:
        page = q.search_logs(LogFilter(limit=8, cursor=cursor))
        seen += [entry["body"] for entry in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"line {i} 100%_done" for i in range(29, -1, -1)]
    errs = q.search_logs(LogFilter(services=["cart"], severity="error", limit=100))["items"]
    assert [entry["body"].split()[1] for entry in errs] == ["24", "18", "12", "6", "0"]
    assert len(q.search_logs(LogFilter(q="LINE 1", limit=100))["items"]) == 11
    assert len(q.search_logs(LogFilter(q="0%_", limit=100))["items"]) == 30
    assert q.search_logs(LogFilter(q="0%x"))["items"] == []
    assert len(q.search_logs(LogFilter(attrs=[("shop.user", "u1")], limit=100))["items"]) == 8
    window = q.search_logs(LogFilter(start_ns=T0 + 10 * MS, end_ns=T0 + 12 * MS))["items"]
    assert [entry["body"].split()[1] for entry in window] == ["12", "11", "10"]
    with pytest.raises(BadQuery):
        q.search_logs(LogFilter(severity="loud"))
    after = q.logs_after(LogFilter(services=["payment"]), after_id=0, limit=3)
    assert [entry["body"].split()[1] for entry in after] == ["1", "3", "5"]


def test_services_are_listed_with_versions(store: Store) -> None:
    ingest(store, checkout_trace(tid(1), T0), logs=[{"service": "shoppers", "time_ns": T0, "body": "x"}])
    names = [s["service"] for s in TelemetryQueries(store).services()["items"]]
    assert names == ["cart", "checkout", "frontend", "payment", "shoppers"]


def test_retention_by_age_and_by_size(store: Store) -> None:
    now_s = T0 / 1e9
    spans = []
    for i in range(10):
        spans += checkout_trace(tid(i + 1), T0 - (10 - i) * 3600 * 1000 * MS)  # 10h ago .. 1h ago
    logs = [{"service": "cart", "time_ns": T0 - (10 - i) * 3600 * 1000 * MS, "body": str(i)} for i in range(10)]
    writer = ingest(store, spans, logs)
    writer.retention = Retention(max_age_s=5.5 * 3600, max_spans=21, max_logs=3, delete_chunk=4)
    deleted = writer.enforce_retention(now_s)
    assert deleted == {"spans_age": 35, "logs_age": 5, "spans_size": 14, "logs_size": 2}
    q = TelemetryQueries(store)
    assert [t["trace_id"] for t in q.search_traces(TraceFilter(limit=50))["items"]] == [tid(10), tid(9), tid(8)]
    assert [entry["body"] for entry in q.search_logs(LogFilter())["items"]] == ["9", "8", "7"]
