"""Feature: the storefront page and its static files are served, and nothing else on disk is."""

from __future__ import annotations

import unittest

from tests.bdd.support import ShopScenario


class StorefrontFeature(ShopScenario):
    def test_home_page(self) -> None:
        self.given_a_running_shop()
        self.when_i_get("/")
        self.then_the_status_is(200)
        self.then_the_header_is("Content-Type", "text/html; charset=utf-8")
        self.assertIn(b"<title>shop</title>", self.reply.body)

    def test_static_files_with_their_types(self) -> None:
        self.given_a_running_shop()
        for name, content_type in (
            ("style.css", "text/css; charset=utf-8"),
            ("app.js", "text/javascript; charset=utf-8"),
        ):
            with self.subTest(name=name):
                self.when_i_get(f"/static/{name}")
                self.then_the_status_is(200)
                self.then_the_header_is("Content-Type", content_type)

    def test_paths_outside_static_are_refused(self) -> None:
        self.given_a_running_shop()
        for path in ("/static/..%2f__init__.py", "/static/%2e%2e/db.py", "/static/missing.css"):
            with self.subTest(path=path):
                self.when_i_get(path)
                self.then_the_status_is(404)


if __name__ == "__main__":
    unittest.main()
