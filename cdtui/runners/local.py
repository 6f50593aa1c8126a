"""Run one stage attempt as a local process group, streaming its output as it arrives.

stdout and stderr share one pipe, as CI services do: two pipes cannot keep the order the lines
were written in (the reader drains whichever pipe it looks at first, FIELD-NOTES), and a log that
shows ``1 3 2`` for ``echo 1; echo 2 >&2; echo 3`` misleads. The price is the distinction: a
local stage's output all arrives as ``stdout``. (A pty would also merge them, and would make
programs think a terminal is watching: pagers, prompts, colours, ``\r\n``.)

The pipe is read in 64 KiB chunks straight from the event loop (``add_reader``), and the
process exit is seen through a pidfd, so waiting never depends on the pipe reaching EOF:
a grandchild that keeps stdout open cannot hang the stage.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from cdtui.engine.events import Status
from cdtui.runners.left_behind import left_nothing
from cdtui.runners.proctree import (
    MARKER_VAR,
    OWN_VAR,
    RUNNING,
    RunningStage,
    become_subreaper,
    keep,
    note_adopted,
    reap_adopted,
    signal_all,
    signal_name,
    stage_processes,
    ticks_now,
)

CHUNK = 65536
POLL = 0.05
DRAIN_AFTER_EXIT = 0.5
KILL_WAIT = 2.0
REAP_EVERY = 1.0  # orphans re-parented to cdtui that exited on their own
STREAM = "stdout"  # stdout and stderr merged, under the name consumers already know

_ENV = shutil.which("env") or "/usr/bin/env"

OutputCallback = Callable[[str, bytes], None]


@dataclass
class ProcessResult:
    status: Status
    exit_code: int | None
    reason: str = ""
    ended_leftovers: list[int] = field(default_factory=list)
    survivors: list[int] = field(default_factory=list)


class LocalProcess:
    """One attempt: start, stream, wait, and end the whole tree on cancel or timeout."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: str,
        env: Mapping[str, str],
        on_output: OutputCallback,
        grace: float = 10.0,
        keep_children: bool = False,
    ) -> None:
        self.argv = list(argv)
        self.cwd = cwd
        self.token = os.urandom(16).hex()  # the marker: unguessable, unique per attempt
        self.env = {**env, MARKER_VAR: self.token}
        self.on_output = on_output
        self.grace = grace
        self.keep_children = keep_children
        self.pid: int | None = None
        self._returncode: int | None = None
        self._cancel = asyncio.Event()
        self._cancel_reason = ""
        self._open: dict[int, asyncio.Future[None]] = {}
        self._wake: Callable[[], None] | None = None  # while waiting: a cancel ends the wait
        self._since = 0

    def start(self) -> int:
        """Spawn the process; raises OSError (missing program or cwd) for the caller to report.

        ``posix_spawn`` (vfork under the hood) costs a fraction of ``Popen``'s fork in a large
        process; a cwd other than ours goes through ``env -C`` since 3.11 cannot chdir there.
        """
        program = self.argv[0]
        if not os.path.isabs(program):
            program = shutil.which(program, path=self.env.get("PATH", os.defpath)) or ""
        if not os.access(program, os.X_OK):
            raise FileNotFoundError(errno.ENOENT, "command not found", self.argv[0])
        argv = [program, *self.argv[1:]]
        here = os.getcwd()
        if self.cwd != here and os.path.realpath(self.cwd) != os.path.realpath(here):
            if not os.path.isdir(self.cwd):
                raise NotADirectoryError(errno.ENOTDIR, "no such directory", self.cwd)
            argv = [_ENV, "-C", self.cwd, "--", *argv]
        become_subreaper()  # orphans of the stage come to us, not to init
        self.env.pop(OWN_VAR, None)  # cdtui's mark: a stage must not look like cdtui's own
        read_fd, write_fd = os.pipe()
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, write_fd, 1),
            (os.POSIX_SPAWN_DUP2, write_fd, 2),  # one pipe: lines stay in the order written
        ]
        since = ticks_now()  # before the spawn: a floor of its start ticks
        try:
            self.pid = os.posix_spawn(argv[0], argv, self.env, file_actions=actions, setsid=True)
        finally:
            os.close(write_fd)
            if self.pid is None:
                os.close(read_fd)
        self._since = since
        RUNNING[self.pid] = RunningStage(self.pid, self.token, self._since)
        loop = asyncio.get_running_loop()
        os.set_blocking(read_fd, False)
        self._open[read_fd] = loop.create_future()
        loop.add_reader(read_fd, self._read, read_fd)
        return self.pid

    def cancel(self, reason: str = "cancelled") -> None:
        self._cancel_reason = reason
        self._cancel.set()
        if self._wake is not None:
            self._wake()

    def _read(self, fd: int) -> None:
        try:
            data = os.read(fd, CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self.on_output(STREAM, data)
        else:
            self._close(fd)

    def _close(self, fd: int) -> None:
        future = self._open.pop(fd, None)
        if future is None:
            return
        asyncio.get_running_loop().remove_reader(fd)
        os.close(fd)
        if not future.done():
            future.set_result(None)

    def _exited(self) -> asyncio.Future[int]:
        """The main process's exit code, to come: a pidfd reader (no task) where the kernel has
        pidfds, else a task polling."""
        assert self.pid is not None
        loop = asyncio.get_running_loop()
        try:
            pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            return asyncio.ensure_future(self._poll_exit())
        exited: asyncio.Future[int] = loop.create_future()
        code = self._reap(block=False)
        if code is not None:
            os.close(pidfd)
            exited.set_result(code)
            return exited

        def ready() -> None:  # readable: the process exited, its status is there to take
            loop.remove_reader(pidfd)
            os.close(pidfd)
            if not exited.done():
                exited.set_result(self._reap(block=True))  # type: ignore[arg-type]
            if self._wake is not None:  # now, not from exited's callbacks a loop turn later
                self._wake()

        loop.add_reader(pidfd, ready)
        return exited

    async def _poll_exit(self) -> int:
        while (code := self._reap(block=False)) is None:
            await asyncio.sleep(0.02)
        return code

    def _reap(self, block: bool) -> int | None:
        if self._returncode is None:
            pid, status = os.waitpid(self.pid, 0 if block else os.WNOHANG)
            if pid:
                self._returncode = os.waitstatus_to_exitcode(status)
        return self._returncode

    async def wait(self, timeout: float | None = None) -> ProcessResult:
        """Wait for exit, a cancel or the timeout; always returns with the tree handled."""
        assert self.pid is not None
        loop = asyncio.get_running_loop()
        exited = self._exited()
        woken: asyncio.Future[None] = loop.create_future()  # exit, cancel or timeout: the first

        def wake(*_: object) -> None:
            if not woken.done():
                woken.set_result(None)

        exited.add_done_callback(wake)  # the polling fallback's task; a pidfd wakes directly
        self._wake = wake
        timer = loop.call_later(timeout, wake) if timeout is not None else None
        if self._cancel.is_set() or exited.done():
            wake()
        reaping = _Reaper(loop)
        try:
            await woken
            return await self._settle(exited, timeout)
        finally:
            self._wake = None
            if timer is not None:
                timer.cancel()
            reaping.stop()
            RUNNING.pop(self.pid, None)  # kept until here: its orphans are charged to it

    async def _settle(self, exited: asyncio.Future[int], timeout: float | None) -> ProcessResult:
        status: Status | None = None
        reason = ""
        survivors: set[int] = set()
        if not exited.done():
            if self._cancel.is_set():
                status, reason = Status.CANCELLED, self._cancel_reason
            else:
                status, reason = Status.TIMED_OUT, f"timed out after {_seconds(timeout)}"
            survivors = await self._end_tree(exited)
        code = await exited
        leftovers: set[int] = set()
        if status is None and left_nothing(self.pid):
            pass  # the common case: no scan of /proc after a stage that left nothing
        elif status is None and not self.keep_children:
            leftovers = stage_processes(self.pid, self.token, self._since, quick=True)
            if leftovers:
                survivors = await self._end_tree(None)
        elif status is None:  # what it leaves running must outlive the stages that run on
            keep(stage_processes(self.pid, self.token, self._since, quick=True))
        await self._drain()
        if status is None:
            status, reason = _judge(code)
        return ProcessResult(status, code, reason, sorted(leftovers), sorted(survivors))

    async def _end_tree(self, exited: asyncio.Future[int] | None) -> set[int]:
        """End the tree, then reap the orphans among it: a zombie is not counted as alive, so
        one scan of /proc at the end is enough (none after a stage that left nothing)."""
        try:
            return await self._signal_tree(exited)
        finally:
            reap_adopted()

    async def _signal_tree(self, exited: asyncio.Future[int] | None) -> set[int]:
        """SIGTERM the group and the escapees, SIGKILL whatever is left after the grace."""
        pgid = self.pid
        signal_all(pgid, stage_processes(pgid, self.token, self._since), signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline:
            await asyncio.sleep(POLL)
            if not stage_processes(pgid, self.token, self._since) and (
                exited is None or exited.done()
            ):
                return set()
        deadline = time.monotonic() + KILL_WAIT
        while time.monotonic() < deadline:
            alive = stage_processes(pgid, self.token, self._since)
            if not alive:
                return set()
            signal_all(pgid, alive, signal.SIGKILL)
            await asyncio.sleep(POLL)
        return stage_processes(pgid, self.token, self._since)

    async def _drain(self) -> None:
        """Read what is left in the pipe; stop waiting when a kept child still holds it."""
        pending = list(self._open.values())
        if pending:
            await asyncio.wait(pending, timeout=DRAIN_AFTER_EXIT)
        for fd in list(self._open):
            self._read_rest(fd)

    def _read_rest(self, fd: int) -> None:
        while True:
            try:
                data = os.read(fd, CHUNK)
            except (BlockingIOError, OSError):
                break
            if not data:
                break
            self.on_output(STREAM, data)
        self._close(fd)


class _Reaper:
    """Every ``REAP_EVERY`` s while a stage runs: reap orphans that exited, note new ones.
    A timer, not a task: a stage that ends sooner costs no extra turn of the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._handle = loop.call_later(REAP_EVERY, self._tick)

    def _tick(self) -> None:
        reap_adopted()
        note_adopted()
        self._handle = self._loop.call_later(REAP_EVERY, self._tick)

    def stop(self) -> None:
        self._handle.cancel()


def _judge(code: int) -> tuple[Status, str]:
    if code == 0:
        return Status.SUCCEEDED, ""
    if code < 0:
        return Status.FAILED, f"killed by {signal_name(-code)}"
    return Status.FAILED, f"exit code {code}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value:g}s"
