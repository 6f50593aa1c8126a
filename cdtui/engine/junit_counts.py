"""Passed/failed/skipped counts from a JUnit XML report, as metrics a stage records.

Test runners (pytest, pytest-bdd, behave, JUnit, go test via go-junit-report) all write JUnit
XML; a stage turns its report into counts the headless output and the run record show with
``python -m cdtui.engine.junit_counts REPORT [--label scenarios]``. It appends to the stage's
``$CDTUI_METRICS`` (the existing seam for a stage's figures), prints one line for the log, and
exits 0: the test runner's own exit code says whether the stage failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

MAX_REPORT_BYTES = 64 * 1024 * 1024
SHOWN_FAILURES = 5


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0  # failures and errors: both mean the test did not pass
    skipped: int = 0
    failures: list[str] = field(default_factory=list)  # names of the failed test cases

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.skipped

    def line(self, label: str) -> str:
        text = f"{label}: {self.passed} passed, {self.failed} failed, {self.skipped} skipped"
        if self.failures:
            shown = ", ".join(self.failures[:SHOWN_FAILURES])
            more = len(self.failures) - SHOWN_FAILURES
            text += f" (failed: {shown}{f' and {more} more' if more > 0 else ''})"
        return text

    def metrics(self, label: str) -> list[dict[str, object]]:
        """Metric lines: failures carry a threshold of 0, so a red count reads as one."""
        return [
            {"name": f"{label} passed", "value": self.passed},
            {"name": f"{label} failed", "value": self.failed, "threshold": 0, "op": "<="},
            {"name": f"{label} skipped", "value": self.skipped},
        ]


def read_counts(path: Path) -> Counts:
    """Counts of every ``<testcase>`` in the report (any nesting of ``<testsuite>``s).

    Raises ValueError for a file that is not a JUnit report."""
    from xml.etree import ElementTree

    if path.stat().st_size > MAX_REPORT_BYTES:
        raise ValueError(f"{path}: over {MAX_REPORT_BYTES // 2**20} MiB, not read")
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        raise ValueError(f"{path}: not XML ({error})") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise ValueError(f"{path}: not a JUnit report (root element <{root.tag}>)")
    counts = Counts()
    for case in root.iter("testcase"):
        tags = {child.tag for child in case}
        if tags & {"failure", "error"}:
            counts.failed += 1
            counts.failures.append(case.get("name") or "?")
        elif "skipped" in tags:
            counts.skipped += 1
        else:
            counts.passed += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cdtui.engine.junit_counts")
    parser.add_argument("report", type=Path, help="the JUnit XML the test runner wrote")
    parser.add_argument("--label", default="tests", help="what a test case is (scenarios)")
    args = parser.parse_args(argv)
    try:
        counts = read_counts(args.report)
    except FileNotFoundError:
        print(f"{args.label}: no report at {args.report} (did the runner start?)", file=sys.stderr)
        return 0
    except (OSError, ValueError) as error:
        print(f"{args.label}: {error}", file=sys.stderr)
        return 0
    print(counts.line(args.label), flush=True)
    target = os.environ.get("CDTUI_METRICS")
    if target:
        with open(target, "a", encoding="utf-8") as out:
            for metric in counts.metrics(args.label):
                out.write(json.dumps(metric) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
