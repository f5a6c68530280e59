"""Latency and throughput of the control-plane API on one core: an authenticated read and an audited write.

    .venv/bin/python benchmarks/api_latency.py [--stores sqlite,postgresql] [--requests 2000] [--seconds 10]

For each store it migrates a fresh control store (temp SQLite file, or a fresh database on the local
PostgreSQL that is dropped afterwards), starts the API in a child process pinned to CPU 0 with
``taskset -c 0`` (uvicorn, one worker, access log off), pins itself to the other CPU, and measures:

- read:  ``GET /api/v1/users/{name}`` with an admin API token (token lookup + constant-time check + row)
- write: ``PATCH /api/v1/users/{name}`` with If-Match (role toggles), which the front door audits

Latency: one keep-alive connection, sequential requests (median, p99). Throughput: ``--concurrency``
connections for ``--seconds`` each (writes: one user per connection, so no 412s). Rate limits are
raised out of the way. A benchmark, not a test: it prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from control_plane.api.roles import Role
from control_plane.api.security import hash_password, mint_token
from control_plane.store.auth_repo import TokenRepo, UserRepo
from control_plane.store.db import make_engine, make_sessionmaker
from control_plane.store.migrate import upgrade

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


# --- the server (child process) ----------------------------------------------------------------

def serve(db_url: str, port: int, state_dir: str) -> None:
    import uvicorn

    from control_plane.api.app import create_app
    from control_plane.api.context import AppContext
    from control_plane.api.conventions import ApiLimits
    from control_plane.settings import load_settings

    settings = load_settings({}, db_url=db_url, state_dir=Path(state_dir), api_port=port)
    engine = make_engine(db_url)
    limits = ApiLimits(mutation_rate=1e9, mutation_burst=1_000_000_000)
    ctx = AppContext(settings=settings, sessions=make_sessionmaker(engine), extras={"api_limits": limits})
    uvicorn.run(create_app(ctx), host="127.0.0.1", port=port, log_level="warning", access_log=False,
                lifespan="off")


# --- the driver --------------------------------------------------------------------------------

@contextmanager
def store(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        tmp = tempfile.mkdtemp(prefix="fd-bench-")
        try:
            url = f"sqlite:///{tmp}/control.db"
            upgrade(url)
            yield url
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    admin = make_url(PG_ADMIN)
    name = f"fd_bench_{secrets.token_hex(4)}"
    conninfo = f"host={admin.host} port={admin.port or 5432} user={admin.username} dbname={admin.database}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = admin.set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed(url: str, users: int) -> str:
    """An admin token, and ``users`` users to read and write."""
    engine = make_engine(url)
    with make_sessionmaker(engine)() as s:
        new = mint_token()
        TokenRepo(s).create(token_id=new.token_id, secret_hash=new.secret_hash, kind="api", name="bench",
                            owner="bench", role=Role.ADMIN.label, expires_at=None)
        pw = hash_password("bench-password")
        for i in range(users):
            UserRepo(s).create(f"bench-{i}", pw, "viewer")
        s.commit()
    engine.dispose()
    return new.secret


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(url: str) -> Iterator[str]:
    port = free_port()
    state = tempfile.mkdtemp(prefix="fd-bench-state-")
    cmd = [sys.executable, __file__, "serve", "--db-url", url, "--port", str(port), "--state-dir", state]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "0", *cmd]
    proc = subprocess.Popen(cmd, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # imports are slow on a busy machine
        while True:
            try:
                if httpx.get(base + "/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the API server did not start")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(state, ignore_errors=True)


class Writer:
    """PATCHes one user's role back and forth, carrying the ETag along."""

    def __init__(self, client: httpx.Client, user: str) -> None:
        self.client, self.user = client, user
        self.etag = client.get(f"/api/v1/users/{user}").headers["etag"]
        self.n = 0

    def __call__(self) -> httpx.Response:
        self.n += 1
        role = "operator" if self.n % 2 else "viewer"
        resp = self.client.patch(f"/api/v1/users/{self.user}", json={"role": role, "reason": "benchmark"},
                                 headers={"If-Match": self.etag})
        self.etag = resp.headers.get("etag", self.etag)
        return resp


def latencies(call, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        resp = call()
        out.append(time.perf_counter() - t0)
        if resp.status_code != 200:
            raise RuntimeError(f"unexpected {resp.status_code}: {resp.text[:200]}")
    return out


def throughput(make_call, workers: int, seconds: float) -> float:  # type: ignore[no-untyped-def]
    counts = [0] * workers
    stop = time.monotonic() + seconds
    errors: list[str] = []

    def run(i: int) -> None:
        call = make_call(i)
        while time.monotonic() < stop:
            resp = call()
            if resp.status_code != 200:
                errors.append(f"{resp.status_code} {resp.text[:100]}")
                return
            counts[i] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(errors[0])
    return sum(counts) / (time.monotonic() - t0)


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench(kind: str, requests: int, seconds: float, concurrency: int) -> dict[str, float]:
    with store(kind) as url:
        token = seed(url, users=concurrency + 1)
        with server(url) as base:
            headers = {"Authorization": f"Bearer {token}"}
            clients = [httpx.Client(base_url=base, headers=headers, timeout=30) for _ in range(concurrency + 1)]
            try:
                main = clients[-1]
                read = lambda: main.get("/api/v1/users/bench-0")
                latencies(read, 200)  # warm up
                r = latencies(read, requests)
                write = Writer(main, f"bench-{concurrency}")
                latencies(write, 50)
                w = latencies(write, requests)
                rt = throughput(lambda i: (lambda: clients[i].get(f"/api/v1/users/bench-{i}")), concurrency, seconds)
                writers = [Writer(clients[i], f"bench-{i}") for i in range(concurrency)]
                wt = throughput(lambda i: writers[i], concurrency, seconds)
            finally:
                for c in clients:
                    c.close()
    return {"read_p50_ms": statistics.median(r) * 1e3, "read_p99_ms": p(r, 0.99) * 1e3, "read_rps": rt,
            "write_p50_ms": statistics.median(w) * 1e3, "write_p99_ms": p(w, 0.99) * 1e3, "write_rps": wt}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd")
    s = sub.add_parser("serve")
    s.add_argument("--db-url", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--state-dir", required=True)
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--requests", type=int, default=2000, help="sequential requests per latency run")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each throughput run")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    if args.cmd == "serve":
        serve(args.db_url, args.port, args.state_dir)
        return
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # the load generator stays off the server's core
    print(f"server pinned to CPU 0, client on CPU 1; {args.requests} sequential requests, "
          f"{args.concurrency} connections x {args.seconds:.0f}s for throughput")
    print(f"{'store':<11}{'op':<7}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}")
    for kind in args.stores.split(","):
        res = bench(kind, args.requests, args.seconds, args.concurrency)
        for op in ("read", "write"):
            print(f"{kind:<11}{op:<7}{res[op + '_p50_ms']:>9.2f}{res[op + '_p99_ms']:>9.2f}{res[op + '_rps']:>9.0f}",
                  flush=True)


if __name__ == "__main__":
    main()
