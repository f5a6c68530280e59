"""cart: one cart per session id, in its own SQLite file."""

from __future__ import annotations

import re
import sqlite3
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Request
from pydantic import BaseModel, Field

from fleet.kit import BadRequest, create_app
from fleet.kit.db import open_db
from fleet.kit.settings import FleetSettings

SCHEMA = """
CREATE TABLE IF NOT EXISTS cart_items (
  session_id TEXT NOT NULL, product_id TEXT NOT NULL, quantity INTEGER NOT NULL,
  PRIMARY KEY (session_id, product_id)
);
"""
MAX_QUANTITY = 99
SESSION_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class CartStore:
    """All data access of the cart."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def get(self, session_id: str) -> dict[str, Any]:
        rows = self.conn.execute("SELECT product_id, quantity FROM cart_items WHERE session_id = ? ORDER BY product_id",
                                 (session_id,)).fetchall()
        return {"session_id": session_id, "items": [{"product_id": r[0], "quantity": r[1]} for r in rows]}

    def add(self, session_id: str, product_id: str, quantity: int) -> dict[str, Any]:
        row = self.conn.execute("SELECT quantity FROM cart_items WHERE session_id = ? AND product_id = ?",
                                (session_id, product_id)).fetchone()
        total = (row[0] if row else 0) + quantity
        if total > MAX_QUANTITY:
            raise BadRequest(f"at most {MAX_QUANTITY} of one product per cart (would be {total})",
                             field="quantity", code="quantity_limit")
        self.conn.execute("INSERT INTO cart_items (session_id, product_id, quantity) VALUES (?,?,?) "
                          "ON CONFLICT (session_id, product_id) DO UPDATE SET quantity = excluded.quantity",
                          (session_id, product_id, total))
        return self.get(session_id)

    def empty(self, session_id: str) -> None:
        self.conn.execute("DELETE FROM cart_items WHERE session_id = ?", (session_id,))


class AddItem(BaseModel):
    product_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(default=1, ge=1, le=MAX_QUANTITY)


async def _store(request: Request) -> CartStore:
    store: CartStore = request.app.state.store
    return store


StoreDep = Annotated[CartStore, Depends(_store)]
SessionId = Annotated[str, Path(pattern=SESSION_RE.pattern)]
router = APIRouter()


@router.get("/carts/{session_id}")
async def get_cart(session_id: SessionId, store: StoreDep) -> dict[str, Any]:
    return store.get(session_id)


@router.post("/carts/{session_id}/items", status_code=201)
async def add_item(session_id: SessionId, item: AddItem, store: StoreDep) -> dict[str, Any]:
    return store.add(session_id, item.product_id, item.quantity)


@router.delete("/carts/{session_id}")
async def empty_cart(session_id: SessionId, store: StoreDep) -> dict[str, Any]:
    store.empty(session_id)
    return store.get(session_id)


def build(settings: FleetSettings, *, conn: sqlite3.Connection | None = None, **kit_options: Any) -> FastAPI:
    """The cart app; ``conn`` overrides its SQLite file (tests)."""
    conn = conn or open_db(settings.data_dir, "cart", SCHEMA)
    conn.executescript(SCHEMA)
    store = CartStore(conn)
    app = create_app("cart", settings=settings, routers=[router], on_shutdown=[conn.close], **kit_options)
    app.state.store = store
    return app
