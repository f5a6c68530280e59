"""recommendation: products related to the ones viewed or in the cart, from catalog (stateless)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query

from fleet.kit import ServiceKit, create_app, kit_of
from fleet.kit.errors import UpstreamFailed
from fleet.kit.settings import FleetSettings

router = APIRouter()
KitDep = Annotated[ServiceKit, Depends(kit_of)]


def rank(products: list[dict[str, Any]], seen: set[str], limit: int) -> list[dict[str, Any]]:
    """Products not already seen, those sharing most categories with the seen ones first, then by id."""
    seen_categories: set[str] = set()
    for p in products:
        if p["id"] in seen:
            seen_categories.update(p.get("categories", []))
    candidates = [p for p in products if p["id"] not in seen]
    candidates.sort(key=lambda p: (-len(seen_categories & set(p.get("categories", []))), p["id"]))
    return candidates[:limit]


@router.get("/recommendations")
async def recommendations(kit: KitDep, product_ids: Annotated[str, Query(max_length=2000)] = "",
                          limit: Annotated[int, Query(ge=1, le=20)] = 4) -> dict[str, Any]:
    """Up to ``limit`` products related to the comma-separated ``product_ids``."""
    resp = await kit.upstreams.call("catalog", "GET", "/products", params={"limit": 100})
    if not resp.ok or not isinstance(resp.body, dict):
        raise UpstreamFailed(f"catalog answered {resp.status}", details={"upstream": "catalog"})
    seen = {p for p in product_ids.split(",") if p}
    return {"items": rank(resp.body.get("items", []), seen, limit)}


def build(settings: FleetSettings, **kit_options: Any) -> FastAPI:
    return create_app("recommendation", settings=settings, routers=[router], **kit_options)
