"""The cart endpoints without sockets: adding counts, refusals, bounded memory."""

from __future__ import annotations

import json
import unittest

from shop.cart import Carts
from tests.unit.test_app import make_app


class CartTest(unittest.TestCase):
    def test_adding_counts_and_carts_are_separate(self) -> None:
        app = make_app()
        for product in (2, 2, 1):
            reply = app.handle("POST", f"/api/carts/tab-1/items/{product}")
        self.assertEqual(reply.status, 200)
        self.assertEqual(json.loads(reply.body)["count"], 3)
        other = json.loads(app.handle("GET", "/api/carts/tab-2").body)
        self.assertEqual(other, {"cart": "tab-2", "items": [], "count": 0})

    def test_refusals(self) -> None:
        app = make_app()
        self.assertEqual(app.handle("POST", "/api/carts/t/items/5").status, 409)  # out of stock
        self.assertEqual(app.handle("POST", "/api/carts/t/items/99").status, 404)
        self.assertEqual(app.handle("GET", "/api/carts/bad%20id").status, 404)
        wrong = app.handle("GET", "/api/carts/t/items/1")
        self.assertEqual((wrong.status, wrong.headers["Allow"]), (405, "POST"))

    def test_the_oldest_cart_goes_past_the_limit(self) -> None:
        carts = Carts(limit=2)
        for name in ("a", "b", "c"):
            carts.add(name, 1)
        self.assertEqual((carts.items("a"), carts.items("c")), ({}, {1: 1}))


if __name__ == "__main__":
    unittest.main()
