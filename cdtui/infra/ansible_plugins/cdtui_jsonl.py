"""cdtui's stdout callback for ansible-playbook: one JSON object a line, each after MARKER, so
cdtui reads plays, tasks and per-host results as they happen (no collection needed).

Loaded by ansible itself (ANSIBLE_STDOUT_CALLBACK=cdtui_jsonl), never imported by cdtui.
"""

from __future__ import annotations

import json
import sys

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: cdtui_jsonl
    type: stdout
    short_description: one JSON line per play, task and host result, for cdtui
    description: Prints each event as a JSON object after a marker, flushed at once.
"""

MARKER = "@cdtui "
MSG_MAX = 2000


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "cdtui_jsonl"

    def _emit(self, **event):
        sys.stdout.write(MARKER + json.dumps(event, default=str) + "\n")
        sys.stdout.flush()

    def v2_playbook_on_play_start(self, play):
        self._emit(event="play", name=play.get_name().strip())

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._emit(event="task", name=task.get_name().strip())

    def v2_playbook_on_handler_task_start(self, task):
        self._emit(event="task", name=task.get_name().strip(), handler=True)

    def _result(self, status, result, **extra):
        data = result._result
        message = data.get("msg") or data.get("stderr") or data.get("reason") or ""
        if not message and data.get("exception"):
            message = str(data["exception"]).strip().splitlines()[-1]
        self._emit(
            event="result",
            status=status,
            host=result._host.get_name(),
            task=result._task.get_name().strip(),
            changed=bool(data.get("changed")),
            action=result._task.action,
            msg=str(message)[:MSG_MAX],
            **extra,
        )

    def v2_runner_on_ok(self, result):
        self._result("changed" if result._result.get("changed") else "ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result("failed", result, ignored=bool(ignore_errors))

    def v2_runner_on_skipped(self, result):
        self._result("skipped", result)

    def v2_runner_on_unreachable(self, result):
        self._result("unreachable", result)

    def v2_playbook_on_stats(self, stats):
        hosts = {}
        for host in sorted(stats.processed):
            summary = stats.summarize(host)
            hosts[host] = {
                k: summary.get(k, 0)
                for k in (
                    "ok",
                    "changed",
                    "failures",
                    "unreachable",
                    "skipped",
                    "rescued",
                    "ignored",
                )
            }
        self._emit(event="stats", hosts=hosts)

    def v2_playbook_on_no_hosts_matched(self):
        self._emit(event="warning", msg="no hosts matched")
