"""Feature: a release demo can make an instance go bad on purpose, and heal it, at runtime."""

from __future__ import annotations

import unittest

from tests.bdd.support import ShopScenario


class FaultSwitchFeature(ShopScenario):
    def test_touching_the_fault_file_fails_requests_until_it_is_removed(self) -> None:
        fault = self.workdir / "fault"
        self.given_a_running_shop(fault_file=str(fault))
        self.when_i_get("/health")
        self.then_the_status_is(200)

        fault.touch()
        self.when_i_get("/health")
        self.then_the_status_is(500)
        self.then_the_json_includes(error="injected fault")

        fault.unlink()
        self.when_i_get("/health")
        self.then_the_status_is(200)

    def test_a_fail_rate_fails_that_share_of_requests(self) -> None:
        self.given_a_running_shop(fail_rate=0.25)
        statuses = [self.when_i_get("/api/products").status for _ in range(20)]
        self.assertEqual(statuses.count(500), 5)
        self.assertEqual(statuses.count(200), 15)


if __name__ == "__main__":
    unittest.main()
