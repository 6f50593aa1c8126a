"""Feature: an operator (and the release engine) can ask any instance which build it runs."""

from __future__ import annotations

import unittest

from shop import __version__
from tests.bdd.support import ShopScenario


class HealthFeature(ShopScenario):
    def test_health_reports_status_version_and_colour(self) -> None:
        self.given_a_running_shop(colour="green")
        self.when_i_get("/health")
        self.then_the_status_is(200)
        self.then_the_json_includes(status="ok", version=__version__, colour="green")

    def test_every_response_names_the_build_that_served_it(self) -> None:
        self.given_a_running_shop(colour="blue")
        for path in ("/", "/api/products", "/no-such-page"):
            with self.subTest(path=path):
                self.when_i_get(path)
                self.then_the_header_is("X-Shop-Version", __version__)
                self.then_the_header_is("X-Shop-Colour", "blue")


if __name__ == "__main__":
    unittest.main()
