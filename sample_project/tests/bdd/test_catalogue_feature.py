"""Feature: customers browse the product catalogue through the JSON API."""

from __future__ import annotations

import unittest

from tests.bdd.support import ShopScenario


class CatalogueFeature(ShopScenario):
    def test_listing_products(self) -> None:
        self.given_a_running_shop()
        self.when_i_get("/api/products")
        self.then_the_status_is(200)
        self.then_the_header_is("Content-Type", "application/json")
        names = [product["name"] for product in self.reply.json()["products"]]
        self.assertEqual(len(names), 5)
        self.assertIn("Enamel mug", names)

    def test_one_product_by_id(self) -> None:
        self.given_a_running_shop()
        self.when_i_get("/api/products/2")
        self.then_the_status_is(200)
        self.then_the_json_includes(id=2, sku="MUG-002", price="12.00", in_stock=True)

    def test_unknown_products_are_not_found(self) -> None:
        self.given_a_running_shop()
        for path in ("/api/products/404", "/api/products/mug"):
            with self.subTest(path=path):
                self.when_i_get(path)
                self.then_the_status_is(404)


if __name__ == "__main__":
    unittest.main()
