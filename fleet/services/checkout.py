"""checkout: places an order — reads the cart, prices it via catalog, charges payment, books
shipping, records the order in orders and empties the cart. Stateless itself.

A declined card is answered 402 ``payment_declined`` (details.decline_code from payment); an
invalid card 400 with the payment's code; an upstream outage 502/503 (see fleet/kit/errors.py).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel, Field

from fleet.kit import (
    BadRequest,
    Conflict,
    ServiceError,
    ServiceKit,
    UpstreamResponse,
    Upstreams,
    create_app,
    kit_of,
)
from fleet.kit.errors import UpstreamFailed
from fleet.kit.settings import FleetSettings
from fleet.services.cart import SESSION_RE
from fleet.services.shipping import Address


class Card(BaseModel):
    number: str = Field(min_length=1, max_length=32)
    exp_month: int
    exp_year: int
    cvc: str = Field(min_length=1, max_length=8)


class CheckoutIn(BaseModel):
    session_id: str = Field(pattern=SESSION_RE.pattern)
    email: str = Field(min_length=3, max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")
    address: Address
    card: Card
    currency: str = Field(default="USD", pattern=r"^USD$")


class PaymentDeclined(ServiceError):
    status, code = 402, "payment_declined"


def _expect(resp: UpstreamResponse, service: str, what: str) -> Any:
    """The body of a 2xx answer; any other answer to an internal call is the upstream's fault."""
    if not resp.ok:
        raise UpstreamFailed(f"{service} refused to {what}: {resp.status} {resp.error_code()}",
                             details={"upstream": service, "upstream_status": resp.status,
                                      "upstream_code": resp.error_code()})
    return resp.body


async def place_order(up: Upstreams, req: CheckoutIn, order_id: str | None = None) -> dict[str, Any]:
    """Run the whole checkout; returns the recorded order or raises a ServiceError."""
    order_id = order_id or "ord_" + uuid.uuid4().hex[:16]
    cart = _expect(await up.call("cart", "GET", f"/carts/{req.session_id}"), "cart", "read the cart")
    items = cart.get("items", [])
    if not items:
        raise BadRequest("the cart is empty", code="cart_empty", field="session_id")
    ids = ",".join(i["product_id"] for i in items)
    products = _expect(await up.call("catalog", "GET", "/products", params={"ids": ids}), "catalog", "price")
    by_id = {p["id"]: p for p in products.get("items", [])}
    missing = [i["product_id"] for i in items if i["product_id"] not in by_id]
    if missing:
        raise Conflict(f"products no longer sold: {', '.join(missing)}", code="product_unavailable",
                       details={"products": missing})
    lines = [{"product_id": i["product_id"], "name": by_id[i["product_id"]]["name"], "quantity": i["quantity"],
              "unit_price_cents": by_id[i["product_id"]]["price_cents"]} for i in items]
    subtotal = sum(line["unit_price_cents"] * line["quantity"] for line in lines)
    ship_items = [{"product_id": i["product_id"], "quantity": i["quantity"]} for i in items]
    address = req.address.model_dump()
    quote = _expect(await up.call("shipping", "POST", "/quotes", json={"items": ship_items, "address": address}),
                    "shipping", "quote")
    total = subtotal + quote["cost_cents"]
    charge = await up.call("payment", "POST", "/charges",
                           json={"amount_cents": total, "currency": req.currency, "card": req.card.model_dump()})
    if charge.status == 402:
        raise PaymentDeclined(charge.error_message() or "the card was declined",
                              details={"decline_code": charge.error_code()})
    if charge.status == 400:
        field = (charge.body or {}).get("error", {}).get("details", {}).get("field")
        raise BadRequest(charge.error_message(), code=charge.error_code(), field=field)
    paid = _expect(charge, "payment", "charge")
    shipment = _expect(await up.call("shipping", "POST", "/shipments",
                                     json={"items": ship_items, "address": address, "order_ref": order_id}),
                       "shipping", "ship")
    order = _expect(await up.call("orders", "POST", "/orders", json={
        "order_id": order_id, "session_id": req.session_id, "email": req.email, "items": lines,
        "subtotal_cents": subtotal, "shipping_cents": quote["cost_cents"], "total_cents": total,
        "currency": req.currency, "charge_id": paid["charge_id"], "tracking_id": shipment["tracking_id"]}),
        "orders", "record the order")
    _expect(await up.call("cart", "DELETE", f"/carts/{req.session_id}"), "cart", "empty the cart")
    return dict(order)


router = APIRouter()


@router.post("/checkout", status_code=201)
async def checkout(body: CheckoutIn, kit: Annotated[ServiceKit, Depends(kit_of)]) -> dict[str, Any]:
    return await place_order(kit.upstreams, body)


def build(settings: FleetSettings, **kit_options: Any) -> FastAPI:
    return create_app("checkout", settings=settings, routers=[router], **kit_options)
