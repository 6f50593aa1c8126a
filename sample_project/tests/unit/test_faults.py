"""The fault switch fails an exact, evenly spread share of requests so demos are repeatable."""

from __future__ import annotations

import tempfile
import unittest
from pathlib import Path

from shop.faults import FaultSwitch, fails, rate_from_file_text


class FailsTest(unittest.TestCase):
    def test_exact_share_of_requests_fail(self) -> None:
        for rate, expected in ((0.0, 0), (0.1, 10), (0.25, 25), (0.5, 50), (1.0, 100)):
            with self.subTest(rate=rate):
                self.assertEqual(sum(fails(n, rate) for n in range(1, 101)), expected)

    def test_failures_are_spread_not_bunched(self) -> None:
        pattern = [fails(n, 0.5) for n in range(1, 7)]
        self.assertEqual(pattern, [False, True, False, True, False, True])


class FaultFileTextTest(unittest.TestCase):
    def test_empty_file_means_everything_fails(self) -> None:
        self.assertEqual(rate_from_file_text(""), 1.0)
        self.assertEqual(rate_from_file_text("\n"), 1.0)

    def test_a_number_sets_the_share(self) -> None:
        self.assertEqual(rate_from_file_text("0.2\n"), 0.2)

    def test_garbage_fails_safe_to_everything(self) -> None:
        self.assertEqual(rate_from_file_text("oops"), 1.0)


class FaultSwitchTest(unittest.TestCase):
    def test_touching_the_file_turns_failure_on_and_removing_it_off(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            fault = Path(tmp) / "fault"
            switch = FaultSwitch(0.0, str(fault))
            self.assertFalse(switch.should_fail())
            fault.touch()
            self.assertTrue(switch.should_fail())
            fault.unlink()
            self.assertFalse(switch.should_fail())

    def test_base_rate_applies_without_a_file(self) -> None:
        switch = FaultSwitch(0.5)
        self.assertEqual(sum(switch.should_fail() for _ in range(10)), 5)


if __name__ == "__main__":
    unittest.main()
