"""``cdtui hosts trust``: see the fingerprint, record the key, never replace a recorded one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cdtui.commands.hosts import hosts
from cdtui.config.models import Host
from cdtui.runners.ssh import HostKeyChanged, SshPool
from tests.sshd import Fleet, SshServer, fingerprint, running_fleet


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    """Three trusted servers, stopped (with every session process) after the test."""
    with running_fleet(tmp_path / "fleet", 3) as servers:
        yield servers


@pytest.fixture
def sshd(fleet: Fleet) -> SshServer:
    return fleet[0]


def write_pipeline(project: Path, server: SshServer, known_hosts: Path) -> None:
    host = server.host(known_hosts=str(known_hosts)).model_dump(exclude_defaults=True)
    pipeline = {
        "project": "shop",
        "hosts": {"web": host},
        "phases": [{"name": "Deploy", "stages": [{"name": "hello", "run": "true"}]}],
    }
    project.mkdir(exist_ok=True)
    (project / "cdtui.yaml").write_text(yaml.safe_dump(pipeline))


@pytest.fixture
def project(tmp_path: Path, sshd: SshServer) -> Path:
    write_pipeline(tmp_path / "project", sshd, tmp_path / "ssh" / "known_hosts")
    return tmp_path / "project"


def trust(*args: str, input: str | None = None):
    return CliRunner().invoke(hosts, ["trust", *args], input=input)


async def echo(host: Host) -> str:
    """The CLI runs its own event loop, so these tests are sync and connect through this."""
    pool = SshPool()
    try:
        conn = await pool.get("web", host)
        return (await conn.run("echo ok", check=True)).stdout
    finally:
        await pool.close()


def test_trust_writes_a_line_that_then_verifies(project: Path, sshd: SshServer, tmp_path):
    result = trust("web", str(project), "--yes")
    assert result.exit_code == 0, result.output
    assert fingerprint(sshd) in result.output and "ssh-ed25519" in result.output
    known_hosts = tmp_path / "ssh" / "known_hosts"
    line = known_hosts.read_text()
    assert line == sshd.known_hosts_line()
    assert line.startswith(f"[127.0.0.1]:{sshd.port} ssh-ed25519 ")
    assert asyncio.run(echo(sshd.host(known_hosts=str(known_hosts)))) == "ok\n"


def test_trust_asks_first_and_writes_nothing_on_no(project: Path, tmp_path):
    result = trust("web", str(project), input="n\n")
    assert result.exit_code != 0
    assert "Trust it" in result.output and "nothing written" in result.output
    assert not (tmp_path / "ssh" / "known_hosts").exists()
    result = trust("web", str(project), input="y\n")
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "ssh" / "known_hosts").read_text().splitlines()) == 1


def test_trust_with_file_option_and_existing_lines(project: Path, sshd: SshServer, tmp_path):
    known_hosts = tmp_path / "ssh" / "known_hosts"
    known_hosts.parent.mkdir()
    known_hosts.write_text("# mine\nother.example ssh-ed25519 " + "A" * 68)  # no final newline
    result = trust("web", "-f", str(project / "cdtui.yaml"), "--yes")
    assert result.exit_code == 0, result.output
    lines = known_hosts.read_text().splitlines()
    assert lines[2] == sshd.known_hosts_line().strip()
    assert f"{known_hosts}:3" in result.output


def test_trusting_twice_says_already_trusted(project: Path, tmp_path):
    assert trust("web", str(project), "--yes").exit_code == 0
    result = trust("web", str(project), "--yes")
    assert result.exit_code == 0 and "already trusted" in result.output
    assert len((tmp_path / "ssh" / "known_hosts").read_text().splitlines()) == 1


def test_a_changed_key_is_refused_not_replaced(project: Path, sshd: SshServer, tmp_path):
    assert trust("web", str(project), "--yes").exit_code == 0
    known_hosts = tmp_path / "ssh" / "known_hosts"
    before = known_hosts.read_text()
    sshd.regenerate_host_key()
    result = trust("web", str(project), "--yes")
    assert result.exit_code == 2
    assert f"{known_hosts}:1" in result.output and "Not replaced" in result.output
    assert fingerprint(sshd) in result.output
    assert known_hosts.read_text() == before
    with pytest.raises(HostKeyChanged):
        asyncio.run(echo(sshd.host(known_hosts=str(known_hosts))))


def test_unknown_host_name_lists_the_inventory(project: Path):
    result = trust("db", str(project), "--yes")
    assert result.exit_code == 2
    assert "no host 'db'" in result.output and "web" in result.output


def test_unreachable_host_is_one_line(project: Path, sshd: SshServer):
    sshd.stop()
    result = trust("web", str(project), "--yes")
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert "connection refused" in result.output
