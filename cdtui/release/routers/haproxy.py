"""Driver for HAProxy through its runtime API (the stats socket): ``set weight``, no reload.

HAProxy applies a weight to the next request even on kept-alive connections, so a flip closes
nothing. The backend must use a dynamic algorithm (``balance roundrobin``): static ones accept
only 0 and the initial weight.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from cdtui.config.release import RouterSpec
from cdtui.release.routers.base import (
    COLOURS,
    InvalidWeights,
    RouterError,
    RouterMismatch,
    RouterRejected,
    RouterUnreachable,
    Weights,
    check_read_back,
)
from cdtui.release.routers.files import unix_address

CALL_TIMEOUT = 5.0
_MAINT = 0x01 | 0x02 | 0x04 | 0x20 | 0x40  # forced, inherited, configured, resolver, hostname
_DRAIN = 0x08 | 0x10
_OP_STATES = {"0": "down", "1": "starting", "2": "up", "3": "stopping"}
_WEIGHT = re.compile(r"^(\d+) \(initial (\d+)\)$")
_TCP = re.compile(r"^ipv[46]@\[?(?P<host>[^\]]+?)\]?:(?P<port>\d+)$")


class HAProxyRouter:
    """Sets and reads the weights of the blue and green servers of one HAProxy backend."""

    name = "haproxy"

    def __init__(self, spec: RouterSpec, project_dir: Path, *, timeout: float = CALL_TIMEOUT):
        if spec.socket is None or spec.backend is None:
            raise RouterError("router kind haproxy needs socket and backend in the release block")
        self.socket = spec.socket
        self._tcp = _TCP.match(spec.socket)
        self._path = Path(project_dir) / Path(spec.socket).expanduser()
        self.backend = spec.backend
        self.servers = {"blue": spec.blue_server, "green": spec.green_server}
        self.timeout = timeout

    def _server(self, colour: str) -> str:
        return f"{self.backend}/{self.servers[colour]}"

    async def set_weights(self, weights: Weights) -> Weights:
        """The larger new weight goes first, so the two are never both 0 (HAProxy would 503)."""
        order = sorted(COLOURS, key=weights.of, reverse=True)
        commands = [f"set weight {self._server(c)} {weights.of(c)}" for c in order]
        for command, answer in zip(commands, await self._run(commands), strict=True):
            if answer:
                raise RouterRejected(f"haproxy refused `{command}`: {answer}{_fix(answer)}")
        got, servers = await self._read()
        if got != weights:
            for colour, state in servers.items():
                if state["admin"] and weights.of(colour):
                    raise RouterMismatch(
                        f"haproxy server {self._server(colour)} is in {state['admin']}: it takes "
                        f"no traffic whatever its weight; `set server {self._server(colour)} "
                        "state ready` on the stats socket, then retry"
                    )
        return check_read_back(self.name, weights, got, "check `show servers state` on haproxy")

    async def get_weights(self) -> Weights:
        return (await self._read())[0]

    async def describe(self) -> dict[str, str]:
        weights, servers = await self._read()
        info = dict(
            line.split(": ", 1)
            for line in (await self._run(["show info"]))[0].splitlines()
            if ": " in line
        )
        facts = {
            "kind": "haproxy",
            "socket": self.socket,
            "backend": self.backend,
            "pid": info.get("Pid", "?"),
            "version": info.get("Version", "?"),
            "weights": str(weights),
        }
        for colour, state in servers.items():
            admin = state["admin"] or "ready"
            facts[colour] = (
                f"{self._server(colour)} {state['address']} weight {state['weight']}, "
                f"{state['op']}, {admin}"
            )
        return facts

    async def close(self) -> None:
        """Each call uses its own connection; nothing is held."""

    async def _read(self) -> tuple[Weights, dict[str, dict[str, str]]]:
        """Effective weights (a server in maintenance or drain takes no new traffic), per server."""
        commands = [f"get weight {self._server(c)}" for c in COLOURS]
        answers = await self._run([*commands, f"show servers state {self.backend}"])
        raw: dict[str, str] = {}
        for colour, command, answer in zip(COLOURS, commands, answers, strict=False):
            match = _WEIGHT.match(answer.strip())
            if not match:
                raise RouterRejected(f"haproxy refused `{command}`: {answer}{_fix(answer)}")
            raw[colour] = match.group(1)
        servers = _servers_state(answers[2], self.servers)
        effective: dict[str, int] = {}
        for colour, weight in raw.items():
            servers[colour]["weight"] = weight
            effective[colour] = 0 if servers[colour]["admin"] else int(weight)
        try:
            return Weights.from_ratio(effective["blue"], effective["green"]), servers
        except InvalidWeights:
            raise RouterMismatch(
                f"haproxy backend {self.backend} sends no traffic to blue or green: both servers "
                "have weight 0 or are in maintenance; set the weights again"
            ) from None

    async def _run(self, commands: list[str]) -> list[str]:
        """Commands in order on one connection; one answer each (text before its blank line)."""
        try:
            async with asyncio.timeout(self.timeout):
                if self._tcp:
                    host, port = self._tcp.group("host"), int(self._tcp.group("port"))
                    reader, writer = await asyncio.open_connection(host, port)
                else:
                    with unix_address(self._path) as address:
                        reader, writer = await asyncio.open_unix_connection(address)
                try:
                    writer.write(("; ".join(commands) + "\n").encode())
                    data = await reader.read()
                finally:
                    writer.close()
        except TimeoutError:
            raise RouterUnreachable(
                f"haproxy did not answer on {self.socket} within {self.timeout:g}s"
            ) from None
        except FileNotFoundError:
            raise RouterUnreachable(
                f"no haproxy stats socket at {self._path}: is haproxy running with "
                f"`stats socket {self._path} mode 600 level admin` in its global section?"
            ) from None
        except ConnectionRefusedError:
            raise RouterUnreachable(
                f"haproxy is not listening on {self.socket} (not running, or a stale socket)"
            ) from None
        except OSError as exc:
            raise RouterUnreachable(
                f"cannot reach haproxy on {self.socket}: {exc.strerror or exc}"
            ) from None
        answers = _split_answers(data.decode(errors="replace"))
        if len(answers) < len(commands):
            raise RouterRejected(f"haproxy gave {len(answers)} answers to {len(commands)} commands")
        return answers[: len(commands)]


def _split_answers(text: str) -> list[str]:
    answers: list[str] = []
    current: list[str] = []
    for line in text.split("\n"):
        if line:
            current.append(line)
        else:
            answers.append("\n".join(current))
            current = []
    return answers


def _servers_state(text: str, names: dict[str, str]) -> dict[str, dict[str, str]]:
    """``show servers state``: columns named by its ``#`` header line."""
    lines = text.splitlines()
    header = next((line[2:].split() for line in lines if line.startswith("# ")), None)
    if header is None:
        raise RouterRejected(f"haproxy refused `show servers state`: {text}{_fix(text)}")
    rows = {}
    for line in lines:
        if line and not line.startswith("#") and len(fields := line.split()) >= len(header):
            row = dict(zip(header, fields, strict=False))
            rows[row["srv_name"]] = row
    servers = {}
    for colour, name in names.items():
        row = rows.get(name)
        if row is None:
            raise RouterRejected(f"haproxy has no server {name!r}{_fix('No such server')}")
        admin = int(row["srv_admin_state"])
        servers[colour] = {
            "address": f"{row['srv_addr']}:{row.get('srv_port', '?')}",
            "op": _OP_STATES.get(row["srv_op_state"], row["srv_op_state"]),
            "admin": "maintenance" if admin & _MAINT else "drain" if admin & _DRAIN else "",
        }
    return servers


def _fix(answer: str) -> str:
    if "No such" in answer or "Can't find" in answer:
        return (
            ": check backend, blue_server and green_server in the release block against haproxy.cfg"
        )
    if "Permission denied" in answer or "Unknown command" in answer:
        return ": the stats socket needs `level admin` in haproxy.cfg"
    if "static" in answer.lower():
        return ": use a dynamic algorithm (`balance roundrobin`) in the backend"
    return ""
