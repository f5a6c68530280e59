"""The single writer: a bounded ingest queue and the thread that drains it into the store.

Receivers ``offer`` converted rows; when the queue holds ``capacity`` un-committed items the offer is
refused and the receiver answers 429 (backpressure) — memory stays bounded and nothing is dropped
silently. The writer thread takes up to ``batch_items`` at a time, writes them in one transaction
(executemany of prepared tuples), and only then counts them out of the queue. ``close`` stops new
offers and ``join`` waits until every accepted item is committed, which is what SIGTERM relies on.
Retention runs in the same thread so SQLite never sees two writers.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from collectors.otlp.convert import LOG_COLUMNS, SPAN_COLUMNS
from collectors.store.engine import Store
from collectors.telemetry import SelfMetrics

log = logging.getLogger("collectors.writer")

SPANS = "spans"
LOGS = "logs"
_SERVICE_COL = SPAN_COLUMNS.index("service")
_VERSION_COL = SPAN_COLUMNS.index("service_version")
_LOG_SERVICE_COL = LOG_COLUMNS.index("service")
_LOG_VERSION_COL = LOG_COLUMNS.index("service_version")


@dataclass(frozen=True)
class Retention:
    """Keep items younger than ``max_age_s`` and at most ``max_spans`` / ``max_logs`` of them (0 = no limit)."""

    max_age_s: float = 7 * 24 * 3600.0
    max_spans: int = 0
    max_logs: int = 0
    interval_s: float = 30.0
    delete_chunk: int = 50_000


class QueueClosed(Exception):
    """The queue no longer takes offers (the collector is stopping)."""


class IngestQueue:
    """A bounded FIFO of (signal, rows) counted in items, shared by the receivers and the writer."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: collections.deque[tuple[str, list[tuple[Any, ...]]]] = collections.deque()
        self._cond = threading.Condition()
        self._depth = 0  # items offered and not yet committed (queued + being written)
        self._closed = False

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def closed(self) -> bool:
        return self._closed

    def offer(self, signal: str, rows: list[tuple[Any, ...]]) -> bool:
        """Queue rows unless that would pass capacity (an empty queue takes any one batch)."""
        with self._cond:
            if self._closed:
                raise QueueClosed()
            if self._depth and self._depth + len(rows) > self.capacity:
                return False
            self._items.append((signal, rows))
            self._depth += len(rows)
            self._cond.notify()
            return True

    def take(self, max_items: int, timeout: float, linger: float = 0.0) -> list[tuple[str, list[tuple[Any, ...]]]]:
        """Up to about ``max_items`` items in whole batches.

        Waits up to ``timeout`` for the first batch, then up to ``linger`` more for the rest to
        build up: fewer, larger transactions cost much less per row (acknowledgements do not wait
        for the commit, so lingering adds no latency a client sees).
        """
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            if self._items and linger > 0:
                deadline = time.monotonic() + linger
                while not self._closed and self._queued_items() < max_items:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
            out: list[tuple[str, list[tuple[Any, ...]]]] = []
            n = 0
            while self._items and (not out or n + len(self._items[0][1]) <= max_items):
                batch = self._items.popleft()
                out.append(batch)
                n += len(batch[1])
            return out

    def _queued_items(self) -> int:
        return sum(len(rows) for _, rows in self._items)

    def done(self, n: int) -> None:
        """Mark ``n`` taken items as committed."""
        with self._cond:
            self._depth -= n

    def close(self) -> None:
        """Refuse further offers and wake the writer so it can drain and stop."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def drained(self) -> bool:
        with self._cond:
            return self._closed and not self._items


class Writer(threading.Thread):
    """Drains an IngestQueue into the store, one transaction per batch; also enforces retention."""

    def __init__(
        self,
        store: Store,
        queue: IngestQueue,
        metrics: SelfMetrics,
        retention: Retention | None = None,
        batch_items: int = 8192,
        linger_s: float = 0.1,
        on_logs: Callable[[Sequence[tuple[Any, ...]]], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name="collectors-writer", daemon=True)
        self.store = store
        self.queue = queue
        self.metrics = metrics
        self.retention = retention or Retention()
        self.batch_items = batch_items
        self.linger_s = linger_s
        self.on_logs = on_logs
        self.clock = clock
        self._services: dict[tuple[str, str], int] = {}
        self._services_dirty = False
        self._last_services_flush = 0.0
        self._last_retention = clock()
        self._span_sql, self._log_sql = self._insert_statements()
        self.failed = threading.Event()

    def _insert_statements(self) -> tuple[str, str]:
        t = self.store.tables
        pg = self.store.dialect == "postgresql"
        mark = "%s" if pg else "?"

        def name(table: Any) -> str:
            return f'"{table.schema}"."{table.name}"' if table.schema else table.name

        spans = (f"INSERT {'' if pg else 'OR IGNORE '}INTO {name(t.spans)} ({', '.join(SPAN_COLUMNS)}) "
                 f"VALUES ({', '.join([mark] * len(SPAN_COLUMNS))})" + (" ON CONFLICT DO NOTHING" if pg else ""))
        logs = (f"INSERT INTO {name(t.logs)} ({', '.join(LOG_COLUMNS)}) "
                f"VALUES ({', '.join([mark] * len(LOG_COLUMNS))})")
        return spans, logs

    def run(self) -> None:
        while True:
            batches = self.queue.take(self.batch_items, timeout=0.5, linger=self.linger_s)
            if batches:
                self._write_with_retry(batches)
            elif self.queue.drained():
                break
            self._maybe_flush_services()
            self._maybe_retain()
        self._maybe_flush_services(force=True)

    def _write_with_retry(self, batches: list[tuple[str, list[tuple[Any, ...]]]]) -> None:
        spans: list[tuple[Any, ...]] = []
        logs: list[tuple[Any, ...]] = []
        for signal, rows in batches:
            (spans if signal == SPANS else logs).extend(rows)
        delay = 0.1
        give_up_at: float | None = None
        while True:
            started = time.perf_counter()
            try:
                with self.store.engine.begin() as conn:
                    if spans:
                        conn.exec_driver_sql(self._span_sql, spans)
                    if logs:
                        conn.exec_driver_sql(self._log_sql, logs)
                break
            except Exception:
                self.metrics.write_errors.inc()
                log.exception("batch write failed; retrying in %.1fs", delay)
                if self.queue.closed:
                    # Stopping: keep trying for a while, then count what is lost instead of hanging forever.
                    give_up_at = give_up_at or time.monotonic() + 30
                    if time.monotonic() > give_up_at:
                        self.metrics.dropped.labels(SPANS).inc(len(spans))
                        self.metrics.dropped.labels(LOGS).inc(len(logs))
                        self.failed.set()
                        self.queue.done(len(spans) + len(logs))
                        return
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        elapsed = time.perf_counter() - started
        n = len(spans) + len(logs)
        self.metrics.batch_seconds.observe(elapsed)
        self.metrics.batch_items.observe(n)
        self.metrics.written.labels(SPANS).inc(len(spans))
        self.metrics.written.labels(LOGS).inc(len(logs))
        self.queue.done(n)
        self.metrics.queue_depth.set(self.queue.depth)
        now_ns = int(self.clock() * 1e9)
        for row in spans:
            key = (row[_SERVICE_COL], row[_VERSION_COL])
            if key not in self._services:
                self._services_dirty = True
            self._services[key] = now_ns
        for row in logs:
            key = (row[_LOG_SERVICE_COL], row[_LOG_VERSION_COL])
            if key not in self._services:
                self._services_dirty = True
            self._services[key] = now_ns
        if logs and self.on_logs is not None:
            try:
                self.on_logs(logs)
            except Exception:
                log.exception("live tail publish failed")

    def _maybe_flush_services(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self._services or not (force or self._services_dirty or now - self._last_services_flush > 10):
            return
        t = self.store.tables.services
        name = f'"{t.schema}"."{t.name}"' if t.schema else t.name
        mark = "%s" if self.store.dialect == "postgresql" else "?"
        sql = (f"INSERT INTO {name} (service, service_version, last_seen_ns) VALUES ({mark}, {mark}, {mark}) "
               "ON CONFLICT (service, service_version) DO UPDATE SET last_seen_ns = excluded.last_seen_ns")
        try:
            with self.store.engine.begin() as conn:
                conn.exec_driver_sql(sql, [(s, v, ts) for (s, v), ts in self._services.items()])
            self._services_dirty = False
            self._last_services_flush = now
        except Exception:
            log.exception("service list update failed")

    def _maybe_retain(self) -> None:
        now = self.clock()
        if now - self._last_retention < self.retention.interval_s:
            return
        self._last_retention = now
        try:
            self.enforce_retention(now)
        except Exception:
            log.exception("retention pass failed")

    def enforce_retention(self, now: float) -> dict[str, int]:
        """Delete items older than max age, then the oldest beyond the size limits; returns counts."""
        r = self.retention
        t = self.store.tables
        deleted = {"spans_age": 0, "logs_age": 0, "spans_size": 0, "logs_size": 0}
        if r.max_age_s > 0:
            cutoff = int((now - r.max_age_s) * 1e9)
            deleted["spans_age"] = self._delete_before(t.spans, t.spans.c.start_ns, cutoff)
            deleted["logs_age"] = self._delete_before(t.logs, t.logs.c.time_ns, cutoff)
        for table, col, limit, key in ((t.spans, t.spans.c.start_ns, r.max_spans, "spans_size"),
                                       (t.logs, t.logs.c.time_ns, r.max_logs, "logs_size")):
            if limit <= 0:
                continue
            with self.store.engine.connect() as conn:
                total = conn.execute(select(func.count()).select_from(table)).scalar_one()
                if total <= limit:
                    continue
                cutoff = conn.execute(
                    select(col).order_by(col.asc()).offset(total - limit).limit(1)).scalar_one_or_none()
            if cutoff is not None:
                deleted[key] = self._delete_before(table, col, cutoff)
        for key, n in deleted.items():
            if n:
                signal, rule = key.split("_")
                self.metrics.retention_deleted.labels(signal, rule).inc(n)
        return deleted

    def _delete_before(self, table: Any, col: Any, cutoff: int) -> int:
        """Delete rows with ``col < cutoff`` in chunks so queries and ingest are not blocked for long."""
        total = 0
        while True:
            with self.store.engine.begin() as conn:
                bound = conn.execute(
                    select(col).where(col < cutoff).order_by(col.asc())
                    .offset(self.retention.delete_chunk - 1).limit(1)).scalar_one_or_none()
                upper = cutoff if bound is None else bound + 1
                n = conn.execute(table.delete().where(col < upper)).rowcount or 0
            total += n
            if bound is None or n == 0:
                return total
