"""The whole shop in one process (services call each other through a routing transport, no sockets):
pages, the JSON API, and the load generator's journeys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from fleet.loadgen import JourneyMix, LoadError, arun_load
from fleet.loadgen.report import Report, percentile
from fleet.loadgen.runner import check_target
from fleet.testing import in_process_fleet

CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"}
ADDRESS = {"street": "1 Main St", "city": "Springfield", "zip": "12345", "country": "US"}


@pytest.fixture
def shop(tmp_path: Path) -> tuple[dict[str, Any], httpx.AsyncBaseTransport, dict[str, str]]:
    return in_process_fleet(tmp_path)  # type: ignore[return-value]


async def test_api_journey_ends_in_an_order(shop: Any) -> None:
    apps, transport, urls = shop
    async with httpx.AsyncClient(transport=transport, base_url=urls["frontend"],
                                 headers={"X-Session-Id": "s-1"}) as c:
        assert (await c.post("/api/cart/items", json={"product_id": "telescope", "quantity": 2})).status_code == 201
        cart = (await c.get("/api/cart")).json()
        assert cart["subtotal_cents"] == 2 * 34995
        r = await c.post("/api/checkout", json={"email": "a@b.c", "address": ADDRESS, "card": CARD})
        assert r.status_code == 201, r.text
        order_id = r.json()["order_id"]
        assert (await c.get("/api/cart")).json()["items"] == []
        assert [o["order_id"] for o in (await c.get("/api/orders")).json()["items"]] == [order_id]
        declined = await c.post("/api/checkout", json={"email": "a@b.c", "address": ADDRESS,
                                                       "card": {**CARD, "number": "4000000000000002"}})
        assert declined.status_code == 400 and declined.json()["error"]["code"] == "cart_empty"
        await c.post("/api/cart/items", json={"product_id": "mug"})
        declined = await c.post("/api/checkout", json={"email": "a@b.c", "address": ADDRESS,
                                                       "card": {**CARD, "number": "4000000000000002"}})
        assert declined.status_code == 402 and declined.json()["error"]["details"]["decline_code"] == "card_declined"
        assert (await c.post("/api/cart/items", json={"product_id": "nope"})).status_code == 404
        assert (await c.get("/api/cart", headers={"X-Session-Id": "bad id!"})).status_code == 400
    metrics = (await _get(apps["frontend"], "/metrics")).text
    assert 'route="/api/cart/items"' in metrics and 'route="/api/checkout"' in metrics


async def test_pages_render_and_the_form_checkout_redirects_to_the_order(shop: Any) -> None:
    _, transport, urls = shop
    async with httpx.AsyncClient(transport=transport, base_url=urls["frontend"]) as c:
        home = await c.get("/", params={"q": "vintage"})
        assert home.status_code == 200 and "Vintage Typewriter" in home.text and "Mug" not in home.text
        product = await c.get("/product/mug")
        assert product.status_code == 200 and "You may also like" in product.text
        assert (await c.get("/product/nope")).status_code == 404
        added = await c.post("/cart", data={"product_id": "mug", "quantity": "2"})
        assert added.status_code == 303 and added.headers["location"] == "/cart"
        c.cookies.set("session_id", added.cookies["session_id"])
        assert "$17.98" in (await c.get("/cart")).text
        assert "Place order" in (await c.get("/checkout")).text
        form = {"email": "a@b.c", **ADDRESS, **{k: str(v) for k, v in CARD.items()}}
        placed = await c.post("/checkout", data=form)
        assert placed.status_code == 303 and placed.headers["location"].startswith("/order/ord_")
        confirmation = await c.get(placed.headers["location"])
        assert confirmation.status_code == 200 and "is confirmed" in confirmation.text


async def test_an_upstream_outage_is_a_clear_503_json(shop: Any) -> None:
    _, transport, urls = shop
    transport.unregister(urls["catalog"].removeprefix("http://"))
    async with httpx.AsyncClient(transport=transport, base_url=urls["frontend"]) as c:
        r = await c.get("/api/products")
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "upstream_unavailable" and "catalog" in r.json()["error"]["message"]
        assert (await c.get("/")).status_code == 503


async def test_loadgen_journeys_through_the_shop(shop: Any) -> None:
    _, transport, urls = shop
    report = await arun_load(urls["frontend"], rate=200, duration=5, max_journeys=12, seed=3, transport=transport,
                             mix=JourneyMix(checkout_ratio=1.0, decline_ratio=0.25))
    d = report.to_dict()
    assert d["journeys"]["started"] == 12 and d["journeys"]["completed"] == 12 and d["errors"] == 0
    assert d["journeys"]["orders"] + d["journeys"]["declined"] == 12 and d["journeys"]["declined"] >= 1
    assert d["steps"]["checkout"]["statuses"] == {"201": d["journeys"]["orders"], "402": d["journeys"]["declined"]}
    assert set(d["steps"]) >= {"home", "search", "product", "add_to_cart", "view_cart", "checkout"}
    assert "checkout" in report.to_table()


async def test_loadgen_counts_failed_journeys_when_the_shop_errs(shop: Any) -> None:
    apps, transport, urls = shop
    apps["cart"].state.kit.faults.configure(apps["cart"].state.kit.faults.config.__class__(error_rate=1.0))
    report = await arun_load(urls["frontend"], rate=200, duration=5, max_journeys=4, seed=1, transport=transport)
    assert report.journeys_failed == 4 and report.step("add_to_cart").statuses == {"502": 4}


@pytest.mark.parametrize("target", ["http://example.com:8080", "https://127.0.0.1", "ftp://127.0.0.1", "http://10.0.0.1"])
def test_loadgen_only_targets_loopback(target: str) -> None:
    with pytest.raises(LoadError):
        check_target(target)


async def test_loadgen_rejects_unbounded_runs() -> None:
    for rate, duration in ((0, 1), (5, 0), (5, 10**9), (10**6, 1)):
        with pytest.raises(LoadError):
            await arun_load("http://127.0.0.1:1", rate, duration)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(x) for x in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 99)) == (50.0, 95.0, 99.0)
    assert percentile([], 50) is None
    r = Report("http://127.0.0.1", 1, 1)
    r.step("home").record("200", 5.0)
    r.step("home").record("error:ConnectError", 1.0)
    assert r.error_requests() == 1 and r.requests == 2


async def _get(app: Any, path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        return await c.get(path)
