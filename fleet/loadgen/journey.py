"""One shopper journey against the storefront: home, search, product, add to cart, cart, checkout."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import httpx

from fleet.loadgen.report import Report

SEARCH_TERMS = ("vintage", "mug", "telescope", "glass", "watch", "plant", "star", "lens", "kitchen", "bike")
GOOD_CARDS = ("4242424242424242", "5555555555554444")
DECLINED_CARDS = ("4000000000000002", "4000000000009995")
ADDRESSES = ({"street": "1600 Amphitheatre Parkway", "city": "Mountain View", "zip": "94043", "country": "US"},
             {"street": "10 Downing Street", "city": "London", "zip": "SW1A 2AA", "country": "GB"})


@dataclass(frozen=True)
class JourneyMix:
    """How shoppers behave."""

    checkout_ratio: float = 0.8  # share of journeys that go on to check out
    decline_ratio: float = 0.1  # share of checkouts paid with a card that declines


class StepFailed(Exception):
    """A step answered something the journey cannot go on from."""


async def _step(client: httpx.AsyncClient, report: Report, name: str, method: str, url: str,
                expect: tuple[int, ...] = (200,), **kw: object) -> httpx.Response:
    started = time.perf_counter()
    try:
        resp = await client.request(method, url, **kw)  # type: ignore[arg-type]
    except httpx.HTTPError as exc:
        report.step(name).record(f"error:{type(exc).__name__}", (time.perf_counter() - started) * 1000)
        raise StepFailed(name) from exc
    report.step(name).record(str(resp.status_code), (time.perf_counter() - started) * 1000)
    if resp.status_code not in expect:
        raise StepFailed(name)
    return resp


async def run_journey(client: httpx.AsyncClient, report: Report, rng: random.Random, mix: JourneyMix) -> None:
    """Run one journey, recording every request in ``report``; StepFailed stops it."""
    headers = {"X-Session-Id": f"lg-{rng.getrandbits(64):016x}"}
    await _step(client, report, "home", "GET", "/")
    found = await _step(client, report, "search", "GET", "/api/products",
                        params={"q": rng.choice(SEARCH_TERMS)})
    items = found.json().get("items", [])
    if not items:
        items = (await _step(client, report, "search", "GET", "/api/products")).json().get("items", [])
    product = rng.choice(items)["id"]
    await _step(client, report, "product", "GET", f"/product/{product}")
    await _step(client, report, "add_to_cart", "POST", "/api/cart/items", expect=(201,), headers=headers,
                json={"product_id": product, "quantity": rng.randint(1, 3)})
    await _step(client, report, "view_cart", "GET", "/api/cart", headers=headers)
    if rng.random() >= mix.checkout_ratio:
        return
    declined = rng.random() < mix.decline_ratio
    card = {"number": rng.choice(DECLINED_CARDS if declined else GOOD_CARDS), "exp_month": 12,
            "exp_year": time.gmtime().tm_year + 3, "cvc": "123"}
    resp = await _step(client, report, "checkout", "POST", "/api/checkout", expect=(402,) if declined else (201,),
                       headers=headers, json={"email": "shopper@example.com", "address": rng.choice(ADDRESSES),
                                              "card": card})
    if declined:
        report.declined += 1
        await _step(client, report, "empty_cart", "DELETE", "/api/cart", headers=headers)
    else:
        report.orders += 1
        await _step(client, report, "order", "GET", f"/api/orders/{resp.json()['order_id']}")
