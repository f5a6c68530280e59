"""orders: order history per session, in its own SQLite file."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from pydantic import BaseModel, Field

from fleet.kit import NotFound, create_app
from fleet.kit.db import open_db
from fleet.kit.settings import FleetSettings

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
  id TEXT PRIMARY KEY, session_id TEXT NOT NULL, email TEXT NOT NULL, total_cents INTEGER NOT NULL,
  currency TEXT NOT NULL, body TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_session ON orders (session_id, created_at);
"""


class Line(BaseModel):
    product_id: str = Field(min_length=1, max_length=64)
    name: str = Field(max_length=200)
    quantity: int = Field(ge=1, le=99)
    unit_price_cents: int = Field(ge=0)


class OrderIn(BaseModel):
    session_id: str = Field(min_length=1, max_length=64)
    email: str = Field(min_length=3, max_length=200)
    items: list[Line] = Field(min_length=1, max_length=100)
    subtotal_cents: int = Field(ge=0)
    shipping_cents: int = Field(ge=0)
    total_cents: int = Field(ge=0)
    currency: str = Field(default="USD", min_length=3, max_length=3)
    charge_id: str = Field(min_length=1, max_length=64)
    tracking_id: str = Field(min_length=1, max_length=64)
    order_id: str | None = Field(default=None, max_length=64)


class OrdersStore:
    """All data access of orders."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def create(self, order: OrderIn, now: float) -> dict[str, Any]:
        order_id = order.order_id or "ord_" + uuid.uuid4().hex[:16]
        doc = order.model_dump()
        doc.update(order_id=order_id, created_at=now)
        self.conn.execute("INSERT OR IGNORE INTO orders VALUES (?,?,?,?,?,?,?)",
                          (order_id, order.session_id, order.email, order.total_cents, order.currency,
                           json.dumps(doc), now))
        found = self.get(order_id)
        assert found is not None
        return found

    def get(self, order_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT body FROM orders WHERE id = ?", (order_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def for_session(self, session_id: str, limit: int) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT body FROM orders WHERE session_id = ? ORDER BY created_at DESC LIMIT ?",
                                 (session_id, limit)).fetchall()
        return [json.loads(r[0]) for r in rows]


async def _store(request: Request) -> OrdersStore:
    store: OrdersStore = request.app.state.store
    return store


StoreDep = Annotated[OrdersStore, Depends(_store)]
router = APIRouter()


@router.post("/orders", status_code=201)
async def create_order(body: OrderIn, store: StoreDep) -> dict[str, Any]:
    """Record an order (idempotent when ``order_id`` is given)."""
    return store.create(body, time.time())


@router.get("/orders")
async def list_orders(store: StoreDep, session_id: Annotated[str, Query(min_length=1, max_length=64)],
                      limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict[str, Any]:
    return {"items": store.for_session(session_id, limit)}


@router.get("/orders/{order_id}")
async def get_order(order_id: str, store: StoreDep) -> dict[str, Any]:
    order = store.get(order_id)
    if order is None:
        raise NotFound(f"no order {order_id!r}", details={"field": "order_id"})
    return order


def build(settings: FleetSettings, *, conn: sqlite3.Connection | None = None, **kit_options: Any) -> FastAPI:
    conn = conn or open_db(settings.data_dir, "orders", SCHEMA)
    conn.executescript(SCHEMA)
    app = create_app("orders", settings=settings, routers=[router], on_shutdown=[conn.close], **kit_options)
    app.state.store = OrdersStore(conn)
    return app
