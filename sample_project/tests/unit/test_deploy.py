"""The release demo's helpers: which colour and port a deploy uses, and the fault switch."""

from __future__ import annotations

import contextlib
import io
import tempfile
import unittest
from pathlib import Path

from scripts.deploy import MARKER_VAR, DeployError, colour_of, find_package, main, server_env
from scripts.fault import switch


class ColourTest(unittest.TestCase):
    def test_default_ports_and_files(self) -> None:
        green = colour_of("green", {}, Path("state"))
        self.assertEqual((green.port, green.url), (8103, "http://127.0.0.1:8103"))
        self.assertEqual(green.pid_file, Path("state/green.pid"))
        self.assertEqual(green.fault_file, Path("state/fault-green"))
        self.assertEqual(colour_of("blue", {}).port, 8102)

    def test_port_by_hand_from_the_env(self) -> None:
        self.assertEqual(colour_of("blue", {"SHOP_BLUE_PORT": "9002"}).port, 9002)
        with self.assertRaisesRegex(DeployError, "SHOP_GREEN_PORT"):
            colour_of("green", {"SHOP_GREEN_PORT": "http"})

    def test_port_from_the_url_cdtui_checks_the_colour_at(self) -> None:
        env = {"CDTUI_COLOUR": "green", "CDTUI_COLOUR_URL": "http://127.0.0.1:9103"}
        self.assertEqual(colour_of("green", {**env, "SHOP_GREEN_PORT": "1"}).port, 9103)
        self.assertEqual(colour_of("blue", env).port, 8102)  # the URL is green's
        with self.assertRaisesRegex(DeployError, "CDTUI_COLOUR_URL"):
            colour_of("green", {**env, "CDTUI_COLOUR_URL": "http://127.0.0.1"})

    def test_unknown_colour(self) -> None:
        with self.assertRaisesRegex(DeployError, "blue or green"):
            colour_of("red", {})

    def test_the_server_loses_the_stage_marker_and_gets_its_colour(self) -> None:
        colour = colour_of("blue", {}, Path("state"))
        env = server_env(colour, Path("state/shop.db"), {MARKER_VAR: "x", "SHOP_COLOUR": "green"})
        self.assertNotIn(MARKER_VAR, env)
        self.assertEqual(env["SHOP_COLOUR"], "blue")
        self.assertEqual(env["SHOP_FAULT_FILE"], str(Path("state/fault-blue")))

    def test_no_colour_is_a_one_line_failure(self) -> None:
        errors = io.StringIO()
        with contextlib.redirect_stderr(errors):
            self.assertEqual(main([], env={}), 1)
            self.assertEqual(main(["stop", "red"], env={}), 1)
        self.assertEqual(len(errors.getvalue().splitlines()), 2)


class PackageTest(unittest.TestCase):
    def test_cdtuis_artifact_first_then_dist(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            dist = Path(tmp)
            with self.assertRaisesRegex(DeployError, "no shop-"):
                find_package({}, dist)
            built = dist / "shop-1.0.pyz"
            built.write_bytes(b"x")
            self.assertEqual(find_package({}, dist), built)
            stored = dist / "stored"
            stored.write_bytes(b"y")
            self.assertEqual(find_package({"CDTUI_ARTIFACT": str(stored)}, dist), stored)


class FaultSwitchTest(unittest.TestCase):
    def test_on_then_off(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            state = Path(tmp) / "state"
            said = switch("on", "green", state)
            self.assertTrue((state / "fault-green").exists())
            self.assertIn("green now fails /health", said)
            self.assertIn("roll back within ~2 s", said)
            self.assertIn("answers /health again", switch("off", "green", state))
            self.assertFalse((state / "fault-green").exists())
            self.assertIn("nothing to do", switch("off", "green", state))


if __name__ == "__main__":
    unittest.main()
