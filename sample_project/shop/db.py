"""The product catalogue in SQLite: schema, seed data and the two queries the API needs."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    id INTEGER PRIMARY KEY,
    sku TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
    stock INTEGER NOT NULL DEFAULT 0 CHECK (stock >= 0)
);
"""

SEED_PRODUCTS: tuple[tuple[int, str, str, int, int], ...] = (
    (1, "TEA-001", "Assam tea, 250 g", 650, 40),
    (2, "MUG-002", "Enamel mug", 1200, 15),
    (3, "KET-003", "Stovetop kettle", 3499, 6),
    (4, "BIS-004", "Oat biscuits", 299, 120),
    (5, "SPN-005", "Brass spoon", 450, 0),
)


class MissingDatabase(FileNotFoundError):
    """The database file does not exist; the message says how to create it."""


def create(conn: sqlite3.Connection) -> None:
    """Create the schema; safe to run again."""
    conn.executescript(SCHEMA)


def seed(conn: sqlite3.Connection) -> int:
    """Insert or refresh the demo products so seeding twice gives the same catalogue."""
    create(conn)
    with conn:
        conn.executemany(
            "INSERT INTO products (id, sku, name, price_cents, stock) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET sku = excluded.sku, name = excluded.name,"
            " price_cents = excluded.price_cents, stock = excluded.stock",
            SEED_PRODUCTS,
        )
    return len(SEED_PRODUCTS)


def seed_file(path: str | Path) -> int:
    """Create (parent directories too) and seed the database at ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    try:
        return seed(conn)
    finally:
        conn.close()


def connect_readonly(path: str | Path) -> sqlite3.Connection:
    """Open read-only so a serving process can never change or create the catalogue."""
    path = Path(path)
    if not path.is_file():
        raise MissingDatabase(
            f"no database at {path}: create it with `python -m shop.seed --db {path}`"
        )
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    return conn


def _as_dict(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "sku": row["sku"],
        "name": row["name"],
        "price": f"{row['price_cents'] // 100}.{row['price_cents'] % 100:02d}",
        "in_stock": row["stock"] > 0,
    }


def list_products(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """All products, ordered by id."""
    conn.row_factory = sqlite3.Row
    rows = conn.execute("SELECT id, sku, name, price_cents, stock FROM products ORDER BY id")
    return [_as_dict(row) for row in rows]


def get_product(conn: sqlite3.Connection, product_id: int) -> dict[str, Any] | None:
    """One product, or None when the id is unknown."""
    conn.row_factory = sqlite3.Row
    row = conn.execute(
        "SELECT id, sku, name, price_cents, stock FROM products WHERE id = ?", (product_id,)
    ).fetchone()
    return None if row is None else _as_dict(row)
