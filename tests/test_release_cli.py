"""The release CLI against a detached embedded router: SIGKILL mid-release, restart, reconcile."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from release_backends import FaultyServer, faulty_server
from routing_fixtures import free_port, wait_for, write_project
from test_release_rollout import fast

from cdtui.config.release import ReleaseSpec
from cdtui.release.control import key_of
from cdtui.release.routers import Weights
from cdtui.release.routers.embedded import EmbeddedRouter
from cdtui.store.releases import ReleaseRecords

RELEASE_CLI = [sys.executable, "-m", "cdtui.cli"]
ROUTER_CLI = [sys.executable, "-m", "cdtui.commands.router"]


def cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RELEASE_CLI, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture
def project(tmp_path: Path) -> Iterator[tuple[Path, dict[str, object], FaultyServer]]:
    with faulty_server("blue") as blue, faulty_server("green") as green:
        block = fast(blue.url, green.url, free_port(), hold=30)
        write_project(tmp_path, block)
        subprocess.run([*ROUTER_CLI, "serve", "--detach", str(tmp_path)], check=True, timeout=20)
        try:
            yield tmp_path, block, green
        finally:
            subprocess.run([*ROUTER_CLI, "stop", str(tmp_path)], timeout=20, check=False)


def weights(project_dir: Path) -> Weights:
    import asyncio

    return asyncio.run(EmbeddedRouter(project_dir).get_weights())


def records(project_dir: Path, block: dict[str, object]) -> ReleaseRecords:
    return ReleaseRecords(project_dir, key_of(ReleaseSpec.model_validate(block).router))


def released_to_first_step(
    project_dir: Path, block: dict[str, object]
) -> tuple[subprocess.Popen[str], ReleaseRecords]:
    """A `cdtui release` in its own process, once the router has applied its first step."""
    proc = subprocess.Popen(
        [*RELEASE_CLI, "release", str(project_dir), "--yes"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    book = records(project_dir, block)
    wait_for(lambda: any(r.kind == "applied" for r in book.rows()), 15, "the first step")
    return proc, book


def test_sigkill_mid_release_then_restart_says_what_it_finds(project):
    project_dir, block, _ = project
    proc, book = released_to_first_step(project_dir, block)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(5)
    assert weights(project_dir) == Weights(90, 10)  # the router keeps routing

    shown = cli("status", str(project_dir))
    assert "split:      blue 90% / green 10%" in shown.stdout
    assert "step at 10%" in shown.stdout and f"pid {proc.pid}) is gone" in shown.stdout
    assert shown.returncode == 0, shown.stdout + shown.stderr  # equal to the record

    asyncio_weights = Weights(70, 30)
    import asyncio

    asyncio.run(EmbeddedRouter(project_dir).set_weights(asyncio_weights))
    refused = cli("release", str(project_dir), "--yes")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "the router holds blue 70% / green 30%" in refused.stderr
    assert "says blue 90% / green 10%" in refused.stderr and "--reconcile" in refused.stderr
    assert weights(project_dir) == Weights(70, 30)  # nothing was changed
    assert "DIFFERS" in cli("status", str(project_dir)).stdout

    write_project(project_dir, {**block, "hold": 0.1})
    resumed = cli("release", str(project_dir), "--yes", "--reconcile")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "reconciled" in resumed.stdout and "resuming an unfinished release" in resumed.stdout
    assert " 10%" not in resumed.stdout.split("resuming", 1)[1]  # steps already passed skipped
    assert weights(project_dir) == Weights.ALL_GREEN
    book.close()


def test_an_unconfirmed_change_is_named_and_rollback_needs_confirmation(project):
    project_dir, block, _ = project
    book = records(project_dir, block)
    book.intent(99, "blue", Weights.ALL_BLUE, Weights(50, 50), 50)  # killed before set_weights
    refused = cli("release", str(project_dir), "--yes")
    assert refused.returncode == 2
    assert "never confirmed (run 99 asked blue 100% / green 0% -> blue 50% / green 50%" in (
        refused.stderr
    )
    assert "it did not apply" in refused.stderr

    no = subprocess.run(
        [*RELEASE_CLI, "rollback", str(project_dir)],
        input="n\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert no.returncode != 0 and "Aborted" in no.stderr
    weights_router = EmbeddedRouter(project_dir)
    import asyncio

    asyncio.run(weights_router.set_weights(Weights(50, 50)))
    done = cli("rollback", str(project_dir), "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "back on live blue" in done.stdout
    assert weights(project_dir) == Weights.ALL_BLUE
    book.close()


def test_bad_steps_are_refused_before_anything_moves(project):
    project_dir, _, _ = project
    result = cli("release", str(project_dir), "--yes", "--steps", "50,10")
    assert result.returncode == 2 and "steps must increase" in result.stderr
    assert weights(project_dir) == Weights.ALL_BLUE


def test_sigkill_while_the_router_has_not_answered_leaves_a_named_unconfirmed_change(project):
    """Router stopped (SIGSTOP) while cdtui waits on set_weights; cdtui killed; router resumes
    and applies the change nobody recorded: the restart names it instead of trusting either."""
    project_dir, block, _ = project
    write_project(project_dir, {**block, "hold": 0.3})
    router_pid = int((project_dir / ".cdtui" / "router" / "router.pid").read_text())
    proc = subprocess.Popen(
        [*RELEASE_CLI, "release", str(project_dir), "--yes"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    book = records(project_dir, block)
    try:
        wait_for(lambda: any(r.kind == "applied" for r in book.rows()), 15, "the first step")
        os.kill(router_pid, signal.SIGSTOP)
        wait_for(lambda: book.rows(1)[0].kind == "intent", 10, "the next intent")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
    finally:
        os.kill(router_pid, signal.SIGCONT)
    wait_for(lambda: weights(project_dir) == Weights(50, 50), 10, "the router to apply it")

    refused = cli("release", str(project_dir), "--yes")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "asked blue 90% / green 10% -> blue 50% / green 50%" in refused.stderr
    assert "it did apply" in refused.stderr and "nothing was changed" in refused.stderr
    assert "DIFFERS" in cli("status", str(project_dir)).stdout
    back = cli("rollback", str(project_dir), "--yes")
    assert back.returncode == 0 and "back on live blue" in back.stdout, back.stdout + back.stderr
    assert weights(project_dir) == Weights.ALL_BLUE
    shown = cli("status", str(project_dir), "--json")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    facts = json.loads(shown.stdout)
    assert facts["weights"] == {"blue": 100, "green": 0} and facts["difference"] is None
    assert facts["release"]["state"] == "rolled back" and facts["health"]["blue"].startswith(
        "healthy"
    )
    book.close()


def test_sigterm_mid_release_gives_traffic_back_to_live(project):
    project_dir, block, _ = project
    proc = subprocess.Popen(
        [*RELEASE_CLI, "release", str(project_dir), "--yes"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    book = records(project_dir, block)
    wait_for(lambda: any(r.kind == "applied" for r in book.rows()), 15, "the first step")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 1 and "given back to the live colour" in err, out + err
    assert "back on live blue" in out
    assert weights(project_dir) == Weights.ALL_BLUE
    state = book.last_state()
    assert state is not None and state.state == "aborted"
    book.close()


def _probe(url: str, stop, failures: list[str], count: list[int]) -> None:
    """Requests through the router until ``stop`` is set (bounded by the test's own length)."""
    import http.client
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    while not stop.is_set() and count[0] < 20_000:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=2)
        try:
            conn.request("GET", "/")
            status = conn.getresponse().status
            if status >= 500:
                failures.append(str(status))
        except OSError as exc:
            failures.append(repr(exc))
        finally:
            conn.close()
            count[0] += 1


def test_resume_after_sigkill_never_redeploys_the_colour_that_serves_traffic(project):
    """kill -9 at the first step, run it again under a request probe: no redeploy, no failed
    request; the resumed release continues from the recorded step."""
    import threading

    project_dir, block, _ = project
    green = {**block["green"], "deploy": "echo deployed >> deploys.log"}  # type: ignore[dict-item]
    write_project(project_dir, {**block, "green": green})
    proc, book = released_to_first_step(project_dir, block)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(5)
    assert (project_dir / "deploys.log").read_text() == "deployed\n"
    stop, failures, count = threading.Event(), [], [0]
    listen = block["router"]["listen"]  # type: ignore[index]
    prober = threading.Thread(target=_probe, args=(f"http://{listen}", stop, failures, count))
    prober.start()
    try:
        write_project(project_dir, {**block, "green": green, "hold": 0.1})
        resumed = cli("release", str(project_dir), "--yes")
    finally:
        stop.set()
        prober.join(10)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "not deploying idle green: it serves 10% of traffic" in resumed.stdout
    assert (project_dir / "deploys.log").read_text() == "deployed\n"  # not deployed again
    assert weights(project_dir) == Weights.ALL_GREEN
    assert count[0] > 10 and failures == [], failures[:5]
    book.close()


def test_status_exits_non_zero_when_live_is_unhealthy_and_says_rollback_is_not_safe(project):
    project_dir, block, green = project
    write_project(project_dir, {**block, "hold": 0.1})
    done = cli("release", str(project_dir), "--yes", timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    healthy = cli("status", str(project_dir), "--json")
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    facts = json.loads(healthy.stdout)
    assert facts["live"] == "green" and facts["checks"]["green"]["ok"] is True
    assert isinstance(facts["checks"]["green"]["latency_ms"], float)
    assert facts["rollback"] == "to blue" and facts["problems"] == []
    green.fault = True
    try:
        sick = cli("status", str(project_dir))
    finally:
        green.fault = False
    assert sick.returncode == 1, sick.stdout + sick.stderr
    assert "PROBLEM:    live green is UNHEALTHY" in sick.stdout


def test_rollback_preempts_a_release_that_another_cdtui_drives(project):
    """Rollback is the emergency button: no 'wait for it, or stop it first'."""
    project_dir, block, _ = project
    driver, book = released_to_first_step(project_dir, block)
    back = cli("rollback", str(project_dir), "--yes", timeout=40)
    assert back.returncode == 0, back.stdout + back.stderr
    assert "asked it to abort" in back.stdout and "gave up the router" in back.stdout
    assert weights(project_dir) == Weights.ALL_BLUE
    out, _ = driver.communicate(timeout=20)
    assert driver.returncode == 1, out
    assert "rolled back by" in out and "via cli" in out  # the driver says who took over
    state = book.last_state()
    assert state is not None and state.state == "rolled back"
    book.close()


def test_rollback_onto_an_unhealthy_colour_is_refused_and_redeploy_fixes_it(project):
    project_dir, block, _ = project
    blue_url = block["blue"]["url"]  # type: ignore[index]
    fix = (
        f'{sys.executable} -c "import os, urllib.request; '
        "urllib.request.urlopen(os.environ['CDTUI_COLOUR_URL'] + '/_fault/off')\""
    )
    blue = {"url": blue_url, "deploy": fix}
    write_project(project_dir, {**block, "blue": blue, "hold": 0.1})
    done = cli("release", str(project_dir), "--yes", timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert weights(project_dir) == Weights.ALL_GREEN
    import urllib.request

    urllib.request.urlopen(f"{blue_url}/_fault/on", timeout=5).read()
    refused = cli("rollback", str(project_dir), "--yes")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "rollback target blue is UNHEALTHY" in refused.stderr
    assert "--redeploy" in refused.stderr and "--force" in refused.stderr
    assert weights(project_dir) == Weights.ALL_GREEN  # nobody was moved onto the broken colour
    redeployed = cli("rollback", str(project_dir), "--yes", "--redeploy", timeout=60)
    assert redeployed.returncode == 0, redeployed.stdout + redeployed.stderr
    assert "healthy     blue after its redeploy" in redeployed.stdout
    assert weights(project_dir) == Weights.ALL_BLUE
