"""Feature: the .pyz artifact runs on its own: static files and code load from inside the zip."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import unittest

import package
from shop import __version__, db
from tests.bdd.support import ShopScenario, http_get

START_TIMEOUT = 10.0


class PackagedAppFeature(ShopScenario):
    def given_the_packaged_shop_is_serving(self) -> str:
        pyz = package.build(package.HERE, self.workdir / "dist")
        db.seed_file(self.workdir / "shop.db")
        command = [sys.executable, str(pyz), "serve", "--port", "0"]
        command += ["--db", str(self.workdir / "shop.db"), "--colour", "green"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHOP_")}  # no stray faults
        process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
        assert process.stderr is not None
        self.addCleanup(process.stderr.close)  # cleanups run last-added first: stop, then close
        self.addCleanup(process.wait, START_TIMEOUT)
        self.addCleanup(process.terminate)
        ready, _, _ = select.select([process.stderr], [], [], START_TIMEOUT)
        self.assertTrue(ready, f"the server printed nothing in {START_TIMEOUT:g}s")
        first_line = process.stderr.readline()  # "shop X (colour) serving http://host:port db=..."
        match = re.search(r"serving (http://\S+)", first_line)
        self.assertIsNotNone(match, f"unexpected first line from the server: {first_line!r}")
        assert match is not None
        return match.group(1)

    def test_the_pyz_serves_health_pages_and_products(self) -> None:
        url = self.given_the_packaged_shop_is_serving()
        health = http_get(url + "/health")
        self.assertEqual(health.json(), {"status": "ok", "version": __version__, "colour": "green"})
        self.assertIn(b"<title>shop</title>", http_get(url + "/").body)
        self.assertEqual(len(http_get(url + "/api/products").json()["products"]), 5)


if __name__ == "__main__":
    unittest.main()
