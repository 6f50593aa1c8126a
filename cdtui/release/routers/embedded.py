"""Driver for the embedded router: JSON lines over its admin socket, STATE/router/admin.sock.

Each call opens a fresh connection, so a router restarted between calls is simply found again,
and a dead one is told apart from one never started (stale socket and pid file).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from cdtui.release.routers.base import (
    RouterRejected,
    RouterUnreachable,
    Weights,
    check_read_back,
)
from cdtui.release.routers.files import RouterPaths, pid_alive, unix_address

CALL_TIMEOUT = 5.0


class EmbeddedRouter:
    """Talks to ``cdtui router serve`` for one project directory."""

    name = "embedded"

    def __init__(self, project_dir: Path, *, timeout: float = CALL_TIMEOUT) -> None:
        self.paths = RouterPaths.of(project_dir)
        self.shown = str(project_dir)
        self.timeout = timeout

    async def set_weights(self, weights: Weights) -> Weights:
        await self._call("set_weights", weights=weights.as_dict())
        fix = f"another client may be changing weights; see `cdtui router status {self.shown}`"
        return check_read_back(self.name, weights, await self.get_weights(), fix)

    async def get_weights(self) -> Weights:
        reply = await self._call("get_weights")
        return Weights(int(reply["weights"]["blue"]), int(reply["weights"]["green"]))

    async def describe(self) -> dict[str, str]:
        reply = await self._call("describe")
        return {str(k): str(v) for k, v in reply["describe"].items()}

    async def stop(self) -> int | None:
        """Ask the router to drain and exit; returns its pid so the caller can wait for it."""
        pid = self.paths.read_pid()
        await self._call("stop")
        return pid

    async def close(self) -> None:
        """Nothing held between calls."""

    async def _call(self, op: str, **fields: Any) -> dict[str, Any]:
        try:
            async with asyncio.timeout(self.timeout):
                with unix_address(self.paths.socket) as address:
                    reader, writer = await asyncio.open_unix_connection(address)
                try:
                    writer.write(json.dumps({"op": op, **fields}).encode() + b"\n")
                    line = await reader.readline()
                finally:
                    writer.close()
        except TimeoutError:
            raise RouterUnreachable(
                f"the embedded router for {self.shown} did not answer within {self.timeout:g}s: "
                f"see {self.paths.log}"
            ) from None
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise self._unreachable(exc) from None
        except OSError as exc:
            raise RouterUnreachable(
                f"cannot reach the embedded router at {self.paths.socket}: {exc.strerror or exc}"
            ) from None
        if not line:
            raise RouterUnreachable(
                f"the embedded router for {self.shown} closed its admin socket without answering"
            )
        reply = json.loads(line)
        if not reply.get("ok"):
            raise RouterRejected(f"embedded router refused {op}: {reply.get('error')}")
        return reply

    def _unreachable(self, exc: OSError) -> RouterUnreachable:
        fix = f"start it with `cdtui router serve --detach {self.shown}`"
        pid = self.paths.read_pid()
        if isinstance(exc, FileNotFoundError) and pid is None:
            return RouterUnreachable(f"no embedded router is running for {self.shown}: {fix}")
        if pid is not None and pid_alive(pid):
            return RouterUnreachable(
                f"the embedded router (pid {pid}) is not answering on {self.paths.socket}: "
                f"see {self.paths.log}, or stop it (kill {pid}) and {fix}"
            )
        gone = f"pid {pid} is gone" if pid is not None else "its process is gone"
        return RouterUnreachable(
            f"the embedded router for {self.shown} died ({gone}; stale {self.paths.socket.name}"
            f" in {self.paths.dir}): {fix}"
        )
