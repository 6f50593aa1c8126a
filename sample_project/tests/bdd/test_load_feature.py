"""Feature: a burst of concurrent clients is served without connection drops."""

from __future__ import annotations

import unittest
from concurrent.futures import ThreadPoolExecutor

from tests.bdd.support import ShopScenario, http_get

CLIENTS = 48


class LoadFeature(ShopScenario):
    def test_the_listen_backlog_is_raised_above_the_default_of_five(self) -> None:
        self.given_a_running_shop()
        self.assertGreaterEqual(self.server.request_queue_size, 128)

    def test_a_burst_of_concurrent_requests_all_succeed(self) -> None:
        self.given_a_running_shop()
        url = self.server.url + "/static/style.css"
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            replies = list(pool.map(lambda _: http_get(url), range(CLIENTS * 2)))
        self.assertEqual([reply.status for reply in replies], [200] * CLIENTS * 2)


if __name__ == "__main__":
    unittest.main()
