"""The catalogue: seeding is repeatable and the queries shape the API's payloads."""

from __future__ import annotations

import sqlite3
import tempfile
import unittest
from pathlib import Path

from shop import db


class DbTest(unittest.TestCase):
    def test_seeding_twice_gives_the_same_catalogue(self) -> None:
        conn = sqlite3.connect(":memory:")
        db.seed(conn)
        first = db.list_products(conn)
        db.seed(conn)
        self.assertEqual(db.list_products(conn), first)
        self.assertEqual(len(first), len(db.SEED_PRODUCTS))

    def test_product_shape(self) -> None:
        conn = sqlite3.connect(":memory:")
        db.seed(conn)
        self.assertEqual(
            db.get_product(conn, 5),
            {"id": 5, "sku": "SPN-005", "name": "Brass spoon", "price": "4.50", "in_stock": False},
        )
        self.assertIsNone(db.get_product(conn, 999))

    def test_readonly_connection_needs_an_existing_file(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "sub" / "shop.db"
            with self.assertRaisesRegex(db.MissingDatabase, "python -m shop.seed"):
                db.connect_readonly(path)
            db.seed_file(path)
            conn = db.connect_readonly(path)
            try:
                self.assertEqual(len(db.list_products(conn)), 5)
                with self.assertRaises(sqlite3.OperationalError):
                    conn.execute("DELETE FROM products")
            finally:
                conn.close()


if __name__ == "__main__":
    unittest.main()
