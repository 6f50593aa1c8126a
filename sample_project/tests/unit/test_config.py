"""Settings come from SHOP_* variables; bad values must fail loudly, not serve wrong."""

from __future__ import annotations

import unittest

from shop.config import ConfigError, Settings, parse_port, parse_rate


class SettingsFromEnvTest(unittest.TestCase):
    def test_defaults_when_nothing_is_set(self) -> None:
        settings = Settings.from_env({})
        self.assertEqual(settings.port, 8000)
        self.assertEqual(settings.colour, "blue")
        self.assertEqual(settings.fail_rate, 0.0)
        self.assertIsNone(settings.fault_file)

    def test_reads_every_variable(self) -> None:
        settings = Settings.from_env(
            {
                "SHOP_PORT": "8101",
                "SHOP_COLOUR": "green",
                "SHOP_DB": "x.db",
                "SHOP_FAIL_RATE": "0.25",
                "SHOP_FAULT_FILE": "/tmp/fault",
            }
        )
        self.assertEqual(
            (settings.port, settings.colour, settings.db, settings.fail_rate, settings.fault_file),
            (8101, "green", "x.db", 0.25, "/tmp/fault"),
        )

    def test_empty_values_keep_defaults(self) -> None:
        self.assertEqual(Settings.from_env({"SHOP_PORT": "", "SHOP_COLOUR": ""}), Settings())


class ParsersTest(unittest.TestCase):
    def test_port_bounds(self) -> None:
        self.assertEqual(parse_port("0"), 0)
        for bad in ("-1", "65536", "http", ""):
            with self.subTest(bad=bad), self.assertRaisesRegex(ConfigError, "SHOP_PORT"):
                parse_port(bad)

    def test_rate_bounds(self) -> None:
        self.assertEqual(parse_rate("1"), 1.0)
        for bad in ("1.5", "-0.1", "half"):
            with self.subTest(bad=bad), self.assertRaisesRegex(ConfigError, "from 0 to 1"):
                parse_rate(bad, "SHOP_FAIL_RATE")


if __name__ == "__main__":
    unittest.main()
