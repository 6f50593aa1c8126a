"""The ansible kind with the real ansible-playbook (ansible-core from PyPI, the venv's binary):
a local-connection playbook that changes a file and one whose task fails, check mode, extra vars
with a secret masked, and a play over the project's hosts: against the real sshd fixture."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from cdtui.config import ConfigError, load_pipeline
from cdtui.engine.events import Notice, StageStarted, Status
from tests.artifact_runs import cli, run_pipeline
from tests.routing_fixtures import require
from tests.sshd import running_fleet

PLAYBOOK = """\
- name: configure staging
  hosts: all
  gather_facts: false
  tasks:
    - name: write the config
      ansible.builtin.copy:
        dest: "{{ out }}/app.conf"
        content: "env={{ env_name }}\\n"
    - name: say the token
      ansible.builtin.debug:
        msg: "token is {{ token | default('none') }}"
    - name: break on purpose
      ansible.builtin.command: /bin/false
      when: fail_it | default(false) | bool
"""


@pytest.fixture(autouse=True)
def _ansible_installed() -> None:
    beside = Path(sys.executable).with_name("ansible-playbook")
    require(beside.is_file(), "ansible-playbook (pip install -e '.[test]')")


def configure(tmp_path: Path, **spec: object) -> dict:
    (tmp_path / "site.yml").write_text(PLAYBOOK)
    extra = {"out": str(tmp_path), "env_name": "staging"}
    extra.update(spec.pop("extra_vars", {}))  # type: ignore[arg-type]
    ansible = {"playbook": "site.yml", "extra_vars": extra, **spec}
    return {"name": "Load", "stages": [{"name": "configure", "ansible": ansible}]}


def counts_of(recorder) -> list[str]:
    return [n.extra.get("progress", "") for n in recorder.of(Notice) if n.stage == "configure"]


async def test_a_local_playbook_changes_a_file_and_the_log_shows_it_live(tmp_path: Path):
    status, recorder, _ = await run_pipeline(tmp_path, configure(tmp_path, connection="local"))

    assert status is Status.SUCCEEDED, recorder.final("configure").reason
    assert (tmp_path / "app.conf").read_text() == "env=staging\n"
    log = recorder.output("configure")
    order = [log.index(s) for s in ("PLAY [configure staging]", "TASK [write the config]",
                                    "changed\x1b[0m: [localhost]", "TASK [say the token]",
                                    "PLAY RECAP")]  # fmt: skip
    assert order == sorted(order)
    assert "localhost: ok=2 changed=1 failed=0 skipped=1" in log
    assert counts_of(recorder)[-1] == "ok=2 changed=1 failed=0"
    started = next(e for e in recorder.of(StageStarted) if e.stage == "configure")
    assert "ansible-playbook site.yml -i localhost, -c local" in started.command


async def test_a_failed_task_fails_the_stage_naming_host_task_and_message(tmp_path: Path):
    phase = configure(tmp_path, connection="local", extra_vars={"fail_it": True})
    status, recorder, _ = await run_pipeline(tmp_path, phase)

    assert status is Status.FAILED
    reason = recorder.final("configure").reason
    assert reason == "host localhost, task 'break on purpose' failed: non-zero return code"
    assert counts_of(recorder)[-1] == "ok=2 changed=1 failed=1"


async def test_check_mode_changes_nothing(tmp_path: Path):
    status, recorder, _ = await run_pipeline(
        tmp_path, configure(tmp_path, connection="local", check=True)
    )
    assert status is Status.SUCCEEDED, recorder.final("configure").reason
    assert not (tmp_path / "app.conf").exists()
    assert "changed\x1b[0m: [localhost]" in recorder.output("configure")  # what it would change


async def test_extra_vars_never_show_a_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    secret = "s3cr3t-token-value"
    monkeypatch.setenv("SHOP_TOKEN", secret)
    phase = configure(
        tmp_path, connection="local", extra_vars={"token": "{{ lookup('env', 'TOKEN') }}"}
    )
    status, recorder, _ = await run_pipeline(
        tmp_path, phase, secret_values={"TOKEN": secret}, secrets={"TOKEN": {"env": "SHOP_TOKEN"}}
    )
    assert status is Status.SUCCEEDED, recorder.final("configure").reason
    log = recorder.output("configure")
    assert "token is ***" in log and secret not in log
    started = next(e for e in recorder.of(StageStarted) if e.stage == "configure")
    assert secret not in started.command and "@" in started.command  # a file, not the argv
    assert not list((tmp_path / ".cdtui" / "ansible").glob("extra-vars-*"))  # removed after


async def test_a_play_over_the_projects_hosts_through_sshd(tmp_path: Path):
    with running_fleet(tmp_path / "fleet", 1) as fleet:
        hosts = {name: h.model_dump(exclude_none=True) for name, h in fleet.hosts().items()}
        hosts["host0"]["tags"] = ["web"]
        out = tmp_path / "remote"
        out.mkdir()
        phase = configure(tmp_path, extra_vars={"out": str(out)}, limit="web")
        status, recorder, _ = await run_pipeline(tmp_path, phase, hosts=hosts)

    assert status is Status.SUCCEEDED, recorder.output("configure")[-2000:]
    assert (out / "app.conf").read_text() == "env=staging\n"
    assert "changed\x1b[0m: [host0]" in recorder.output("configure")
    assert counts_of(recorder)[-1] == "ok=2 changed=1 failed=0"
    assert not list((tmp_path / ".cdtui" / "ansible").glob("inventory-*"))


def test_config_errors_are_located_and_dry_run_says_what_runs(tmp_path: Path):
    path = tmp_path / "cdtui.yaml"
    path.write_text(
        "project: p\nphases:\n  - name: Load\n    stages:\n"
        "      - {name: configure, ansible: {playbok: site.yml, connection: lokal}}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_pipeline(path)
    shown = "\n".join(f"{e.line}: {e.path}: {e.message} {e.hint}" for e in caught.value.errors)
    assert "ansible.playbook" in shown and "playbok" in shown and "ansible.connection" in shown

    path.write_text(
        "project: p\nphases:\n  - name: Load\n    stages:\n"
        "      - {name: configure, ansible: {playbook: site.yml, connection: local, check: true}}\n"
    )
    result = cli("run", tmp_path, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "ansible-playbook site.yml (local) --check" in result.output


def test_the_sample_configures_staging_with_ansible(tmp_path: Path):
    """The sample pipeline up to its Release gate: the ansible stage writes staging's settings
    with the digest of the artifact the package stage named."""
    import re
    import shutil
    import subprocess

    from tests.routing_fixtures import free_port

    sample = Path(__file__).resolve().parent.parent / "sample_project"
    project = tmp_path / "shop"
    skip = shutil.ignore_patterns(".cdtui", ".cdtui-demo", "__pycache__", ".ruff_cache", "dist")
    shutil.copytree(sample, project, ignore=skip)
    config = project / "cdtui.yaml"
    config.write_text(re.sub(r"\b8101\b", str(free_port()), config.read_text()))
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # python = this one
    done = subprocess.run(
        [sys.executable, "-m", "cdtui.cli", "run", "--headless", "."],
        cwd=project, capture_output=True, text=True, timeout=240, check=False,
        env={**os.environ, "PATH": path},
    )  # fmt: skip
    assert done.returncode == 3, done.stdout[-3000:] + done.stderr[-2000:]  # at the gate
    settings = (project / ".cdtui-demo" / "staging.env").read_text()
    (pyz,) = (project / "dist").glob("shop-*.pyz")
    import hashlib

    assert f"SHOP_ARTIFACT_SHA256={hashlib.sha256(pyz.read_bytes()).hexdigest()}" in settings


async def test_an_unreachable_host_fails_the_stage_naming_it(tmp_path: Path):
    from tests.routing_fixtures import free_port

    hosts = {"ghost": {"address": "127.0.0.1", "port": free_port(), "user": "nobody"}}
    status, recorder, _ = await run_pipeline(tmp_path, configure(tmp_path), hosts=hosts)
    assert status is Status.FAILED
    reason = recorder.final("configure").reason
    assert reason.startswith("host ghost, task 'write the config' unreachable:"), reason


async def test_no_ansible_playbook_skips_locally_and_fails_under_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Like the browser stage: 'cannot run here' is said in the tree, never a silent pass."""
    from cdtui.infra import ansible_run

    def missing() -> str:
        raise ansible_run.AnsibleMissing(f"ansible-playbook not found: {ansible_run.INSTALL_HINT}")

    monkeypatch.setattr(ansible_run, "playbook_binary", missing)
    monkeypatch.setenv("CI", "false")
    status, recorder, _ = await run_pipeline(tmp_path, configure(tmp_path, connection="local"))
    final = recorder.final("configure")
    assert final.status is Status.SKIPPED, final.reason
    assert status is Status.SUCCEEDED
    assert "ansible-playbook not found: pip install 'cdtui[infra]'" in final.reason
    monkeypatch.setenv("CI", "true")
    status, recorder, _ = await run_pipeline(tmp_path, configure(tmp_path, connection="local"))
    assert status is Status.FAILED
    assert "(CI=true)" in recorder.final("configure").reason
