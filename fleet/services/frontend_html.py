"""Server-rendered pages of the storefront: pure functions from data to HTML (escaped)."""

from __future__ import annotations

from html import escape
from typing import Any

TEST_CARD = "4242 4242 4242 4242"


def money(cents: int, currency: str = "USD") -> str:
    symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(currency, currency + " ")
    return f"{symbol}{cents // 100:,}.{cents % 100:02d}"


def layout(title: str, body: str, cart_count: int | None = None) -> str:
    cart = f"Cart ({cart_count})" if cart_count is not None else "Cart"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)} · Fleet Shop</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:auto;padding:1rem}}
.grid{{display:grid;grid-template-columns:repeat(auto-fill,minmax(12rem,1fr));gap:1rem}}
.card{{border:1px solid #ddd;border-radius:.5rem;padding:.75rem}} .error{{color:#b00020}}
header{{display:flex;justify-content:space-between;align-items:center}}</style></head>
<body><header><a href="/"><strong>Fleet Shop</strong></a>
<form action="/" method="get"><input name="q" placeholder="Search" aria-label="Search"></form>
<a href="/cart">{cart}</a></header><main>
<h1>{escape(title)}</h1>
{body}
</main></body></html>"""


def product_cards(products: list[dict[str, Any]]) -> str:
    cards = "".join(
        f'<div class="card"><a href="/product/{escape(p["id"])}">{escape(p["name"])}</a>'
        f'<p>{money(p["price_cents"], p.get("currency", "USD"))}</p></div>' for p in products)
    return f'<div class="grid">{cards}</div>' if cards else "<p>No products found.</p>"


def home_page(products: list[dict[str, Any]], q: str | None) -> str:
    title = f"Results for “{q}”" if q else "Products"
    return layout(title, product_cards(products))


def product_page(product: dict[str, Any], related: list[dict[str, Any]]) -> str:
    body = f"""<p>{escape(product["description"])}</p>
<p><strong>{money(product["price_cents"], product.get("currency", "USD"))}</strong></p>
<form action="/cart" method="post"><input type="hidden" name="product_id" value="{escape(product["id"])}">
<label>Quantity <input type="number" name="quantity" value="1" min="1" max="99"></label>
<button type="submit">Add to cart</button></form>
<h2>You may also like</h2>{product_cards(related)}"""
    return layout(product["name"], body)


def cart_page(lines: list[dict[str, Any]], subtotal_cents: int) -> str:
    if not lines:
        return layout("Your cart", '<p>Your cart is empty. <a href="/">Continue shopping</a></p>', 0)
    rows = "".join(f'<tr><td>{escape(x["name"])}</td><td>{x["quantity"]}</td>'
                   f'<td>{money(x["unit_price_cents"] * x["quantity"])}</td></tr>' for x in lines)
    body = (f'<table><tr><th>Product</th><th>Qty</th><th>Price</th></tr>{rows}</table>'
            f'<p>Subtotal: <strong>{money(subtotal_cents)}</strong></p><p><a href="/checkout">Checkout</a></p>')
    return layout("Your cart", body, sum(x["quantity"] for x in lines))


def checkout_page(error: str | None = None) -> str:
    err = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    body = f"""{err}<form action="/checkout" method="post">
<fieldset><legend>Contact</legend><label>Email <input name="email" value="shopper@example.com"></label></fieldset>
<fieldset><legend>Address</legend><label>Street <input name="street" value="1600 Amphitheatre Parkway"></label>
<label>City <input name="city" value="Mountain View"></label><label>ZIP <input name="zip" value="94043"></label>
<label>Country <input name="country" value="US" maxlength="2"></label></fieldset>
<fieldset><legend>Card</legend><label>Number <input name="number" value="{TEST_CARD}"></label>
<label>Month <input name="exp_month" value="12"></label><label>Year <input name="exp_year" value="2030"></label>
<label>CVC <input name="cvc" value="123"></label></fieldset>
<button type="submit">Place order</button></form>"""
    return layout("Checkout", body)


def order_page(order: dict[str, Any]) -> str:
    rows = "".join(f'<li>{x["quantity"]} × {escape(x["name"])}</li>' for x in order.get("items", []))
    body = f"""<p>Thank you! Order <code>{escape(order["order_id"])}</code> is confirmed.</p><ul>{rows}</ul>
<p>Total: <strong>{money(order["total_cents"], order.get("currency", "USD"))}</strong>
(shipping {money(order["shipping_cents"])}). Tracking: <code>{escape(order["tracking_id"])}</code></p>
<p><a href="/">Continue shopping</a></p>"""
    return layout("Order confirmed", body, 0)


def error_page(status: int, message: str) -> str:
    return layout("Something went wrong" if status >= 500 else "Sorry",
                  f'<p class="error" role="alert">{escape(message)}</p><p><a href="/">Back to the shop</a></p>')
