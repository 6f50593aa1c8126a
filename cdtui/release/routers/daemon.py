"""Running the embedded router as its own long-lived process, so traffic keeps flowing when the
console or a CLI exits: foreground, or detached (double fork, own session, pid and log files).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import socket
import sys
import time
import traceback

from cdtui.config.release import ReleaseSpec
from cdtui.release.routers.base import RouterError
from cdtui.release.routers.files import RouterPaths, pid_alive, unix_address
from cdtui.release.routers.service import RouterService, serve

READY_TIMEOUT = 10.0


class RouterAlreadyRunning(RouterError):
    """A live embedded router already answers for this project."""


def answering(paths: RouterPaths, timeout: float = 1.0) -> bool:
    """Whether something accepts connections on the admin socket."""
    if not paths.socket.exists():
        return False
    with socket.socket(socket.AF_UNIX) as probe, unix_address(paths.socket) as address:
        probe.settimeout(timeout)
        try:
            probe.connect(address)
        except OSError:
            return False
    return True


def clear_stale(paths: RouterPaths, shown: str) -> str:
    """Refuse when a router is live; remove a dead one's socket and pid file. Says what it did."""
    pid = paths.read_pid()
    if answering(paths):
        raise RouterAlreadyRunning(
            f"an embedded router is already running for {shown}"
            + (f" (pid {pid})" if pid else "")
            + f": see `cdtui router status {shown}`, or `cdtui router stop {shown}` first"
        )
    removed = []
    for path in (paths.socket, paths.pid):
        if path == paths.pid and pid_alive(pid):
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path.name)
    return f"removed stale {', '.join(removed)}" if removed else ""


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger("cdtui.router")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False


def run_foreground(
    spec: ReleaseSpec, paths: RouterPaths, shown: str, ready_fd: int | None = None
) -> int:
    """Serve until stopped; exit status 0, or 1 with the reason on stderr (and ready_fd)."""
    _configure_logging()
    log = logging.getLogger("cdtui.router")
    foreground = ready_fd is None

    def report(line: str) -> None:
        nonlocal ready_fd
        if ready_fd is not None:
            with contextlib.suppress(OSError):
                os.write(ready_fd, line.encode() + b"\n")
                os.close(ready_fd)
            ready_fd = None

    def ready(service: RouterService) -> None:
        report(f"ready {os.getpid()} {service.listen}")
        if foreground:
            print(f"cdtui router listening on {service.listen}; Ctrl-C stops it", flush=True)

    try:
        paths.ensure()
        if note := clear_stale(paths, shown):
            log.info("%s", note)
        asyncio.run(serve(spec, paths, on_ready=ready))
    except RouterError as exc:
        log.error("%s", exc)
        report(f"error {exc}")
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def start_detached(spec: ReleaseSpec, paths: RouterPaths, shown: str) -> tuple[int, str]:
    """Double fork into a new session; return (pid, listen) once it answers, else RouterError.

    The grandchild reports through a pipe, so start-up errors (port in use) reach the caller.
    """
    paths.ensure()
    clear_stale(paths, shown)  # fail here, in the caller's terminal, not in the log
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked processes
        os.close(read_end)
        code = 1
        try:
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            _detach_stdio(paths)
            os.chdir("/")
            code = run_foreground(spec, paths, shown, ready_fd=write_end)
        except BaseException:
            traceback.print_exc()  # into the log: this process has no terminal
        finally:
            os._exit(code)
    os.close(write_end)
    os.waitpid(child, 0)
    try:
        line = _read_line(read_end, READY_TIMEOUT)
    finally:
        os.close(read_end)
    word, _, rest = line.partition(" ")
    if word == "ready":
        pid, _, listen = rest.partition(" ")
        return int(pid), listen
    if word == "error":
        raise RouterError(rest)
    raise RouterError(
        f"the router did not start within {READY_TIMEOUT:g}s: see {paths.log}"
        if line == "timeout"
        else f"the router exited while starting: see {paths.log}"
    )


def _detach_stdio(paths: RouterPaths) -> None:
    devnull = os.open(os.devnull, os.O_RDONLY)
    log = os.open(paths.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(devnull)
    os.close(log)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)


def _read_line(fd: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return "timeout"
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").strip()
