"""catalog: products (seeded into its own SQLite file) with lookup and search."""

from __future__ import annotations

import json
import sqlite3
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request

from fleet.kit import NotFound, create_app
from fleet.kit.db import open_db
from fleet.kit.settings import FleetSettings
from fleet.services.catalog_data import PRODUCTS

SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL,
  price_cents INTEGER NOT NULL, currency TEXT NOT NULL DEFAULT 'USD', categories TEXT NOT NULL
);
"""


class CatalogStore:
    """All data access of the catalog."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def seed(self) -> None:
        """Insert the seeded products that are missing (idempotent)."""
        self.conn.executemany(
            "INSERT OR IGNORE INTO products (id, name, description, price_cents, categories) VALUES (?,?,?,?,?)",
            [(p["id"], p["name"], p["description"], p["price_cents"], json.dumps(p["categories"])) for p in PRODUCTS])

    def get(self, product_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM products WHERE id = ?", (product_id,)).fetchone()
        return _public(row) if row else None

    def many(self, ids: list[str]) -> list[dict[str, Any]]:
        marks = ",".join("?" * len(ids))
        rows = self.conn.execute(f"SELECT * FROM products WHERE id IN ({marks}) ORDER BY id", ids).fetchall()
        return [_public(r) for r in rows]

    def search(self, q: str | None, category: str | None, limit: int) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM products WHERE 1=1", []
        if q:
            sql += " AND (lower(name) LIKE ? OR lower(description) LIKE ?)"
            args += [f"%{q.lower()}%"] * 2
        if category:
            sql += " AND categories LIKE ?"
            args.append(f'%"{category}"%')
        rows = self.conn.execute(sql + " ORDER BY name LIMIT ?", [*args, limit]).fetchall()
        return [_public(r) for r in rows]


def _public(row: sqlite3.Row) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "description": row["description"],
            "price_cents": row["price_cents"], "currency": row["currency"], "categories": json.loads(row["categories"])}


async def _store(request: Request) -> CatalogStore:
    store: CatalogStore = request.app.state.store
    return store


StoreDep = Annotated[CatalogStore, Depends(_store)]
router = APIRouter()


@router.get("/products")
async def list_products(store: StoreDep, q: Annotated[str | None, Query(max_length=100)] = None,
                        category: Annotated[str | None, Query(max_length=50)] = None,
                        ids: Annotated[str | None, Query(max_length=2000, description="comma-separated ids")] = None,
                        limit: Annotated[int, Query(ge=1, le=100)] = 50) -> dict[str, Any]:
    """Search products by text and category, or fetch several by id."""
    if ids is not None:
        wanted = [i for i in ids.split(",") if i][:100]
        return {"items": store.many(wanted) if wanted else []}
    return {"items": store.search(q, category, limit)}


@router.get("/products/{product_id}")
async def get_product(product_id: str, store: StoreDep) -> dict[str, Any]:
    product = store.get(product_id)
    if product is None:
        raise NotFound(f"no product {product_id!r}", details={"field": "product_id"})
    return product


def build(settings: FleetSettings, *, conn: sqlite3.Connection | None = None, **kit_options: Any) -> FastAPI:
    """The catalog app; ``conn`` overrides its SQLite file (tests)."""
    store = CatalogStore(conn or open_db(settings.data_dir, "catalog", SCHEMA))
    if conn is not None:
        store.conn.executescript(SCHEMA)
    store.seed()
    app = create_app("catalog", settings=settings, routers=[router], on_shutdown=[store.conn.close], **kit_options)
    app.state.store = store
    return app
