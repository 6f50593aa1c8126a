"""The pipeline's own helpers: lint findings, smoke percentiles, reproducible packaging."""

from __future__ import annotations

import hashlib
import tempfile
import unittest
import zipfile
from pathlib import Path

import package
from scripts.lint import check_text
from scripts.smoke import percentile

PROJECT = Path(package.__file__).resolve().parent


class LintTest(unittest.TestCase):
    def codes(self, text: str, python: bool = True) -> list[str]:
        return [finding.code for finding in check_text("x.py", text, python, max_line=20)]

    def test_clean_file(self) -> None:
        self.assertEqual(self.codes("x = 1\n"), [])

    def test_each_rule(self) -> None:
        self.assertEqual(self.codes("def f(:\n"), ["E999"])
        self.assertEqual(self.codes("if x:\n\ty = 1\n"), ["W191"])
        self.assertEqual(self.codes("x = 1 \n"), ["W291"])
        self.assertEqual(self.codes("x = 1"), ["W292"])
        self.assertEqual(self.codes("x = '" + "a" * 30 + "'\n"), ["E501"])
        self.assertEqual(self.codes("x = 1\r\n"), ["W001"])

    def test_text_files_skip_python_rules(self) -> None:
        self.assertEqual(self.codes("<p>" + "a" * 30 + "</p>\n", python=False), [])


class PercentileTest(unittest.TestCase):
    def test_nearest_rank(self) -> None:
        values = list(range(1, 101))
        self.assertEqual(percentile(values, 50), 50)
        self.assertEqual(percentile(values, 95), 95)
        self.assertEqual(percentile(values, 100), 100)
        self.assertEqual(percentile([7.0], 95), 7.0)

    def test_rejects_nonsense(self) -> None:
        with self.assertRaises(ValueError):
            percentile([], 50)
        with self.assertRaises(ValueError):
            percentile([1.0], 0)


class PackageTest(unittest.TestCase):
    def test_same_source_gives_the_same_bytes(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            first = package.build(PROJECT, Path(tmp) / "a")
            second = package.build(PROJECT, Path(tmp) / "b")
            digest = hashlib.sha256(first.read_bytes()).hexdigest()
            self.assertEqual(digest, hashlib.sha256(second.read_bytes()).hexdigest())
            self.assertEqual(first.name, f"shop-{package.read_version(PROJECT)}.pyz")

    def test_archive_holds_sources_and_static_but_no_bytecode(self) -> None:
        names = [name for name, _ in package.archive_entries(PROJECT)]
        self.assertEqual(names, sorted(names))
        self.assertIn("__main__.py", names)
        self.assertIn("shop/static/index.html", names)
        self.assertFalse([n for n in names if "__pycache__" in n or n.endswith(".pyc")])

    def test_entries_carry_fixed_timestamps(self) -> None:
        data = package.zip_bytes([("a.txt", b"a")])
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "x.zip"
            path.write_bytes(data)
            with zipfile.ZipFile(path) as archive:
                self.assertEqual(archive.getinfo("a.txt").date_time, package.FIXED_TIME)


if __name__ == "__main__":
    unittest.main()
