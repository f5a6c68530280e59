"""Entry point: ``python -m collectors --host 127.0.0.1 --port 4318 --db-url URL``.

The control plane starts this as a child process with exactly these flags; keep them stable.
Once listening it prints one line ``collectors listening on http://HOST:PORT`` to stdout (useful
with ``--port 0``). SIGTERM or SIGINT stops it gracefully: no new requests, in-flight ones finish,
and every acknowledged item is committed before exit.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import socket
import sys
from pathlib import Path

import uvicorn

from collectors.api.app import create_app
from collectors.config import CollectorConfig
from collectors.store.writer import Retention


def parse_args(argv: list[str] | None = None) -> tuple[CollectorConfig, str]:
    """Command-line flags to a CollectorConfig and the log level."""
    d = CollectorConfig()
    r = Retention()
    p = argparse.ArgumentParser(prog="python -m collectors", description="Fleetdeck OTLP collectors")
    p.add_argument("--host", default=d.host, help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=d.port, help="port to bind; 0 picks a free one (default 4318)")
    p.add_argument("--db-url", default="", help="SQLAlchemy URL of the telemetry store (sqlite:/// or postgresql://)")
    p.add_argument("--db-path", type=Path, default=d.db_path, help="SQLite file when --db-url is not given")
    p.add_argument("--db-schema", default=d.db_schema, help="PostgreSQL schema for the tables (default telemetry)")
    p.add_argument("--max-body-bytes", type=int, default=d.max_body_bytes)
    p.add_argument("--max-decompressed-bytes", type=int, default=d.max_decompressed_bytes)
    p.add_argument("--queue-capacity", type=int, default=d.queue_capacity,
                   help="items accepted but not yet committed before answering 429")
    p.add_argument("--batch-items", type=int, default=d.batch_items, help="most items per write transaction")
    p.add_argument("--retention-hours", type=float, default=r.max_age_s / 3600, help="0 keeps forever")
    p.add_argument("--retention-max-spans", type=int, default=r.max_spans, help="0 = no limit")
    p.add_argument("--retention-max-logs", type=int, default=r.max_logs, help="0 = no limit")
    p.add_argument("--retention-interval", type=float, default=r.interval_s, help="seconds between passes")
    p.add_argument("--log-level", default="warning")
    a = p.parse_args(argv)
    return CollectorConfig(
        host=a.host, port=a.port, db_url=a.db_url, db_path=a.db_path, db_schema=a.db_schema,
        max_body_bytes=a.max_body_bytes, max_decompressed_bytes=a.max_decompressed_bytes,
        queue_capacity=a.queue_capacity, batch_items=a.batch_items,
        retention=Retention(max_age_s=a.retention_hours * 3600, max_spans=a.retention_max_spans,
                            max_logs=a.retention_max_logs, interval_s=a.retention_interval),
    ), a.log_level


def main(argv: list[str] | None = None) -> int:
    config, log_level = parse_args(argv)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    sock = socket.socket(socket.AF_INET6 if ":" in config.host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((config.host, config.port))
    sock.listen(1024)
    port = sock.getsockname()[1]
    config = dataclasses.replace(config, port=port)
    # The socket already listens, so the line printed at start-up (see create_app) is a true
    # "ready" signal: connections made after it queue in the backlog until uvicorn serves them.
    app = create_app(config, announce=True)

    class CollectorServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: object) -> None:
            # Tell never-ending responses (live tail) to finish, so the graceful stop does not wait on them.
            app.state.tail.stopping.set()
            super().handle_exit(sig, frame)  # type: ignore[arg-type]

    server = CollectorServer(uvicorn.Config(
        app, log_level=log_level, access_log=False, lifespan="on",
        timeout_graceful_shutdown=30, limit_concurrency=512,
    ))
    # Uvicorn re-raises the stop signal once it has shut down; with these no-op handlers installed
    # first, that re-raise is harmless and a graceful stop exits 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
