"""Wake-ups for live-tail clients when the writer commits log records.

The writer thread calls ``publish`` after each commit that held logs; every subscriber (one per
SSE client, on the event loop) gets its ``asyncio.Event`` set and then reads the new rows from the
store with its own filters. Reading from the store keeps one filter implementation (SQL) and lets a
client resume with Last-Event-ID; memory does not grow with slow clients.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any


class TailHub:
    """Thread-safe set of (loop, event) pairs to wake when logs are committed."""

    def __init__(self) -> None:
        self._subs: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._lock = threading.Lock()
        self.stopping = threading.Event()

    def subscribe(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Event]:
        sub = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: tuple[asyncio.AbstractEventLoop, asyncio.Event]) -> None:
        with self._lock:
            self._subs.discard(sub)

    def publish(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Called from the writer thread after a commit containing log rows."""
        with self._lock:
            subs = list(self._subs)
        for loop, event in subs:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that loop is closed
                self.unsubscribe((loop, event))
