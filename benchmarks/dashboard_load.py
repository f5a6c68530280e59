"""Dashboard page-load benchmark in headless Chromium against a running stack (not a timed test).

For each page it measures, over several loads in a fresh browser context (cold cache, signed-in
cookies), the time from navigation start until
- ``shell``: the page frame and title are visible (``#main-content``), and
- ``data``: the page shows data fetched from the API (its freshness label says "refreshed"),
and the bytes the page downloaded (encoded sizes from the DevTools network events, websocket
frames excluded). Prints a Markdown table with medians.

    .venv/bin/python benchmarks/dashboard_load.py --url http://127.0.0.1:3000 \\
        --user admin --password "$FLEETDECK_ADMIN_PASSWORD" --runs 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
PAGES = [("overview", "/"), ("service", "/service?name=cart"), ("traces", "/traces"), ("logs", "/logs"),
         ("rollouts", "/rollouts"), ("audit", "/audit"), ("tokens", "/tokens"), ("login", "/login")]
FRESH_JS = "() => (document.querySelector('#freshness')?.innerText || '').includes('refreshed')"


def signed_in_state(browser: Any, base: str, user: str, password: str) -> dict:
    """Cookies and storage of a session signed in through the login form."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("#sign-in")
    page.wait_for_selector("#page-title", timeout=30_000)
    state = context.storage_state()
    context.close()
    return state


def one_load(browser: Any, base: str, path: str, state: dict | None, timeout_ms: int) -> dict[str, float]:
    """Load ``path`` once in a fresh context; returns shell and data times (s) and bytes."""
    context = browser.new_context(viewport={"width": 1366, "height": 768}, storage_state=state)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    received = {"bytes": 0.0}
    cdp.on("Network.loadingFinished", lambda e: received.__setitem__("bytes", received["bytes"] +
                                                                      e.get("encodedDataLength", 0)))
    start = time.perf_counter()
    page.goto(f"{base}{path}", wait_until="commit")
    page.wait_for_selector("#main-content", state="visible", timeout=timeout_ms)
    shell = time.perf_counter() - start
    data = float("nan")
    if path != "/login":
        page.wait_for_function(FRESH_JS, timeout=timeout_ms, polling=50)
        data = time.perf_counter() - start
    page.wait_for_timeout(300)  # let late requests finish before counting bytes
    context.close()
    return {"shell": shell, "data": data, "bytes": received["bytes"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:3000")
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timeout-ms", type=int, default=30_000)
    parser.add_argument("--pages", default="", help="comma-separated page names (default: all)")
    args = parser.parse_args(argv)
    base = args.url.rstrip("/")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            state = signed_in_state(browser, base, args.user, args.password)
            print(f"dashboard {base}, {args.runs} cold loads per page, medians\n")
            print("| page | main content visible | data shown | downloaded |")
            print("|---|---|---|---|")
            wanted = {p for p in args.pages.split(",") if p}
            for name, path in [p for p in PAGES if not wanted or p[0] in wanted]:
                runs = [one_load(browser, base, path, None if path == "/login" else state, args.timeout_ms)
                        for _ in range(args.runs)]
                shell = statistics.median(r["shell"] for r in runs)
                data_runs = [r["data"] for r in runs if r["data"] == r["data"]]
                data = f"{statistics.median(data_runs) * 1000:.0f} ms" if data_runs else "—"
                size = statistics.median(r["bytes"] for r in runs)
                print(f"| {name} (`{path}`) | {shell * 1000:.0f} ms | {data} | {size / 1024:.0f} KiB |", flush=True)
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
