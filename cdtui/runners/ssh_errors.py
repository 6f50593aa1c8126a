"""What can go wrong reaching a host, as one exception class per kind of failure.

A module of its own so the pool (``ssh``), the stage process (``ssh_process``) and the host-side
shell (``ssh_remote``) all raise the same classes without importing one another.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cdtui.config.models import Host


class SshError(Exception):
    """A remote step could not be done; ``str()`` is one line an operator can act on."""


class HostKeyUnknown(SshError):
    """The host's key is in no known_hosts line: we never talk to a host we cannot verify."""

    def __init__(
        self, host: str, key_type: str, fingerprint_sha256: str, *, where: str = "", file: str = ""
    ) -> None:
        self.host, self.key_type, self.fingerprint = host, key_type, fingerprint_sha256
        at = f" ({where})" if where else ""
        into = f" {file}" if file else " known_hosts"
        super().__init__(
            f"host {host}{at} is unknown: it offers {key_type} key {fingerprint_sha256}, "
            f"which is not in{into}; if that is the right key, run: cdtui hosts trust {host}"
        )


class HostKeyChanged(SshError):
    """The host offers another key than the one recorded: refused, a possible impostor."""

    def __init__(
        self, host: str, key_type: str, fingerprint_sha256: str, file: str, line: int, where: str
    ) -> None:
        self.host, self.key_type, self.fingerprint = host, key_type, fingerprint_sha256
        self.file, self.line = file, line
        super().__init__(
            f"host {host} ({where}) CHANGED its host key: it now offers {key_type} key "
            f"{fingerprint_sha256}, but {file}:{line} records another; connection refused. "
            f"If the host was really reinstalled, delete line {line} of {file}, "
            f"then run: cdtui hosts trust {host}"
        )


class AuthFailed(SshError):
    """The host refused every key we offered."""


class ConnectFailed(SshError):
    """No SSH session with the host: refused, timed out, unresolvable, or dropped."""


class UploadFailed(SshError):
    """A file did not arrive intact (or at all)."""


def where(host: Host) -> str:
    """``user@address:port``: how messages name the host's endpoint."""
    user = f"{host.user}@" if host.user else ""
    return f"{user}{host.address}:{host.port}"
