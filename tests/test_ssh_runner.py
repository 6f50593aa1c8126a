"""Remote stages over SSH: output, exit status, injection-proof env/argv, ending the remote tree.

The sshd fleet runs on this machine, so "nothing left on the host" is checked in our own /proc.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from cdtui.engine.events import Status
from cdtui.runners.proctree import signal_all, stage_processes
from cdtui.runners.ssh import RemoteProcess, SshPool
from tests.sshd import Captured, SshServer, run_remote

HOSTILE = [
    "$(touch {canary})",
    "`touch {canary}`",
    "'; touch {canary}; '",
    '"; touch {canary}; "',
    "$(touch /tmp/x); \"'",
    "a\nb\n\n",
    "back\\slash \\' \\\"",
    "* ? [a] ~ $HOME ${HOME} !! $$ %s %n",
    "-n",
    "--",
    "",
    "tab\tand spaces  ",
    "ünïcødé ✓",
]


def alive(pids: set[int]) -> set[int]:
    left = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()[0]
        except OSError:
            continue
        if state not in (b"Z", b"X"):
            left.add(pid)
    return left


# Running commands


async def test_stderr_merged_in_order_and_exit_status(pool: SshPool, sshd: SshServer):
    script = "echo out1; echo err1 >&2; printf out2; printf err2 >&2; exit 7"
    result, out, process = await run_remote(pool, sshd, script)
    assert result.status is Status.FAILED and result.exit_code == 7
    assert result.reason == "exit code 7"
    assert out["stdout"] == b"out1\nerr1\nout2err2" and out["stderr"] == b""
    assert process.pid is not None and process.pid > 0


async def test_success_and_killed_by_signal(pool: SshPool, sshd: SshServer):
    result, _, _ = await run_remote(pool, sshd, ["true"])
    assert (result.status, result.exit_code) == (Status.SUCCEEDED, 0)
    result, _, _ = await run_remote(pool, sshd, ["sh", "-c", "kill -KILL $$"])
    assert result.status is Status.FAILED and result.exit_code == -9
    assert "SIGKILL" in result.reason


async def test_string_commands_run_like_local_ones_with_pipefail(pool: SshPool, sshd: SshServer):
    result, _, _ = await run_remote(pool, sshd, "false | cat")
    assert result.exit_code == 1
    result, out, _ = await run_remote(pool, sshd, "false; echo not reached")
    assert result.exit_code == 1 and out["stdout"] == b""


async def test_cwd_and_missing_cwd(pool: SshPool, sshd: SshServer, tmp_path):
    result, out, _ = await run_remote(pool, sshd, ["pwd"], cwd=str(tmp_path))
    assert result.status is Status.SUCCEEDED and out["stdout"] == f"{tmp_path}\n".encode()
    result, out, _ = await run_remote(pool, sshd, ["pwd"], cwd=str(tmp_path / "missing"))
    assert result.status is Status.FAILED and b"missing" in out["stdout"]


async def test_hostile_env_values_arrive_byte_for_byte(pool: SshPool, sshd: SshServer, tmp_path):
    canary = tmp_path / "canary"
    env = {f"V{i}": v.replace("{canary}", str(canary)) for i, v in enumerate(HOSTILE)}
    names = list(env)
    script = "for n in " + " ".join(names) + "; do eval 'printf \"%s\\0\" \"$'$n'\"'; done"
    result, out, _ = await run_remote(pool, sshd, ["sh", "-c", script], env=env)
    assert result.status is Status.SUCCEEDED, out["stderr"]
    assert out["stdout"].split(b"\0")[:-1] == [env[n].encode() for n in names]
    assert not canary.exists()
    assert not Path("/tmp/x").exists() or Path("/tmp/x").stat().st_mtime < time.time() - 60


async def test_hostile_argv_and_cwd_arrive_byte_for_byte(pool: SshPool, sshd: SshServer, tmp_path):
    canary = tmp_path / "canary"
    argv = [v.replace("{canary}", str(canary)) for v in HOSTILE]
    odd_dir = tmp_path / "$(touch canary) 'q'"
    odd_dir.mkdir()
    result, out, _ = await run_remote(pool, sshd, ["printf", "%s\\0", *argv], cwd=str(odd_dir))
    assert result.status is Status.SUCCEEDED, out["stderr"]
    assert out["stdout"].split(b"\0")[:-1] == [a.encode() for a in argv]
    assert not canary.exists() and not (odd_dir / "canary").exists()


async def test_hostile_text_in_a_string_command_is_its_own_business(
    pool: SshPool, sshd: SshServer, tmp_path
):
    """A string command is a script by design; our wrapping must not add a second evaluation."""
    result, out, _ = await run_remote(pool, sshd, "printf '%s' '$(id)' \"'\"")
    assert result.status is Status.SUCCEEDED
    assert out["stdout"] == b"$(id)'"


async def test_large_output_streams_intact(pool: SshPool, sshd: SshServer):
    result, out, _ = await run_remote(pool, sshd, ["seq", "200000"])
    assert result.status is Status.SUCCEEDED
    assert out["stdout"] == "".join(f"{i}\n" for i in range(1, 200001)).encode()


async def test_output_arrives_live_before_exit(pool: SshPool, sshd: SshServer):
    out = Captured()
    process = RemoteProcess(
        pool, "host0", sshd.host(), "echo first; sleep 1; echo last", on_output=out
    )
    await process.start()
    waiter = asyncio.create_task(process.wait(10))
    deadline = time.monotonic() + 10  # a hang guard: "first" alone (not "last" too) is the proof
    while not out["stdout"] and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert out["stdout"] == b"first\n" and not waiter.done()
    assert (await waiter).status is Status.SUCCEEDED


# Ending the remote tree

TREE = (
    "trap '' TERM; "
    "setsid sh -c 'trap \"\" TERM; sleep 60' </dev/null >/dev/null 2>&1 & "
    "(sleep 60 | cat) & bash -c 'trap \"\" TERM; sleep 60' & "
    "echo ready; wait"
)


async def start_tree(
    pool: SshPool, server: SshServer, grace: float
) -> tuple[RemoteProcess, Captured]:
    out = Captured()
    process = RemoteProcess(pool, server.name, server.host(), TREE, on_output=out, grace=grace)
    await process.start()
    deadline = time.monotonic() + 5
    while b"ready" not in out["stdout"] and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    return process, out


async def test_cancel_ends_the_whole_remote_tree_within_grace(pool: SshPool, sshd: SshServer):
    process, _ = await start_tree(pool, sshd, grace=0.5)
    before = stage_processes(process.pid, process.token)
    assert len(before) >= 6  # shells, sleeps, cat, and the setsid escapee
    assert os.getpgid(process.pid) == process.pid
    waiter = asyncio.create_task(process.wait(None))
    began = time.monotonic()
    process.cancel("operator pressed c")
    result = await waiter
    took = time.monotonic() - began
    assert result.status is Status.CANCELLED and result.reason == "operator pressed c"
    assert took < 0.5 + 5.0, took  # killed after grace, not at the tree's sleep 60
    assert not alive(before)
    assert not stage_processes(process.pid, process.token)
    assert result.survivors == []


async def test_timeout_ends_the_remote_tree(pool: SshPool, sshd: SshServer):
    process, _ = await start_tree(pool, sshd, grace=0.3)
    before = stage_processes(process.pid, process.token)
    began = time.monotonic()
    result = await process.wait(0.2)
    assert result.status is Status.TIMED_OUT and result.reason == "timed out after 0.2s"
    assert time.monotonic() - began < 0.2 + 0.3 + 5.0  # not at the tree's sleep 60
    assert not alive(before)


async def test_leftover_background_process_is_ended_and_reported(pool: SshPool, sshd: SshServer):
    result, out, _ = await run_remote(pool, sshd, "sleep 60 >/dev/null 2>&1 & echo $!", grace=0.5)
    leftover = int(out["stdout"])
    assert result.status is Status.SUCCEEDED
    assert result.ended_leftovers == [leftover]
    assert not alive({leftover})


async def test_keep_children_leaves_a_daemon_running(pool: SshPool, sshd: SshServer):
    began = time.monotonic()
    result, out, _ = await run_remote(pool, sshd, "sleep 60 & echo $!", keep_children=True)
    daemon = int(out["stdout"])
    try:
        assert result.status is Status.SUCCEEDED and result.ended_leftovers == []
        assert time.monotonic() - began < 10  # not held until the daemon's sleep 60 ends
        assert alive({daemon})
    finally:
        os.kill(daemon, 9)


async def test_host_down_mid_stage_fails_with_a_reason(pool: SshPool, sshd: SshServer):
    out = Captured()
    process = RemoteProcess(pool, "host0", sshd.host(), ["sleep", "30"], on_output=out)
    await process.start()
    waiter = asyncio.create_task(process.wait(20))
    await asyncio.sleep(0.2)
    sshd.stop()  # the listener and every connection: the host is gone
    try:
        result = await asyncio.wait_for(waiter, 5)
    finally:
        signal_all(None, stage_processes(None, process.token), 9)
    assert result.status is Status.FAILED
    assert "connection to host host0" in result.reason and "lost" in result.reason
    assert "\n" not in result.reason
    sshd.start()
    again, _, _ = await run_remote(pool, sshd, ["true"])  # the pool reconnects for the next stage
    assert again.status is Status.SUCCEEDED and pool.connects == 2


async def test_cancel_still_ends_the_tree_when_the_reaper_shell_is_gone(
    pool: SshPool, sshd: SshServer, monkeypatch
):
    from cdtui.runners.ssh import ConnectFailed
    from cdtui.runners.ssh_remote import Reaper

    async def broken(*args, **kwargs):
        raise ConnectFailed("reaper gone")

    monkeypatch.setattr(Reaper, "end_tree", broken)
    process, _ = await start_tree(pool, sshd, grace=0.3)
    before = stage_processes(process.pid, process.token)
    process.cancel("test")
    result = await asyncio.wait_for(process.wait(None), 5)
    assert result.status is Status.CANCELLED and result.reason == "test"
    assert before and not alive(before)
