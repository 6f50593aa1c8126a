"""The SSH pool: host keys always verified, one-line errors, one connection per host, upload."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import time

import pytest

from cdtui.engine.events import Status
from cdtui.runners.ssh import (
    AuthFailed,
    ConnectFailed,
    HostKeyChanged,
    HostKeyUnknown,
    RemoteProcess,
    SshPool,
    UploadFailed,
    upload,
)
from tests.sshd import (
    Captured,
    Fleet,
    SshServer,
    fingerprint,
    run_remote,
    write_key,
)

# Host keys and authentication


async def test_unknown_host_key_names_fingerprint_and_fix(sshd: SshServer):
    sshd.known_hosts.write_text("")
    pool = SshPool()
    with pytest.raises(HostKeyUnknown) as caught:
        await pool.get("host0", sshd.host())
    message = str(caught.value)
    assert "\n" not in message
    assert "host0" in message and "ssh-ed25519" in message
    assert fingerprint(sshd) in message
    assert "cdtui hosts trust host0" in message
    assert caught.value.fingerprint == fingerprint(sshd)


async def test_missing_known_hosts_file_is_unknown_not_a_crash(sshd: SshServer, tmp_path):
    host = sshd.host(known_hosts=str(tmp_path / "nowhere" / "known_hosts"))
    with pytest.raises(HostKeyUnknown):
        await SshPool().get("host0", host)


async def test_changed_host_key_is_refused_with_the_line_to_fix(sshd: SshServer):
    pool = SshPool()
    await pool.get("host0", sshd.host())
    await pool.close()
    sshd.regenerate_host_key()
    with pytest.raises(HostKeyChanged) as caught:
        await SshPool().get("host0", sshd.host())
    message = str(caught.value)
    assert "\n" not in message
    assert "CHANGED" in message and "refused" in message
    assert f"{sshd.known_hosts}:1" in message
    assert fingerprint(sshd) in message


async def test_wrong_user_key_is_one_line_auth_failure(sshd: SshServer, tmp_path):
    stranger = tmp_path / "stranger"
    write_key(stranger)
    with pytest.raises(AuthFailed) as caught:
        await SshPool().get("host0", sshd.host(identity=str(stranger)))
    assert "\n" not in str(caught.value)
    assert "host0" in str(caught.value) and str(stranger) in str(caught.value)


async def test_refused_port_is_one_line_connect_failure(sshd: SshServer):
    sshd.stop()
    began = time.monotonic()
    with pytest.raises(ConnectFailed) as caught:
        await SshPool(connect_timeout=30).get("host0", sshd.host())
    assert time.monotonic() - began < 10  # told at once, not after the 30 s connect timeout
    assert "connection refused" in str(caught.value)
    assert "\n" not in str(caught.value)


async def test_insecure_skip_connects_and_warns_at_every_use(sshd: SshServer):
    sshd.known_hosts.write_text("")
    warnings: list[str] = []
    pool = SshPool(on_warning=warnings.append)
    host = sshd.host(insecure_skip_host_key_check=True)
    try:
        for _ in range(3):
            out = Captured()
            process = RemoteProcess(pool, "host0", host, "echo ok", on_output=out)
            await process.start()
            assert (await process.wait(10)).status is Status.SUCCEEDED
    finally:
        await pool.close()
    assert len(warnings) >= 3
    assert all("host0" in w and "NOT checked" in w for w in warnings)


async def test_jump_host_reaches_a_target_through_another(fleet: Fleet, pool: SshPool):
    target = fleet[1]
    hosts = {"host0": fleet[0].host(), "host1": target.host(jump="host0")}
    jumping = SshPool(hosts)
    try:
        out = Captured()
        process = RemoteProcess(
            jumping, "host1", hosts["host1"], "echo $SSH_CONNECTION", on_output=out
        )
        await process.start()
        assert (await process.wait(10)).status is Status.SUCCEEDED
    finally:
        await jumping.close()
    assert out["stdout"].split()[-1] == str(target.port).encode()
    assert jumping.connects == 2


async def test_jump_loops_and_missing_identities_are_one_line_errors(fleet: Fleet, tmp_path):
    hosts = {"a": fleet[0].host(jump="b"), "b": fleet[1].host(jump="a")}
    with pytest.raises(ConnectFailed, match=r"loop \(a -> b -> a\)"):
        await asyncio.wait_for(SshPool(hosts).get("a", hosts["a"]), 5)
    missing = fleet[0].host(identity=str(tmp_path / "no_such_key"))
    with pytest.raises(AuthFailed, match="no_such_key"):
        await SshPool().get("host0", missing)


async def test_one_connection_serves_many_commands(pool: SshPool, sshd: SshServer):
    for i in range(25):
        _, out, _ = await run_remote(pool, sshd, ["echo", str(i)])
        assert out["stdout"] == f"{i}\n".encode()
    # 12 at once on sshd's default MaxSessions 10: the pool queues what the host would refuse
    results = await asyncio.gather(*(run_remote(pool, sshd, ["sleep", "0.2"]) for _ in range(12)))
    assert all(r.status is Status.SUCCEEDED for r, _, _ in results)
    assert pool.connects == 1
    assert len(sshd.sessions()) == 1  # one TCP connection's sshd on the host


async def test_fan_out_to_the_fleet_concurrently(pool: SshPool, fleet: Fleet, tmp_path):
    """Each host's command waits until every host's has started (~5 s, then fails): no clock."""
    n, met = len(fleet.servers), tmp_path / "met"
    met.mkdir()
    meet = (
        f"touch {met}/$1; for i in $(seq 250); do "
        f'[ "$(ls {met} | wc -l)" -ge {n} ] && exit 0; sleep 0.02; done; exit 1'
    )
    results = await asyncio.gather(
        *(run_remote(pool, s, ["sh", "-c", meet, "meet", s.name]) for s in fleet.servers)
    )
    assert all(r.status is Status.SUCCEEDED for r, _, _ in results)


# Upload


async def test_upload_copies_and_verifies_sha256(pool: SshPool, sshd: SshServer, tmp_path):
    local = tmp_path / "dist"
    local.mkdir()
    files = [local / "app.whl", local / "big.bin", local / "odd name $(x).txt"]
    files[0].write_bytes(b"wheel")
    files[1].write_bytes(os.urandom(3 << 20))
    files[2].write_text("odd")
    target = tmp_path / "remote" / "release-1"
    got = await upload(pool, "host0", sshd.host(), files, str(target))
    assert got == [(f.name, hashlib.sha256(f.read_bytes()).hexdigest()) for f in files]
    for f in files:
        assert (target / f.name).read_bytes() == f.read_bytes()


async def test_upload_mismatch_is_a_clear_error(pool, sshd: SshServer, tmp_path, monkeypatch):
    from cdtui.runners import ssh

    artefact = tmp_path / "app.whl"
    artefact.write_bytes(b"wheel")
    monkeypatch.setattr(ssh, "_sha256", lambda path: "0" * 64)
    with pytest.raises(UploadFailed) as caught:
        await upload(pool, "host0", sshd.host(), [artefact], str(tmp_path / "remote"))
    assert "app.whl" in str(caught.value) and "corrupt" in str(caught.value)


def test_importing_the_runner_does_not_load_asyncssh():
    code = "import sys, cdtui.runners.ssh; print('asyncssh' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_missing_sshd_fails_under_ci_and_skips_elsewhere(monkeypatch):
    from tests import sshd as fixtures

    monkeypatch.setattr(fixtures, "SSHD", "/nonexistent/sshd")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required under CI=true"):
        fixtures.require_sshd()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        fixtures.require_sshd()
