"""Where an embedded router keeps its admin socket, pid, log and last weights: STATE/router/.

The state file is what lets a restarted router come back with the weights it last had.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cdtui.release.routers.base import InvalidWeights, Weights
from cdtui.store.paths import state_dir

SUN_PATH_MAX = 107  # bytes in sockaddr_un.sun_path, less the terminating NUL


@dataclass(frozen=True)
class RouterPaths:
    project_dir: Path

    @property
    def dir(self) -> Path:
        return state_dir(self.project_dir) / "router"

    @property
    def socket(self) -> Path:
        return self.dir / "admin.sock"

    @property
    def pid(self) -> Path:
        return self.dir / "router.pid"

    @property
    def log(self) -> Path:
        return self.dir / "router.log"

    @property
    def state(self) -> Path:
        return self.dir / "state.json"

    @classmethod
    def of(cls, project_dir: Path) -> RouterPaths:
        return cls(Path(project_dir).resolve())

    def ensure(self) -> None:
        """The router directory, private to the user (the admin socket moves traffic)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)

    def read_pid(self) -> int | None:
        try:
            return int(self.pid.read_text().strip())
        except (OSError, ValueError):
            return None

    def write_pid(self) -> None:
        _write_atomic(self.pid, f"{os.getpid()}\n")

    def remove_own(self) -> None:
        """Remove pid file and socket if still this process's (a successor may own them)."""
        if self.read_pid() == os.getpid():
            with contextlib.suppress(OSError):
                self.socket.unlink()
            with contextlib.suppress(OSError):
                self.pid.unlink()

    def read_state(self) -> Weights | None:
        """The weights last in force, or None when never set; raises ValueError when unreadable."""
        try:
            data = json.loads(self.state.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read {self.state}: {exc}") from None
        try:
            return Weights(int(data["weights"]["blue"]), int(data["weights"]["green"]))
        except (KeyError, TypeError, ValueError, InvalidWeights) as exc:
            raise ValueError(f"{self.state} holds no valid weights: {exc}") from None

    def write_state(self, weights: Weights) -> None:
        """Durably, before the change is acknowledged: a crash right after must not lose it."""
        _write_atomic(self.state, json.dumps({"weights": weights.as_dict()}) + "\n", fsync=True)


def pid_alive(pid: int | None) -> bool:
    if pid is None or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead; an init that does not reap leaves one behind
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


@contextlib.contextmanager
def unix_address(path: Path) -> Iterator[str]:
    """A path usable with bind/connect even past the 107-byte sun_path limit (via /proc)."""
    if len(os.fsencode(path)) <= SUN_PATH_MAX:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_PATH)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def _write_atomic(path: Path, text: str, *, fsync: bool = False) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as handle:
        handle.write(text)
        if fsync:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(tmp, path)
