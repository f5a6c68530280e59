"""Checkout against faked upstreams (httpx.MockTransport): the happy path, declines and outages."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from fleet.kit.settings import FleetSettings
from fleet.services import checkout

UPSTREAMS = {s: f"http://{s}" for s in ("cart", "catalog", "payment", "shipping", "orders")}
ORDER = {"session_id": "s1", "email": "a@b.c", "currency": "USD",
         "address": {"street": "1 Main St", "city": "Springfield", "zip": "12345", "country": "US"},
         "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}}
Handler = Callable[[httpx.Request], httpx.Response]


class FakeShop:
    """Upstreams of checkout as one MockTransport handler; records every call as 'METHOD host path'."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.cart = [{"product_id": "mug", "quantity": 2}, {"product_id": "watch", "quantity": 1}]
        self.overrides: dict[str, Handler] = {}
        self.bodies: dict[str, Any] = {}
        self.headers: list[httpx.Headers] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        key = f"{request.method} {request.url.host} {request.url.path}"
        self.calls.append(key)
        self.headers.append(request.headers)
        if request.content:
            self.bodies[key] = json.loads(request.content)
        if request.url.host in self.overrides:
            return self.overrides[request.url.host](request)
        host, path = request.url.host, request.url.path
        if host == "cart":
            items = [] if request.method == "DELETE" else self.cart
            return httpx.Response(200, json={"session_id": "s1", "items": items})
        if host == "catalog":
            return httpx.Response(200, json={"items": [
                {"id": "mug", "name": "Mug", "price_cents": 899}, {"id": "watch", "name": "Watch", "price_cents": 10999}]})
        if host == "shipping" and path == "/quotes":
            return httpx.Response(200, json={"cost_cents": 699, "currency": "USD"})
        if host == "shipping":
            return httpx.Response(201, json={"tracking_id": "TRK1", "cost_cents": 699})
        if host == "payment":
            return httpx.Response(201, json={"charge_id": "ch_1", "last4": "4242"})
        if host == "orders":
            return httpx.Response(201, json={**json.loads(request.content), "created_at": 1.0})
        return httpx.Response(404)


@pytest.fixture
def shop() -> FakeShop:
    return FakeShop()


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def make_app(tmp_path: Path, shop: FakeShop, spans: InMemorySpanExporter) -> Any:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    settings = FleetSettings(service="checkout", data_dir=tmp_path, upstreams=UPSTREAMS)
    return checkout.build(settings, transport=httpx.MockTransport(shop), tracer_provider=provider)


async def post(app: Any, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        return await c.post("/checkout", json=body)


async def test_checkout_prices_charges_ships_records_and_empties(tmp_path: Path, shop: FakeShop,
                                                                 spans: InMemorySpanExporter) -> None:
    r = await post(make_app(tmp_path, shop, spans), ORDER)
    assert r.status_code == 201, r.text
    assert shop.calls == ["GET cart /carts/s1", "GET catalog /products", "POST shipping /quotes",
                          "POST payment /charges", "POST shipping /shipments", "POST orders /orders",
                          "DELETE cart /carts/s1"]
    assert shop.bodies["POST payment /charges"]["amount_cents"] == 2 * 899 + 10999 + 699
    order = shop.bodies["POST orders /orders"]
    assert (order["subtotal_cents"], order["total_cents"], order["charge_id"], order["tracking_id"]) == (
        12797, 13496, "ch_1", "TRK1")
    assert r.json()["order_id"] == order["order_id"]


async def test_every_upstream_call_carries_the_server_spans_trace(tmp_path: Path, shop: FakeShop,
                                                                  spans: InMemorySpanExporter) -> None:
    await post(make_app(tmp_path, shop, spans), ORDER)
    server = [s for s in spans.get_finished_spans() if s.name == "POST /checkout"]
    assert len(server) == 1
    trace_id = format(server[0].context.trace_id, "032x")
    clients = [s for s in spans.get_finished_spans() if s.kind.name == "CLIENT"]
    assert len(clients) == 7 and all(s.parent and s.parent.span_id == server[0].context.span_id for s in clients)
    for headers, client in zip(shop.headers, clients):
        # flags are 01 (sampled) or 03 (sampled + random trace id, W3C level 2); ids must match
        assert headers["traceparent"].startswith(f"00-{trace_id}-{format(client.context.span_id, '016x')}-")


async def test_declined_card_is_402_and_nothing_is_recorded(tmp_path: Path, shop: FakeShop,
                                                            spans: InMemorySpanExporter) -> None:
    shop.overrides["payment"] = lambda req: httpx.Response(402, json={"error": {
        "code": "card_declined", "message": "Your card was declined.", "details": {"decline_code": "card_declined"}}})
    r = await post(make_app(tmp_path, shop, spans), ORDER)
    assert r.status_code == 402
    assert r.json()["error"] == {"code": "payment_declined", "message": "Your card was declined.",
                                 "details": {"decline_code": "card_declined"}}
    assert not any(c.startswith(("POST orders", "DELETE cart", "POST shipping /shipments")) for c in shop.calls)


async def test_invalid_card_is_400_naming_the_field(tmp_path: Path, shop: FakeShop,
                                                    spans: InMemorySpanExporter) -> None:
    shop.overrides["payment"] = lambda req: httpx.Response(400, json={"error": {
        "code": "invalid_number", "message": "bad number", "details": {"field": "card.number"}}})
    r = await post(make_app(tmp_path, shop, spans), ORDER)
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "card.number"


async def test_payment_down_is_503_and_the_span_says_error(tmp_path: Path, shop: FakeShop,
                                                           spans: InMemorySpanExporter) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    shop.overrides["payment"] = refuse
    r = await post(make_app(tmp_path, shop, spans), ORDER)
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "upstream_unavailable" and r.json()["error"]["details"]["upstream"] == "payment"
    by_name = {s.name: s for s in spans.get_finished_spans()}
    assert by_name["POST payment"].status.status_code is StatusCode.ERROR
    assert by_name["POST /checkout"].status.status_code is StatusCode.ERROR


async def test_catalog_5xx_is_502(tmp_path: Path, shop: FakeShop, spans: InMemorySpanExporter) -> None:
    shop.overrides["catalog"] = lambda req: httpx.Response(500, json={"error": {"code": "injected_fault",
                                                                                "message": "boom"}})
    r = await post(make_app(tmp_path, shop, spans), ORDER)
    assert r.status_code == 502
    assert r.json()["error"]["details"] == {"upstream": "catalog", "upstream_status": 500,
                                            "upstream_code": "injected_fault"}


async def test_empty_cart_and_bad_input_are_400(tmp_path: Path, shop: FakeShop, spans: InMemorySpanExporter) -> None:
    shop.cart = []
    app = make_app(tmp_path, shop, spans)
    r = await post(app, ORDER)
    assert r.status_code == 400 and r.json()["error"]["code"] == "cart_empty"
    r = await post(app, {**ORDER, "email": "nope"})
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "email"


async def test_product_gone_is_409(tmp_path: Path, shop: FakeShop, spans: InMemorySpanExporter) -> None:
    shop.cart = [{"product_id": "unicorn", "quantity": 1}]
    r = await post(make_app(tmp_path, shop, spans), ORDER)
    assert r.status_code == 409 and r.json()["error"]["details"]["products"] == ["unicorn"]
