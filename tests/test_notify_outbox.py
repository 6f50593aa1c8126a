"""The outbox survives kill -9: a cdtui killed with events queued for a dead webhook delivers
every one of them, in order, when the next cdtui starts; and no secret leaks on the way."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests import notify_listeners
from tests.notify_listeners import HttpListener

http_listener = notify_listeners.http_listener  # the fixture

SECRET = "kill9-Secret-Value"


def cdtui(project: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cdtui.cli", *args, str(project)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def events(project: Path) -> list[dict]:
    path = project / ".cdtui" / "events.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_kill_9_with_a_queued_outbox_loses_nothing(tmp_path: Path, http_listener: HttpListener):
    stages = [{"name": f"s{i}", "run": f"echo step {i} $TOKEN"} for i in range(5)]
    stages.append({"name": "hang", "run": "sleep ${HANG:-0}", "needs": ["s4"]})
    pipeline = {
        "project": "shop",
        "secrets": {"TOKEN": {"env": "KILL9_TOKEN"}},
        "notify": [{"webhook": {"url_env": "KILL9_HOOK"}, "on": ["all"]}],
        "phases": [{"name": "Build", "stages": stages}],
    }
    (tmp_path / "cdtui.yaml").write_text(json.dumps(pipeline))
    env = dict(os.environ, KILL9_TOKEN=SECRET, HANG="60", CDTUI_STATE_DIR=".cdtui")
    env["KILL9_HOOK"] = "http://127.0.0.1:9/" + SECRET  # port 9 (discard): nothing listens
    first = cdtui(tmp_path, env, "run", "--headless")
    deadline = time.monotonic() + 30
    while not any(e.get("stage") == "hang" for e in events(tmp_path)):
        assert time.monotonic() < deadline and first.poll() is None, first.stdout
        time.sleep(0.05)
    hang = next(e for e in events(tmp_path) if e.get("stage") == "hang")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    os.killpg(hang["pid"], signal.SIGKILL)  # the stage's own process group
    queued = events(tmp_path)
    assert not http_listener.requests and len(queued) >= 12

    env.update(HANG="0", KILL9_HOOK=http_listener.url + "/hook/" + SECRET)
    second = cdtui(tmp_path, env, "run", "--headless")
    out, _ = second.communicate(timeout=60)
    assert second.returncode == 0, out
    everything = events(tmp_path)
    got = http_listener.wait_for(len(everything))
    ids = [r.json["id"] for r in got]
    assert ids == [e["id"] for e in everything]  # the first run's backlog first, then the second
    assert {e["run"] for e in everything} == {1, 2}
    for request in got:
        assert SECRET.encode() not in request.body  # (the path is the URL: the secret is its own)
    assert SECRET not in (tmp_path / ".cdtui" / "events.jsonl").read_text() + out
    status = subprocess.run(
        [sys.executable, "-m", "cdtui.cli", "notify", "status", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "webhook (webhook): 0 queued" in status.stdout
    log = tmp_path / ".cdtui" / "events.jsonl"
    assert f"log (log): {len(everything)} events in {log}" in status.stdout, status.stdout


def test_notify_test_reports_each_sink_and_never_prints_its_url(
    tmp_path: Path, http_listener: HttpListener
):
    pipeline = {
        "project": "shop",
        "notify": [
            {"webhook": {"url_env": "T_HOOK"}, "name": "up"},
            {"slack": {"webhook_env": "T_DOWN"}, "name": "down"},
            {"slack": {"webhook_env": "T_UNSET"}, "name": "unset"},
        ],
        "phases": [{"name": "A", "stages": [{"name": "a", "run": "true"}]}],
    }
    (tmp_path / "cdtui.yaml").write_text(json.dumps(pipeline))
    env = dict(os.environ, CDTUI_STATE_DIR=".cdtui", T_HOOK=http_listener.url + "/h/" + SECRET)
    env["T_DOWN"] = "http://127.0.0.1:9/services/" + SECRET
    env.pop("T_UNSET", None)
    done = subprocess.run(
        [sys.executable, "-m", "cdtui.cli", "notify", "test", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert "up (webhook): ok: HTTP 200" in lines
    assert "down (slack): FAILED: down: cannot deliver (Connection refused)" in lines
    assert (
        "unset (slack): FAILED: unset: the webhook URL comes from $T_UNSET, which is not set"
        in lines
    )
    assert SECRET not in done.stdout + done.stderr and "127.0.0.1" not in done.stdout
    (request,) = http_listener.requests
    assert request.json["kind"] == "NotifyTest"
