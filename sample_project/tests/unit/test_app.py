"""Routing and payloads, exercised without sockets against an in-memory catalogue."""

from __future__ import annotations

import json
import sqlite3
import unittest

from shop import __version__, db
from shop.app import ShopApp, content_type_for, route
from shop.faults import FaultSwitch


def memory_db() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    db.seed(conn)
    return conn


def make_app(faults: FaultSwitch | None = None) -> ShopApp:
    static = {"index.html": b"<!doctype html>", "style.css": b"body{}"}
    return ShopApp("green", memory_db, static, faults)


class RouteTest(unittest.TestCase):
    def test_routes(self) -> None:
        table = {
            "/health": ("health", None),
            "/health?verbose=1": ("health", None),
            "/": ("index", None),
            "/index.html": ("index", None),
            "/static/style.css": ("static", "style.css"),
            "/api/products": ("products", None),
            "/api/products/": ("products", None),
            "/api/products/42": ("product", "42"),
            "/api/products/abc": ("not_found", None),
            "/static/../shop/db.py": ("not_found", None),
            "/static/..%2fdb.py": ("not_found", None),
            "/static/.hidden": ("not_found", None),
            "/nope": ("not_found", None),
        }
        for target, expected in table.items():
            with self.subTest(target=target):
                self.assertEqual(route(target), expected)

    def test_content_types(self) -> None:
        self.assertEqual(content_type_for("a.css"), "text/css; charset=utf-8")
        self.assertEqual(content_type_for("a.HTML"), "text/html; charset=utf-8")
        self.assertEqual(content_type_for("README"), "application/octet-stream")


class ShopAppTest(unittest.TestCase):
    def test_health_names_version_and_colour(self) -> None:
        response = make_app().handle("GET", "/health")
        self.assertEqual(response.status, 200)
        payload = {"status": "ok", "version": __version__, "colour": "green"}
        self.assertEqual(json.loads(response.body), payload)
        self.assertEqual(response.headers["X-Shop-Colour"], "green")

    def test_products_and_one_product(self) -> None:
        app = make_app()
        products = json.loads(app.handle("GET", "/api/products").body)["products"]
        self.assertEqual([p["id"] for p in products], [1, 2, 3, 4, 5])
        one = json.loads(app.handle("GET", "/api/products/3").body)
        self.assertEqual(one["price"], "34.99")
        self.assertEqual(app.handle("GET", "/api/products/99").status, 404)

    def test_static_and_index(self) -> None:
        app = make_app()
        self.assertEqual(app.handle("GET", "/").body, b"<!doctype html>")
        self.assertEqual(app.handle("GET", "/static/style.css").body, b"body{}")
        self.assertEqual(app.handle("GET", "/static/missing.css").status, 404)

    def test_other_methods_are_refused(self) -> None:
        response = make_app().handle("POST", "/api/products")
        self.assertEqual(response.status, 405)
        self.assertEqual(response.headers["Allow"], "GET, HEAD")

    def test_injected_faults_answer_500_even_on_health(self) -> None:
        response = make_app(FaultSwitch(1.0)).handle("GET", "/health")
        self.assertEqual(response.status, 500)
        self.assertEqual(json.loads(response.body)["error"], "injected fault")


if __name__ == "__main__":
    unittest.main()
