"""How cdtui starts ansible-playbook: the venv's own binary, cdtui's JSON-lines callback, an
inventory (``connection: local``, a file, or the pipeline's ``hosts:`` written as YAML with
their keys and known_hosts), and extra vars in a 0600 file (never on the command line, where
any local user's ``ps`` would read them)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdtui.engine.interpolate import expand

if TYPE_CHECKING:
    from cdtui.config.infra import AnsibleSpec
    from cdtui.config.models import Host, Pipeline

PLUGINS = Path(__file__).with_name("ansible_plugins")
INSTALL_HINT = "pip install 'cdtui[infra]' (ansible-core) into cdtui's environment"


class AnsibleSetupError(Exception):
    """ansible-playbook cannot be started as configured; the message says what to change."""


class AnsibleMissing(AnsibleSetupError):
    """No ansible-playbook here at all: the stage is skipped, or fails under ``CI=true``."""


def playbook_binary() -> str:
    """The ansible-playbook beside this Python (the venv's), else the one on PATH."""
    beside = Path(sys.executable).with_name("ansible-playbook")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("ansible-playbook")
    if found is None:
        raise AnsibleMissing(f"ansible-playbook not found: {INSTALL_HINT}")
    return found


def inventory_of(pipeline: Pipeline, project_dir: Path) -> dict[str, Any]:
    """The pipeline's hosts: as an ansible YAML inventory; each tag is a group."""
    from cdtui.runners.ssh_keys import known_hosts_file, resolve_path

    hosts: dict[str, Any] = {}
    groups: dict[str, dict[str, Any]] = {}
    for name, host in pipeline.hosts.items():
        hosts[name] = _host_vars(
            host, known_hosts_file(host, project_dir), resolve_path, project_dir
        )
        for tag in host.tags:
            groups.setdefault(tag, {"hosts": {}})["hosts"][name] = None
    return {"all": {"hosts": hosts, "children": groups}}


def _host_vars(host: Host, known_hosts: Path, resolve: Any, project_dir: Path) -> dict[str, Any]:
    options = [f"-o UserKnownHostsFile={known_hosts}"]
    options.append(
        "-o StrictHostKeyChecking=no" if host.insecure_skip_host_key_check
        else "-o StrictHostKeyChecking=yes"
    )  # fmt: skip
    if host.jump:
        options.append(f"-o ProxyJump={host.jump}")
    found: dict[str, Any] = {
        "ansible_host": host.address,
        "ansible_port": host.port,
        "ansible_ssh_common_args": " ".join(options),
    }
    if host.user:
        found["ansible_user"] = host.user
    if host.identity:
        found["ansible_ssh_private_key_file"] = str(resolve(host.identity, project_dir))
    return found


def write_private(folder: Path, prefix: str, data: Any) -> Path:
    """JSON in a 0600 file under ``folder`` (the state dir): removed by the caller after."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".json")
    with os.fdopen(fd, "w") as out:
        json.dump(data, out)
    return Path(name)


def expanded(value: Any, values: dict[str, Any]) -> Any:
    """``${…}`` references in extra vars, through lists and mappings."""
    if isinstance(value, str):
        return expand(value, values, shell=False)
    if isinstance(value, list):
        return [expanded(v, values) for v in value]
    if isinstance(value, dict):
        return {k: expanded(v, values) for k, v in value.items()}
    return value


def command(
    spec: AnsibleSpec, *, inventory: Path | None, extra_vars: Path | None, local: bool
) -> list[str]:
    argv = [playbook_binary(), spec.playbook]
    if local:
        argv += [
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
        ]
    elif inventory is not None:
        argv += ["-i", str(inventory)]
    if extra_vars is not None:
        argv += ["-e", f"@{extra_vars}"]
    if spec.limit:
        argv += ["--limit", spec.limit]
    if spec.tags:
        argv += ["--tags", ",".join(spec.tags)]
    if spec.check:
        argv.append("--check")
    if spec.diff:
        argv.append("--diff")
    if spec.verbosity:
        argv.append("-" + "v" * spec.verbosity)
    return argv


def environment(base: dict[str, str], state_dir: Path) -> dict[str, str]:
    """cdtui's callback on stdout, no colour of ansible's own, output unbuffered."""
    env = dict(base)
    env.update(
        ANSIBLE_CALLBACK_PLUGINS=str(PLUGINS),
        ANSIBLE_STDOUT_CALLBACK="cdtui_jsonl",
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_LOCAL_TEMP=str(state_dir / "ansible" / "tmp"),
        PYTHONUNBUFFERED="1",
    )
    if "UTF-8" not in env.get("LC_ALL", env.get("LANG", "")).upper().replace("UTF8", "UTF-8"):
        env["LC_ALL"] = "C.UTF-8"  # ansible refuses to start under a non-UTF-8 locale
    return env
