"""shipping: quotes (deterministic from item count and country) and shipments with tracking ids."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import BaseModel, Field

from fleet.kit import NotFound, create_app
from fleet.kit.db import open_db
from fleet.kit.settings import FleetSettings

SCHEMA = """
CREATE TABLE IF NOT EXISTS shipments (
  tracking_id TEXT PRIMARY KEY, order_ref TEXT NOT NULL, country TEXT NOT NULL, items INTEGER NOT NULL,
  cost_cents INTEGER NOT NULL, created_at REAL NOT NULL
);
"""
DOMESTIC = "US"
BASE_CENTS, PER_ITEM_CENTS, INTERNATIONAL_CENTS = 499, 100, 1500


class Item(BaseModel):
    product_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=1, le=99)


class Address(BaseModel):
    street: str = Field(min_length=1, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    zip: str = Field(min_length=1, max_length=20)
    country: str = Field(min_length=2, max_length=2)


class QuoteIn(BaseModel):
    items: list[Item] = Field(min_length=1, max_length=100)
    address: Address


class ShipIn(QuoteIn):
    order_ref: str = Field(min_length=1, max_length=64)


def quote_cents(items: list[Item], country: str) -> int:
    """Shipping cost: a base fee, a fee per extra item, and a surcharge outside the US."""
    count = sum(i.quantity for i in items)
    return BASE_CENTS + PER_ITEM_CENTS * (count - 1) + (0 if country.upper() == DOMESTIC else INTERNATIONAL_CENTS)


async def _conn(request: Request) -> sqlite3.Connection:
    conn: sqlite3.Connection = request.app.state.conn
    return conn


ConnDep = Annotated[sqlite3.Connection, Depends(_conn)]
router = APIRouter()


@router.post("/quotes")
async def quote(body: QuoteIn) -> dict[str, Any]:
    days = 3 if body.address.country.upper() == DOMESTIC else 10
    return {"cost_cents": quote_cents(body.items, body.address.country), "currency": "USD", "estimated_days": days}


@router.post("/shipments", status_code=201)
async def ship(body: ShipIn, conn: ConnDep) -> dict[str, Any]:
    """Book a shipment; the tracking id is stable for one order reference."""
    tracking = "TRK" + hashlib.sha256(body.order_ref.encode()).hexdigest()[:12].upper()
    cost = quote_cents(body.items, body.address.country)
    conn.execute("INSERT OR IGNORE INTO shipments VALUES (?,?,?,?,?,?)",
                 (tracking, body.order_ref, body.address.country.upper(), sum(i.quantity for i in body.items),
                  cost, time.time()))
    return {"tracking_id": tracking, "carrier": "FleetPost", "cost_cents": cost, "currency": "USD"}


@router.get("/shipments/{tracking_id}")
async def get_shipment(tracking_id: str, conn: ConnDep) -> dict[str, Any]:
    row = conn.execute("SELECT * FROM shipments WHERE tracking_id = ?", (tracking_id,)).fetchone()
    if row is None:
        raise NotFound(f"no shipment {tracking_id!r}", details={"field": "tracking_id"})
    return {"tracking_id": row["tracking_id"], "order_ref": row["order_ref"], "country": row["country"],
            "items": row["items"], "cost_cents": row["cost_cents"], "status": "in_transit"}


def build(settings: FleetSettings, *, conn: sqlite3.Connection | None = None, **kit_options: Any) -> FastAPI:
    conn = conn or open_db(settings.data_dir, "shipping", SCHEMA)
    conn.executescript(SCHEMA)
    app = create_app("shipping", settings=settings, routers=[router], on_shutdown=[conn.close], **kit_options)
    app.state.conn = conn
    return app
