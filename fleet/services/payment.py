"""payment: a deterministic fake card processor (no real money). Rules in payment_rules.py."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from fleet.kit import create_app
from fleet.kit.db import open_db
from fleet.kit.settings import FleetSettings
from fleet.services import payment_rules as rules

SCHEMA = """
CREATE TABLE IF NOT EXISTS charges (
  id TEXT PRIMARY KEY, amount_cents INTEGER NOT NULL, currency TEXT NOT NULL, brand TEXT NOT NULL,
  last4 TEXT NOT NULL, created_at REAL NOT NULL
);
"""


class CardIn(BaseModel):
    number: str = Field(min_length=1, max_length=32)
    exp_month: int
    exp_year: int
    cvc: str = Field(min_length=1, max_length=8)


class ChargeIn(BaseModel):
    amount_cents: int
    currency: str = Field(default="USD", min_length=3, max_length=3)
    card: CardIn


async def _state(request: Request) -> Any:
    return request.app.state


router = APIRouter()


@router.post("/charges", status_code=201)
async def create_charge(body: ChargeIn, state: Annotated[Any, Depends(_state)],
                        idempotency_key: Annotated[str | None, Header(max_length=128)] = None) -> Any:
    """Charge a card; 402 for declines, 400 for invalid input, 201 with the charge otherwise."""
    card = rules.Card(body.card.number, body.card.exp_month, body.card.exp_year, body.card.cvc)
    today: dt.date = state.today()
    decline = rules.validate(card, body.amount_cents, body.currency, today)
    if decline is not None:
        details: dict[str, Any] = {"decline_code": decline.code}
        if decline.field:
            details["field"] = decline.field
        return JSONResponse({"error": {"code": decline.code, "message": decline.message, "details": details}},
                            status_code=decline.status)
    number = rules.normalise_number(card.number)
    charge = rules.Charge(charge_id=rules.charge_id(number, body.amount_cents, idempotency_key or uuid.uuid4().hex),
                          amount_cents=body.amount_cents, currency=body.currency.upper(),
                          brand=rules.brand_of(number), last4=number[-4:])
    conn: sqlite3.Connection = state.conn
    conn.execute("INSERT OR IGNORE INTO charges VALUES (?,?,?,?,?,?)",
                 (charge.charge_id, charge.amount_cents, charge.currency, charge.brand, charge.last4, time.time()))
    return {"charge_id": charge.charge_id, "amount_cents": charge.amount_cents, "currency": charge.currency,
            "brand": charge.brand, "last4": charge.last4, "status": "succeeded"}


def build(settings: FleetSettings, *, conn: sqlite3.Connection | None = None,
          today: Callable[[], dt.date] = lambda: dt.datetime.now(dt.UTC).date(), **kit_options: Any) -> FastAPI:
    """The payment app; ``today`` is injectable so expiry checks are testable."""
    conn = conn or open_db(settings.data_dir, "payment", SCHEMA)
    conn.executescript(SCHEMA)
    app = create_app("payment", settings=settings, routers=[router], on_shutdown=[conn.close], **kit_options)
    app.state.conn = conn
    app.state.today = today
    return app
