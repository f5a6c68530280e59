"""Collectors ingest and query benchmark (prints figures; not a test).

    .venv/bin/python benchmarks/collectors_ingest.py [--store-spans 1000000] [--quick]

- End to end (HTTP in, rows committed) for batches of 512, protobuf and JSON, spans and logs:
  the collector runs pinned to core 0 (taskset -c 0), this load generator pinned to core 1.
- The same rows written straight into the store (no HTTP, no decoding) on core 0: the ceiling.
- Peak memory (VmHWM) of the collector under an offered load of 2x what it sustained.
- Query latencies (median, p99) over HTTP on a store of --store-spans spans spread over
  --store-hours: trace by id, trace search, service graph over 15 minutes, operations.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collectors.otlp.convert import convert_logs, convert_traces
from collectors.store.engine import open_store
from collectors.store.writer import LOGS, SPANS, IngestQueue, Retention, Writer
from collectors.telemetry import SelfMetrics
from collectors.testing import CollectorProcess, synthetic_logs, synthetic_spans, to_otlp_json

BATCH = 512
TASKSET = ["taskset", "-c", "0"] if shutil.which("taskset") else []


def pin_self_to_core(core: int) -> None:
    if hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > core:  # type: ignore[operator]
        os.sched_setaffinity(0, {core})


def written(url: str) -> dict[str, float]:
    text = get(url, "/metrics")[1].decode()
    out = {}
    for signal in (SPANS, LOGS):
        m = re.search(rf'collectors_written_items_total{{signal="{signal}"}} ([0-9.e+]+)', text)
        out[signal] = float(m.group(1)) if m else 0.0
    return out


def get(url: str, path: str) -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def send_all(url: str, path: str, bodies: list[bytes], content_type: str, threads: int = 4,
             rate_per_s: float | None = None) -> dict[int, int]:
    """POST every body (retrying 429/503 after a short pause); returns status counts seen."""
    parts = urlsplit(url)
    lock = threading.Lock()
    todo = list(reversed(bodies))
    statuses: dict[int, int] = {}
    interval = threads / rate_per_s if rate_per_s else 0.0

    def worker() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        next_at = time.perf_counter()
        while True:
            with lock:
                if not todo:
                    break
                body = todo.pop()
            while True:
                if interval:
                    delay = next_at - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    next_at += interval
                conn.request("POST", path, body=body, headers={"Content-Type": content_type})
                r = conn.getresponse()
                r.read()
                with lock:
                    statuses[r.status] = statuses.get(r.status, 0) + 1
                if r.status == 200:
                    break
                if r.status not in (429, 503):
                    raise RuntimeError(f"unexpected status {r.status}")
                if not interval:
                    time.sleep(0.05)
        conn.close()

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return statuses


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def end_to_end(tmp: Path, signal: str, bodies: list[bytes], items: int, content_type: str) -> tuple[float, float]:
    """Wall-clock rate and rate per CPU-second of the collector (what one free core would do)."""
    db = tmp / f"e2e-{signal}-{content_type.split('/')[-1]}.db"
    with CollectorProcess("--db-path", str(db), "--retention-hours", "0", prefix=TASKSET) as proc:
        path = "/v1/traces" if signal == SPANS else "/v1/logs"
        cpu0 = cpu_seconds(proc.pid)
        start = time.perf_counter()
        statuses = send_all(proc.url, path, bodies, content_type)
        while written(proc.url)[signal] < items:
            time.sleep(0.01)
        elapsed = time.perf_counter() - start
        cpu = cpu_seconds(proc.pid) - cpu0
    pushed_back = sum(n for s, n in statuses.items() if s != 200)
    print(f"  {signal:5} {content_type:24} {items:>8} items in {elapsed:6.2f}s = {items / elapsed:>9,.0f}/s wall,"
          f" {items / cpu:>9,.0f}/s per CPU-second of the collector (429/503 answers: {pushed_back})", flush=True)
    return items / elapsed, items / cpu


def ceiling(tmp: Path, signal: str, rows_batches: list[list[tuple[Any, ...]]]) -> float:
    """Rows straight into the store through the real writer, on core 0."""
    pin_self_to_core(0)
    db = tmp / f"ceiling-{signal}.db"
    store = open_store(f"sqlite:///{db}")
    queue = IngestQueue(10**9)
    writer = Writer(store, queue, SelfMetrics(), Retention(max_age_s=0, interval_s=1e9))
    n = sum(len(b) for b in rows_batches)
    start = time.perf_counter()
    cpu0 = time.process_time()
    for rows in rows_batches:
        queue.offer(signal, rows)
    queue.close()
    writer.start()
    writer.join()
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    store.dispose()
    pin_self_to_core(1)
    print(f"  {signal:5} direct store write        {n:>8} items in {elapsed:6.2f}s = {n / elapsed:>9,.0f}/s wall,"
          f" {n / cpu:>9,.0f}/s per CPU-second", flush=True)
    return n / elapsed, n / cpu


def peak_memory(tmp: Path, bodies: list[bytes], sustained: float, seconds: float) -> None:
    rate = 2 * sustained / BATCH  # requests per second
    n = int(rate * seconds)
    todo = (bodies * (n // len(bodies) + 1))[:n]
    # Re-sent bodies carry the same ids; the store ignores duplicates, the load is the same.
    with CollectorProcess("--db-path", str(tmp / "overload.db"), "--retention-hours", "0", prefix=TASKSET) as proc:
        start = time.perf_counter()
        statuses = send_all(proc.url, "/v1/traces", todo, "application/x-protobuf", threads=8, rate_per_s=rate)
        elapsed = time.perf_counter() - start
        status = Path(f"/proc/{proc.pid}/status").read_text()
        # The collector is the child of taskset (exec'd), so proc.pid is the collector itself.
        hwm = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]
    print(f"  offered {2 * sustained:,.0f} spans/s (2x) for {elapsed:.1f}s: answers {statuses}; "
          f"collector peak RSS {hwm / 1024:.0f} MiB", flush=True)


SERVICES = [("frontend", "POST /checkout"), ("checkout", "POST /checkout"), ("cart", "GET /cart"),
            ("payment", "POST /pay"), ("shipping", "POST /quote"), ("orders", "POST /orders"),
            ("catalog", "GET /products"), ("recommendation", "GET /recommend")]
TRACE_SHAPE = [(0, None), (1, 0), (2, 1), (3, 1), (4, 1), (5, 1), (6, 0), (7, 6)]  # (service, parent index)


def synthetic_store_rows(n_spans: int, hours: float, seed: int = 7) -> Any:
    """Batches of span rows for 8-span checkout-like traces spread evenly over the last ``hours``."""
    rng = random.Random(seed)
    now = time.time_ns()
    span_ns = int(hours * 3600e9)
    n_traces = n_spans // len(TRACE_SHAPE)
    batch: list[tuple[Any, ...]] = []
    for t in range(n_traces):
        trace_id = f"{rng.getrandbits(128):032x}"
        t0 = now - span_ns + t * span_ns // n_traces
        ids = [f"{rng.getrandbits(64):016x}" for _ in TRACE_SHAPE]
        error = rng.random() < 0.02
        for i, (svc, parent) in enumerate(TRACE_SHAPE):
            service, name = SERVICES[svc]
            start = t0 + i * 1_000_000
            dur = rng.randint(1_000_000, 50_000_000) // (1 + i)
            status = 2 if error and i in (1, 3) else 0
            batch.append((trace_id, ids[i], ids[parent] if parent is not None else "", name, 2, service, "v1",
                          f"{service}-v1-1", start, start + dur, dur, status, "",
                          f'{{"http.response.status_code":{500 if status else 200}}}', None, None,
                          f'{{"service.name":"{service}","service.version":"v1","service.instance.id":"{service}-v1-1"}}',
                          "fleet"))
            if len(batch) == 8192:
                yield batch
                batch = []
    if batch:
        yield batch


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def query_latencies(tmp: Path, n_spans: int, hours: float, runs: int) -> None:
    db = tmp / "big.db"
    store = open_store(f"sqlite:///{db}")
    queue = IngestQueue(10**10)
    writer = Writer(store, queue, SelfMetrics(), Retention(max_age_s=0, interval_s=1e9), batch_items=50_000)
    writer.start()
    start = time.perf_counter()
    trace_ids: list[str] = []
    for rows in synthetic_store_rows(n_spans, hours):
        if len(trace_ids) < 5000:
            trace_ids.extend(rows[i][0] for i in range(0, len(rows), 800))
        queue.offer(SPANS, rows)
        while queue.depth > 200_000:
            time.sleep(0.01)
    queue.close()
    writer.join()
    store.dispose()
    elapsed = time.perf_counter() - start
    print(f"  built a store of {n_spans:,} spans over {hours}h in {elapsed:.0f}s "
          f"({n_spans / elapsed:,.0f} spans/s; file {db.stat().st_size / 2**30:.2f} GiB)", flush=True)
    with CollectorProcess("--db-path", str(db), "--retention-hours", "0", prefix=TASKSET) as proc:
        url = proc.url
        now = time.time()

        def q(path: str, **params: Any) -> Callable[[], Any]:
            full = path + ("?" + urlencode(params, doseq=True) if params else "")

            def call() -> None:
                status, body = get(url, full)
                assert status == 200, (full, status, body[:200])
            return call

        cases = [
            ("trace by id", lambda: q(f"/api/traces/{random.choice(trace_ids)}")(), runs),
            ("trace search, newest 20", q("/api/traces", limit=20), runs),
            ("trace search, service=payment status=error", q("/api/traces", service="payment", status="error"), runs),
            ("trace search, min_duration_ms=20, last 1h", q("/api/traces", min_duration_ms=20, start=now - 3600), runs),
            ("trace search, attr status 500", q("/api/traces", attr="http.response.status_code=500"), runs),
            ("service graph, 15 min", q("/api/service-graph", start=now - 900, end=now), max(5, runs // 10)),
            ("operations of checkout, 15 min", q("/api/services/checkout/operations", start=now - 900, end=now),
             max(5, runs // 10)),
        ]
        spans_15m = n_spans * 900 / (hours * 3600)
        for name, fn, n in cases:
            med, p99 = timed(fn, n)
            print(f"  {name:46} median {med:8.1f} ms   p99 {p99:8.1f} ms   ({n} runs, load {os.getloadavg()[0]:.1f})",
              flush=True)
        print(f"  (a 15-minute window holds about {spans_15m:,.0f} spans)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, default=400, help="batches of 512 per protobuf end-to-end run")
    p.add_argument("--json-batches", type=int, default=100, help="batches of 512 per JSON end-to-end run")
    p.add_argument("--store-spans", type=int, default=1_000_000, help="size of the store for query latencies")
    p.add_argument("--store-hours", type=float, default=24.0, help="time those spans are spread over")
    p.add_argument("--query-runs", type=int, default=200)
    p.add_argument("--overload-seconds", type=float, default=15.0)
    p.add_argument("--skip-queries", action="store_true")
    p.add_argument("--only-queries", action="store_true", help="just the store-size query latencies")
    p.add_argument("--dir", type=Path, default=None, help="where the SQLite files go (default: a temp dir)")
    a = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="collectors-bench-", dir=a.dir))
    pin_self_to_core(1)
    print(f"collectors ingest benchmark — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{os.cpu_count()} cores, python {sys.version.split()[0]}, collector on core 0, load on core 1", flush=True)
    try:
        if a.only_queries:
            print(f"query latency over HTTP on a store of {a.store_spans:,} spans:", flush=True)
            query_latencies(tmp, a.store_spans, a.store_hours, a.query_runs)
            return
        span_reqs = [synthetic_spans(BATCH) for _ in range(a.batches)]
        log_reqs = [synthetic_logs(BATCH) for _ in range(a.batches)]
        print(f"load average before: {os.getloadavg()[0]:.1f} (the machine is shared; CPU-second rates are what one "
              "free core would give)", flush=True)
        print("end to end (HTTP in, rows committed), batches of 512:", flush=True)
        pb_spans = end_to_end(tmp, SPANS, [r.SerializeToString() for r in span_reqs], a.batches * BATCH,
                              "application/x-protobuf")
        pb_logs = end_to_end(tmp, LOGS, [r.SerializeToString() for r in log_reqs], a.batches * BATCH,
                             "application/x-protobuf")
        end_to_end(tmp, SPANS, [to_otlp_json(r) for r in span_reqs[: a.json_batches]], a.json_batches * BATCH,
                   "application/json")
        end_to_end(tmp, LOGS, [to_otlp_json(r) for r in log_reqs[: a.json_batches]], a.json_batches * BATCH,
                   "application/json")
        print("ceiling (the same rows straight into the store, no HTTP, no decoding):", flush=True)
        span_ceiling = ceiling(tmp, SPANS, [convert_traces(r).rows for r in span_reqs])
        log_ceiling = ceiling(tmp, LOGS, [convert_logs(r).rows for r in log_reqs])
        print(f"  end-to-end / ceiling, wall: spans {pb_spans[0] / span_ceiling[0]:.0%}, "
              f"logs {pb_logs[0] / log_ceiling[0]:.0%}; per CPU-second: spans {pb_spans[1] / span_ceiling[1]:.0%}, "
              f"logs {pb_logs[1] / log_ceiling[1]:.0%}", flush=True)
        print("peak memory under 2x overload (protobuf spans):", flush=True)
        peak_memory(tmp, [r.SerializeToString() for r in span_reqs], pb_spans[0], a.overload_seconds)
        del span_reqs, log_reqs
        if not a.skip_queries:
            print(f"query latency over HTTP on a store of {a.store_spans:,} spans:", flush=True)
            query_latencies(tmp, a.store_spans, a.store_hours, a.query_runs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
