"""``--junit FILE``: one ``testsuite`` per phase, one ``testcase`` per stage, matrix leg and step,
with the tail of a failed stage's log; the shape CI services (GitHub, GitLab, Jenkins) read."""

from __future__ import annotations

import os
import re
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree as ET

from cdtui.engine.events import (
    Event,
    RunStarted,
    StageFinished,
    StageOutput,
    Status,
    StepFinished,
)

TAIL_LINES = 50
FAILED = (Status.FAILED, Status.TIMED_OUT, Status.INTERRUPTED)


@dataclass
class _Case:
    classname: str
    name: str
    status: Status
    duration: float
    reason: str = ""
    exit_code: int | None = None
    log: str = ""


@dataclass
class _Suite:
    name: str
    cases: dict[str, _Case] = field(default_factory=dict)


class JUnitReport:
    """Collects as the run goes (a bounded log tail per stage), writes once at the end."""

    def __init__(self, path: Path, project: str = "cdtui") -> None:
        self.path = path
        self.project = project
        self.started = time.time()
        self.suites: dict[str, _Suite] = {}
        self._tails: dict[tuple[str, str], deque[str]] = {}
        self._partial: dict[tuple[str, str], str] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, StageOutput):
            key = (event.phase, event.stage)
            text = self._partial.pop(key, "") + event.text
            *lines, rest = text.split("\n")
            if rest:
                self._partial[key] = rest[-4096:]
            self._tails.setdefault(key, deque(maxlen=TAIL_LINES)).extend(lines)
        elif isinstance(event, StageFinished) and not event.will_retry:
            suite = self.suites.setdefault(event.phase, _Suite(event.phase))
            tail = list(self._tails.pop((event.phase, event.stage), ()))
            if (event.phase, event.stage) in self._partial:
                tail.append(self._partial.pop((event.phase, event.stage)))
            case = _Case(
                f"{self.project}.{event.phase}",
                event.stage,
                event.status,
                event.duration,
                event.reason,
                event.exit_code,
                "\n".join(tail),
            )
            suite.cases[event.stage] = case
        elif isinstance(event, StepFinished):
            suite = self.suites.setdefault(event.phase, _Suite(event.phase))
            name = f"{event.stage} / {event.step}"
            classname = f"{self.project}.{event.phase}.{event.stage}"
            suite.cases[name] = _Case(
                classname, name, event.status, event.duration, event.reason, event.exit_code
            )
        elif isinstance(event, RunStarted):
            self.project = event.project
            self.started = event.at

    def element(self) -> ET.Element:
        root = ET.Element("testsuites", name=self.project)
        totals = [0, 0, 0, 0.0]  # tests, failures, skipped, time
        for suite in self.suites.values():
            cases = list(suite.cases.values())
            failures = sum(c.status in FAILED for c in cases)
            errors = sum(c.status is Status.CANCELLED for c in cases)
            skipped = sum(c.status is Status.SKIPPED for c in cases)
            took = sum(c.duration for c in cases if " / " not in c.name)
            node = ET.SubElement(
                root,
                "testsuite",
                name=suite.name,
                tests=str(len(cases)),
                failures=str(failures),
                errors=str(errors),
                skipped=str(skipped),
                time=f"{took:.3f}",
                timestamp=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.started)),
            )
            for case in cases:
                _case(node, case)
            totals[0] += len(cases)
            totals[1] += failures
            totals[2] += skipped
            totals[3] += took
        root.set("tests", str(totals[0]))
        root.set("failures", str(totals[1]))
        root.set("skipped", str(totals[2]))
        root.set("time", f"{totals[3]:.3f}")
        return root

    def close(self) -> None:
        self.write()

    def write(self) -> None:
        """Atomically: a CI step that reads the file never sees half of it."""
        tree = ET.ElementTree(self.element())
        ET.indent(tree)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        tree.write(partial, encoding="utf-8", xml_declaration=True)
        os.replace(partial, self.path)


_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|.)")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    """Terminal escapes and control characters out: XML 1.0 cannot carry them."""
    return _NOT_XML.sub("", _ESCAPES.sub("", text.replace("\r\n", "\n")))


def _case(parent: ET.Element, case: _Case) -> None:
    node = ET.SubElement(
        parent, "testcase", name=case.name, classname=case.classname, time=f"{case.duration:.3f}"
    )
    message = _xml_text(case.reason) or case.status.lower()
    if case.status in FAILED:
        failure = ET.SubElement(node, "failure", message=message, type=case.status.value)
        failure.text = _xml_text(case.log)
    elif case.status is Status.CANCELLED:
        ET.SubElement(node, "error", message=message, type="CANCELLED")
    elif case.status is Status.SKIPPED:
        ET.SubElement(node, "skipped", message=message)
    if case.log and case.status not in FAILED:
        ET.SubElement(node, "system-out").text = _xml_text(case.log)
