"""One check of one target: HTTP(S), TCP connect or a command, judged by its conditions.

Each result says which of three things happened, because they call for different acts:
``ok``; ``failed`` (the service answered, badly: a 503, a body that says down, too slow) or
``no_answer`` (refused, reset, nothing within the timeout: users see it down too), both service
trouble; and ``checker`` (the check itself could not run: the name does not resolve from here, the
command cannot start), which says nothing about the service and never counts as it being down.

A small asyncio HTTP/1.1 client (a new connection per check, ``Connection: close``), like the
release health checks: no dependency, and a check sees what a new client would.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cdtui.monitor.conditions import Condition, Facts

if TYPE_CHECKING:
    from cdtui.config.monitor import CheckSpec

MAX_BODY = 256 * 1024
MAX_OUTPUT = 64 * 1024
OUTCOMES = ("ok", "failed", "no_answer", "checker")


@dataclass(frozen=True, slots=True)
class Result:
    check: str
    at: float  # wall clock, when the check began
    outcome: str  # ok | failed | no_answer | checker
    latency_ms: float
    detail: str = ""  # why it is not ok, for the operator
    status: int = 0  # HTTP status, or a command's exit code; 0 when none
    target: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @property
    def service_failed(self) -> bool:
        return self.outcome in ("failed", "no_answer")

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": round(self.at, 3),
            "outcome": self.outcome,
            "latency_ms": round(self.latency_ms, 1),
            "status": self.status,
            "detail": self.detail,
            "target": self.target,
        }


class CheckerError(Exception):
    """The check could not be made from here (not the service's fault)."""


class NoAnswer(Exception):
    """The service did not answer: refused, reset, closed early or timed out."""


async def run_check(
    spec: CheckSpec, conditions: list[Condition], target: str | None = None
) -> Result:
    """One check of ``spec`` (``target``: another URL for the same check, e.g. the live colour)."""
    at = time.time()
    began = time.perf_counter()
    target = target or spec.target
    try:
        async with asyncio.timeout(spec.timeout):
            if spec.kind == "http":
                facts = await _http(spec, target)
            elif spec.kind == "tcp":
                facts = await _tcp(target)
            else:
                facts = await _command(spec)
    except CheckerError as exc:
        return Result(spec.name, at, "checker", _ms(began), str(exc), target=target)
    except TimeoutError:
        detail = f"no answer within {spec.timeout:g}s"
        return Result(spec.name, at, "no_answer", _ms(began), detail, target=target)
    except NoAnswer as exc:
        return Result(spec.name, at, "no_answer", _ms(began), str(exc), target=target)
    facts.response_ms = _ms(began)
    status = facts.status if facts.status is not None else facts.exit or 0
    for condition in conditions:
        met, why = condition.check(facts)
        if not met:
            return Result(spec.name, at, "failed", facts.response_ms, why, status, target)
    return Result(spec.name, at, "ok", facts.response_ms, "", status, target)


def _ms(began: float) -> float:
    return (time.perf_counter() - began) * 1000


async def _resolve(host: str, port: int) -> tuple[Any, ...]:
    """The first address of ``host``; a name that does not resolve is the checker's problem.
    An IP address needs no lookup (getaddrinfo runs on a thread: most of a check's CPU)."""
    import ipaddress

    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if ip.version == 4:
            return socket.AF_INET, socket.SOCK_STREAM, 0, "", (host, port)
        return socket.AF_INET6, socket.SOCK_STREAM, 0, "", (host, port, 0, 0)
    loop = asyncio.get_running_loop()
    try:
        found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise CheckerError(f"cannot resolve {host!r} from here ({exc.strerror or exc})") from None
    if not found:
        raise CheckerError(f"cannot resolve {host!r} from here (no address)")
    return found[0]


async def _connect(
    host: str, port: int, tls: ssl.SSLContext | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    family, kind, proto, _, address = await _resolve(host, port)
    sock = socket.socket(family, kind, proto)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, address)
    except OSError as exc:
        sock.close()
        raise NoAnswer(f"{_reason(exc)} ({host}:{port})") from None
    except BaseException:
        sock.close()
        raise
    try:
        return await asyncio.open_connection(
            sock=sock, ssl=tls, server_hostname=host if tls else None
        )
    except ssl.SSLError as exc:
        raise NoAnswer(f"TLS: {exc.reason or exc}") from None
    except OSError as exc:
        raise NoAnswer(f"{_reason(exc)} ({host}:{port})") from None


def _reason(exc: OSError) -> str:
    """``Connection refused``, not asyncio's ``Connect call failed ('127.0.0.1', 8080)``."""
    import os

    return os.strerror(exc.errno) if exc.errno else str(exc) or type(exc).__name__


async def _tcp(target: str) -> Facts:
    host, _, port = target.rpartition(":")
    reader, writer = await _connect(host.strip("[]"), int(port))
    del reader
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return Facts(connected=True)


_TLS: dict[bool, ssl.SSLContext] = {}


def _tls(insecure: bool) -> ssl.SSLContext:
    """One context per verification mode: making one per check costs milliseconds."""
    if insecure not in _TLS:
        context = ssl.create_default_context()
        if insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        _TLS[insecure] = context
    return _TLS[insecure]


async def _http(spec: CheckSpec, url: str) -> Facts:
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if secure else 80)
    reader, writer = await _connect(host, port, _tls(spec.insecure) if secure else None)
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        shown_host = f"[{host}]" if ":" in host else host
        lines = [
            f"{spec.method} {path} HTTP/1.1",
            f"Host: {shown_host}" + (f":{parts.port}" if parts.port else ""),
            "User-Agent: cdtui-monitor",
            "Connection: close",
        ]
        lines += [f"{name}: {value}" for name, value in spec.headers.items()]
        body = (spec.body or "").encode()
        if spec.body is not None:
            lines.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError) as exc:
            raise NoAnswer(
                f"the connection closed before an answer ({type(exc).__name__})"
            ) from None
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        fields = status_line.split(" ", 2)
        if len(fields) < 2 or not fields[1].isdigit():
            raise NoAnswer(f"not an HTTP answer: {status_line[:60]!r}")
        headers = {}
        for line in header_lines:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        data = b"" if spec.method == "HEAD" else await _read_body(reader, headers)
        return Facts(connected=True, status=int(fields[1]), body=data, headers=headers)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    """At most MAX_BODY bytes of the body: by Content-Length, chunks, or until close."""
    try:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            parts: list[bytes] = []
            size = 0
            while size < MAX_BODY:
                line = await reader.readline()
                length = int(line.split(b";")[0].strip() or b"0", 16)
                if length == 0:
                    break
                parts.append(await reader.readexactly(length))
                size += length
                await reader.readexactly(2)
            return b"".join(parts)[:MAX_BODY]
        length = headers.get("content-length", "")
        if length.isdigit():
            want = min(int(length), MAX_BODY)
            return await reader.readexactly(want) if want else b""
        return await reader.read(MAX_BODY)
    except asyncio.IncompleteReadError as exc:
        return exc.partial
    except (ValueError, OSError):
        return b""


_SHELL = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"]


async def _command(spec: CheckSpec) -> Facts:
    """The command's exit code and output; it is ended (its group) when the check times out."""
    import os
    import signal

    argv = [*_SHELL, spec.command] if isinstance(spec.command, str) else list(spec.command or [])
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        raise CheckerError(f"cannot start {argv[0]!r}: {exc.strerror or exc}") from None
    try:
        output = await process.stdout.read(MAX_OUTPUT) if process.stdout else b""
        code = await process.wait()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await asyncio.shield(process.wait())
        raise
    if code == 127 and re.search(rb"command not found|No such file", output):
        raise CheckerError(f"the check command cannot run here: {_last_line(output)}")
    return Facts(connected=True, exit=code, output=output.decode(errors="replace"))


def _last_line(output: bytes) -> str:
    lines = output.decode(errors="replace").strip().splitlines()
    return lines[-1][:200] if lines else "no output"
