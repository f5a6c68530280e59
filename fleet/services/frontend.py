"""frontend: the storefront — server-rendered pages for people and a JSON API (``/api``) for the
load generator. Stateless: the session id lives in a cookie (pages) or ``X-Session-Id`` (API).

Upstream answers are relayed with their status (404 stays 404, a declined card 402); outages
become 502/503 through the kit's error handling.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Cookie, Depends, FastAPI, Header, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from fleet.kit import BadRequest, ServiceError, ServiceKit, UpstreamResponse, Upstreams, create_app, kit_of
from fleet.kit.settings import FleetSettings
from fleet.services import frontend_html as html
from fleet.services.cart import SESSION_RE

COOKIE = "session_id"
KitDep = Annotated[ServiceKit, Depends(kit_of)]


class Relayed(ServiceError):
    """An upstream's own 4xx answer, passed on to the shopper unchanged."""

    def __init__(self, resp: UpstreamResponse) -> None:
        super().__init__(resp.error_message() or f"upstream answered {resp.status}", code=resp.error_code(),
                         status=resp.status,
                         details=(resp.body or {}).get("error", {}).get("details", {}) if isinstance(resp.body, dict)
                         else {})


def _ok(resp: UpstreamResponse) -> Any:
    if not resp.ok:
        raise Relayed(resp)
    return resp.body


async def priced_cart(up: Upstreams, session_id: str) -> tuple[list[dict[str, Any]], int]:
    """Cart lines with names and prices from catalog, and the subtotal."""
    cart = _ok(await up.call("cart", "GET", f"/carts/{session_id}"))
    items = cart.get("items", [])
    if not items:
        return [], 0
    ids = ",".join(i["product_id"] for i in items)
    products = {p["id"]: p for p in _ok(await up.call("catalog", "GET", "/products", params={"ids": ids}))["items"]}
    lines = [{"product_id": i["product_id"], "quantity": i["quantity"],
              "name": products.get(i["product_id"], {}).get("name", i["product_id"]),
              "unit_price_cents": products.get(i["product_id"], {}).get("price_cents", 0)} for i in items]
    return lines, sum(x["unit_price_cents"] * x["quantity"] for x in lines)


async def add_to_cart(up: Upstreams, session_id: str, product_id: str, quantity: int) -> Any:
    """Check the product exists in catalog, then add it to the cart."""
    _ok(await up.call("catalog", "GET", f"/products/{product_id}"))
    return _ok(await up.call("cart", "POST", f"/carts/{session_id}/items",
                             json={"product_id": product_id, "quantity": quantity}))


# ---------------------------------------------------------------- JSON API (/api)

async def api_session(x_session_id: Annotated[str | None, Header()] = None,
                session_id: Annotated[str | None, Cookie()] = None) -> str:
    sid = x_session_id or session_id
    if not sid or not SESSION_RE.match(sid):
        raise BadRequest("a session id (X-Session-Id header, 1-64 of A-Za-z0-9_-) is required",
                         field="X-Session-Id", code="session_required")
    return sid


SessionDep = Annotated[str, Depends(api_session)]
api = APIRouter(prefix="/api")


@api.get("/products")
async def api_products(kit: KitDep, q: Annotated[str | None, Query(max_length=100)] = None) -> Any:
    return _ok(await kit.upstreams.call("catalog", "GET", "/products", params={"q": q} if q else None))


@api.get("/products/{product_id}")
async def api_product(product_id: str, kit: KitDep) -> Any:
    return _ok(await kit.upstreams.call("catalog", "GET", f"/products/{product_id}"))


@api.get("/recommendations")
async def api_recommendations(kit: KitDep, product_ids: Annotated[str, Query(max_length=2000)] = "") -> Any:
    return _ok(await kit.upstreams.call("recommendation", "GET", "/recommendations",
                                        params={"product_ids": product_ids}))


@api.get("/cart")
async def api_cart(kit: KitDep, sid: SessionDep) -> dict[str, Any]:
    lines, subtotal = await priced_cart(kit.upstreams, sid)
    return {"session_id": sid, "items": lines, "subtotal_cents": subtotal}


@api.post("/cart/items", status_code=201)
async def api_add(kit: KitDep, sid: SessionDep, body: Annotated[dict[str, Any], Body()]) -> Any:
    product_id, quantity = body.get("product_id"), body.get("quantity", 1)
    if not isinstance(product_id, str) or not product_id:
        raise BadRequest("product_id is required", field="product_id")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 99:
        raise BadRequest("quantity must be an integer 1..99", field="quantity")
    return await add_to_cart(kit.upstreams, sid, product_id, quantity)


@api.delete("/cart")
async def api_empty(kit: KitDep, sid: SessionDep) -> Any:
    return _ok(await kit.upstreams.call("cart", "DELETE", f"/carts/{sid}"))


@api.post("/checkout", status_code=201)
async def api_checkout(kit: KitDep, sid: SessionDep, body: Annotated[dict[str, Any], Body()]) -> Any:
    return _ok(await kit.upstreams.call("checkout", "POST", "/checkout", json={**body, "session_id": sid}))


@api.get("/orders")
async def api_orders(kit: KitDep, sid: SessionDep) -> Any:
    return _ok(await kit.upstreams.call("orders", "GET", "/orders", params={"session_id": sid}))


@api.get("/orders/{order_id}")
async def api_order(order_id: str, kit: KitDep) -> Any:
    return _ok(await kit.upstreams.call("orders", "GET", f"/orders/{order_id}"))


# ---------------------------------------------------------------- pages

pages = APIRouter()


def _page(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status)


def _error_page(exc: ServiceError) -> HTMLResponse:
    return _page(html.error_page(exc.status, exc.message), exc.status)


def _session(cookie: str | None) -> tuple[str, bool]:
    if cookie and SESSION_RE.match(cookie):
        return cookie, False
    return uuid.uuid4().hex, True


def _with_cookie(resp: Response, sid: str, new: bool) -> Response:
    if new:
        resp.set_cookie(COOKIE, sid, httponly=True, samesite="lax")
    return resp


@pages.get("/", response_class=HTMLResponse)
async def home(kit: KitDep, q: Annotated[str | None, Query(max_length=100)] = None) -> Response:
    try:
        body = _ok(await kit.upstreams.call("catalog", "GET", "/products", params={"q": q} if q else None))
    except ServiceError as exc:
        return _error_page(exc)
    return _page(html.home_page(body["items"], q))


@pages.get("/product/{product_id}", response_class=HTMLResponse)
async def product(product_id: str, kit: KitDep) -> Response:
    try:
        item = _ok(await kit.upstreams.call("catalog", "GET", f"/products/{product_id}"))
        related = _ok(await kit.upstreams.call("recommendation", "GET", "/recommendations",
                                               params={"product_ids": product_id}))["items"]
    except ServiceError as exc:
        return _error_page(exc)
    return _page(html.product_page(item, related))


@pages.get("/cart", response_class=HTMLResponse)
async def cart(kit: KitDep, session_id: Annotated[str | None, Cookie()] = None) -> Response:
    sid, new = _session(session_id)
    try:
        lines, subtotal = await priced_cart(kit.upstreams, sid)
    except ServiceError as exc:
        return _error_page(exc)
    return _with_cookie(_page(html.cart_page(lines, subtotal)), sid, new)


@pages.post("/cart")
async def cart_add(request: Request, kit: KitDep, session_id: Annotated[str | None, Cookie()] = None) -> Response:
    sid, new = _session(session_id)
    form = await request.form()
    try:
        quantity = int(str(form.get("quantity", "1")))
        if not 1 <= quantity <= 99:
            raise ValueError
    except ValueError:
        return _page(html.error_page(400, "quantity must be a whole number from 1 to 99"), 400)
    try:
        await add_to_cart(kit.upstreams, sid, str(form.get("product_id", "")), quantity)
    except ServiceError as exc:
        return _error_page(exc)
    return _with_cookie(RedirectResponse("/cart", status_code=303), sid, new)


@pages.get("/checkout", response_class=HTMLResponse)
async def checkout_form() -> Response:
    return _page(html.checkout_page())


@pages.post("/checkout")
async def checkout_submit(request: Request, kit: KitDep, session_id: Annotated[str | None, Cookie()] = None) -> Response:
    sid, new = _session(session_id)
    f = await request.form()
    try:
        card = {"number": str(f.get("number", "")), "exp_month": int(str(f.get("exp_month", "0"))),
                "exp_year": int(str(f.get("exp_year", "0"))), "cvc": str(f.get("cvc", ""))}
    except ValueError:
        return _page(html.checkout_page("The expiry month and year must be numbers."), 400)
    body = {"session_id": sid, "email": str(f.get("email", "")), "card": card,
            "address": {k: str(f.get(k, "")) for k in ("street", "city", "zip", "country")}}
    resp = await kit.upstreams.call("checkout", "POST", "/checkout", json=body)
    if not resp.ok:
        return _with_cookie(_page(html.checkout_page(resp.error_message() or resp.error_code()), resp.status), sid, new)
    return _with_cookie(RedirectResponse(f"/order/{resp.body['order_id']}", status_code=303), sid, new)


@pages.get("/order/{order_id}", response_class=HTMLResponse)
async def order(order_id: str, kit: KitDep) -> Response:
    try:
        found = _ok(await kit.upstreams.call("orders", "GET", f"/orders/{order_id}"))
    except ServiceError as exc:
        return _error_page(exc)
    return _page(html.order_page(found))


def build(settings: FleetSettings, **kit_options: Any) -> FastAPI:
    return create_app("frontend", settings=settings, routers=[api, pages], **kit_options)

