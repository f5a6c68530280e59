"""The cart service: quantities add up, are bounded, and carts are per session."""

from __future__ import annotations

from pathlib import Path

import httpx

from fleet.kit.settings import FleetSettings
from fleet.services import cart


async def test_cart_adds_bounds_and_empties(tmp_path: Path) -> None:
    app = cart.build(FleetSettings(service="cart", data_dir=tmp_path))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.post("/carts/a/items", json={"product_id": "mug", "quantity": 2})).status_code == 201
        r = await c.post("/carts/a/items", json={"product_id": "mug", "quantity": 3})
        assert r.json()["items"] == [{"product_id": "mug", "quantity": 5}]
        await c.post("/carts/a/items", json={"product_id": "watch"})
        assert (await c.get("/carts/b")).json() == {"session_id": "b", "items": []}  # carts are per session
        over = await c.post("/carts/a/items", json={"product_id": "mug", "quantity": 95})
        assert over.status_code == 400 and over.json()["error"]["code"] == "quantity_limit"
        assert (await c.get("/carts/a")).json()["items"][0]["quantity"] == 5  # nothing half-written
        bad = await c.post("/carts/a/items", json={"product_id": "mug", "quantity": 0})
        assert bad.status_code == 400 and bad.json()["error"]["details"]["field"] == "quantity"
        assert (await c.get("/carts/not%20ok")).status_code == 400
        assert (await c.delete("/carts/a")).json()["items"] == []
    rows = (tmp_path / "cart.sqlite3").exists()
    assert rows  # the cart owns its own SQLite file in FLEET_DATA_DIR
