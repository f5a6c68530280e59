"""The fake card processor's rules: pure functions, deterministic, modelled on Stripe's test cards.

Order of checks: amount and currency (400), card number format and Luhn (400 ``invalid_number``),
expiry fields (400) and date (402 ``expired_card``), CVC format (400 ``invalid_cvc``), then the
special test numbers that decline (402). Any other Luhn-valid number is charged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

MAX_AMOUNT_CENTS = 99_999_999  # $999,999.99, Stripe's limit
MIN_AMOUNT_CENTS = 50
CURRENCIES = ("USD", "EUR", "GBP")

# number -> (code, message), answered 402 like a card_error.
DECLINING_CARDS: dict[str, tuple[str, str]] = {
    "4000000000000002": ("card_declined", "Your card was declined."),
    "4000000000009995": ("insufficient_funds", "Your card has insufficient funds."),
    "4000000000009987": ("lost_card", "Your card was declined (reported lost)."),
    "4000000000009979": ("stolen_card", "Your card was declined (reported stolen)."),
    "4000000000000069": ("expired_card", "Your card has expired."),
    "4000000000000127": ("incorrect_cvc", "Your card's security code is incorrect."),
    "4000000000000119": ("processing_error", "An error occurred while processing your card. Try again."),
    "4100000000000019": ("fraudulent", "Your card was declined (blocked as fraudulent)."),
}
SUCCESS_CARDS = ("4242424242424242", "5555555555554444", "378282246310005", "6011111111111117")


@dataclass(frozen=True)
class Card:
    number: str
    exp_month: int
    exp_year: int
    cvc: str


@dataclass(frozen=True)
class Decline:
    """Why a charge was refused: HTTP status, stable code, message, and the offending field."""

    status: int
    code: str
    message: str
    field: str | None = None


@dataclass(frozen=True)
class Charge:
    charge_id: str
    amount_cents: int
    currency: str
    brand: str
    last4: str


def luhn_ok(number: str) -> bool:
    """True when ``number`` (digits only) passes the Luhn checksum."""
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def brand_of(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in ("51", "52", "53", "54", "55") or "2221" <= number[:4] <= "2720":
        return "mastercard"
    if number[:2] in ("34", "37"):
        return "amex"
    if number.startswith(("6011", "65")):
        return "discover"
    return "unknown"


def normalise_number(raw: str) -> str:
    """Strip spaces and dashes a shopper may type."""
    return raw.replace(" ", "").replace("-", "")


def validate(card: Card, amount_cents: int, currency: str, today: dt.date) -> Decline | None:
    """Return why this charge fails, or None when it goes through."""
    if amount_cents < MIN_AMOUNT_CENTS:
        return Decline(400, "amount_too_small", f"amount must be at least {MIN_AMOUNT_CENTS} cents", "amount_cents")
    if amount_cents > MAX_AMOUNT_CENTS:
        return Decline(400, "amount_too_large", f"amount must be at most {MAX_AMOUNT_CENTS} cents", "amount_cents")
    if currency.upper() not in CURRENCIES:
        return Decline(400, "invalid_currency", f"currency must be one of {', '.join(CURRENCIES)}", "currency")
    number = normalise_number(card.number)
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return Decline(400, "invalid_number", "The card number is not a valid card number.", "card.number")
    if not luhn_ok(number):
        return Decline(400, "invalid_number", "The card number is incorrect (checksum).", "card.number")
    if not 1 <= card.exp_month <= 12:
        return Decline(400, "invalid_expiry_month", "The card's expiration month is invalid.", "card.exp_month")
    year = card.exp_year + 2000 if card.exp_year < 100 else card.exp_year
    if year > today.year + 20:
        return Decline(400, "invalid_expiry_year", "The card's expiration year is invalid.", "card.exp_year")
    if (year, card.exp_month) < (today.year, today.month):
        return Decline(402, "expired_card", "Your card has expired.", "card.exp_year")
    cvc_len = 4 if brand_of(number) == "amex" else 3
    if not card.cvc.isdigit() or len(card.cvc) != cvc_len:
        return Decline(400, "invalid_cvc", f"The card's security code must be {cvc_len} digits.", "card.cvc")
    if number in DECLINING_CARDS:
        code, message = DECLINING_CARDS[number]
        return Decline(402, code, message)
    return None


def charge_id(number: str, amount_cents: int, idempotency: str) -> str:
    """A stable charge id: the same request (same idempotency key) gives the same id."""
    digest = hashlib.sha256(f"{number}|{amount_cents}|{idempotency}".encode()).hexdigest()
    return "ch_" + digest[:24]
