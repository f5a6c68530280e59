"""The fake card processor: Luhn, expiry, CVC, amounts and Stripe-like declining test cards."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest

from fleet.kit.settings import FleetSettings
from fleet.services import payment
from fleet.services import payment_rules as rules

TODAY = dt.date(2026, 11, 27)


def card(number: str = "4242424242424242", month: int = 12, year: int = 2030, cvc: str = "123") -> rules.Card:
    return rules.Card(number, month, year, cvc)


@pytest.mark.parametrize("number, ok", [("4242424242424242", True), ("4242424242424241", False),
                                        ("378282246310005", True), ("79927398713", True), ("79927398710", False)])
def test_luhn(number: str, ok: bool) -> None:
    assert rules.luhn_ok(number) is ok


def test_good_cards_pass() -> None:
    for number in rules.SUCCESS_CARDS:
        cvc = "1234" if rules.brand_of(number) == "amex" else "123"
        assert rules.validate(card(number, cvc=cvc), 1000, "USD", TODAY) is None


@pytest.mark.parametrize("number, code", sorted((n, c) for n, (c, _) in rules.DECLINING_CARDS.items()))
def test_test_cards_decline_with_402(number: str, code: str) -> None:
    decline = rules.validate(card(number), 1000, "USD", TODAY)
    assert decline is not None and (decline.status, decline.code) == (402, code)


@pytest.mark.parametrize("kwargs, amount, currency, status, code, field", [
    ({"number": "4242 4242 4242 4241"}, 1000, "USD", 400, "invalid_number", "card.number"),
    ({"number": "abcd"}, 1000, "USD", 400, "invalid_number", "card.number"),
    ({"month": 13}, 1000, "USD", 400, "invalid_expiry_month", "card.exp_month"),
    ({"month": 10, "year": 2026}, 1000, "USD", 402, "expired_card", "card.exp_year"),
    ({"year": 2099}, 1000, "USD", 400, "invalid_expiry_year", "card.exp_year"),
    ({"cvc": "12"}, 1000, "USD", 400, "invalid_cvc", "card.cvc"),
    ({}, 10, "USD", 400, "amount_too_small", "amount_cents"),
    ({}, rules.MAX_AMOUNT_CENTS + 1, "USD", 400, "amount_too_large", "amount_cents"),
    ({}, 1000, "JPY", 400, "invalid_currency", "currency"),
])
def test_invalid_charges_say_why(kwargs: dict[str, Any], amount: int, currency: str, status: int, code: str,
                                 field: str) -> None:
    decline = rules.validate(card(**kwargs), amount, currency, TODAY)
    assert decline == rules.Decline(status, code, decline.message if decline else "", field)


def test_this_month_is_not_expired_and_two_digit_years_work() -> None:
    assert rules.validate(card(month=11, year=26), 1000, "USD", TODAY) is None


async def test_payment_service_answers_like_a_processor(tmp_path: Path) -> None:
    app = payment.build(FleetSettings(service="payment", data_dir=tmp_path), today=lambda: TODAY)
    good = {"amount_cents": 2397, "currency": "USD",
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.post("/charges", json=good, headers={"Idempotency-Key": "k1"})
        assert r.status_code == 201 and r.json()["last4"] == "4242" and r.json()["brand"] == "visa"
        again = await c.post("/charges", json=good, headers={"Idempotency-Key": "k1"})
        assert again.json()["charge_id"] == r.json()["charge_id"]
        declined = await c.post("/charges", json={**good, "card": {**good["card"], "number": "4000000000000002"}})
        assert declined.status_code == 402
        assert declined.json()["error"] == {"code": "card_declined", "message": "Your card was declined.",
                                            "details": {"decline_code": "card_declined"}}
        bad = await c.post("/charges", json={**good, "card": {**good["card"], "exp_month": "soon"}})
        assert bad.status_code == 400 and bad.json()["error"]["details"]["field"] == "card.exp_month"
        assert (await c.post("/charges", content=b"nope")).status_code == 400
