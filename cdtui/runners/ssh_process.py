"""One stage attempt on a remote host: the same shape as ``LocalProcess``, over a pooled channel.

Output arrives per SSH packet through session callbacks (no read loop). The launcher merges the
command's stderr into its stdout on the host, so lines keep the order they were written in (only
what the login shell itself prints to stderr arrives apart). The exit status arrives before the
channel closes, so a child holding the pipes cannot hang the stage. Cancel, timeout and
leftovers are handled on the host by ``ssh_remote.Reaper``.

The environment travels on stdin as ``export K='v'`` lines (``shlex.quote``d, read by ``eval``):
no shell ever sees a value unquoted, sshd's AcceptEnv is not needed, and secrets never appear in
a remote process's argv, which other users of the host can read.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import Mapping, Sequence
from signal import Signals
from typing import TYPE_CHECKING

from cdtui.engine.events import Status
from cdtui.runners.local import CHUNK, DRAIN_AFTER_EXIT, KILL_WAIT, OutputCallback, ProcessResult
from cdtui.runners.proctree import MARKER_VAR
from cdtui.runners.ssh_errors import ConnectFailed, SshError, where
from cdtui.runners.ssh_remote import (
    env_script,
    home_relative,
    launch_command,
    one_shot_command,
    parse_reap,
)

if TYPE_CHECKING:
    from asyncssh import SSHClientChannel

    from cdtui.config.models import Host
    from cdtui.runners.ssh import SshPool
    from cdtui.runners.ssh_remote import Reaper

START_TIMEOUT = 30.0  # until the launcher prints the pid: covers a slow login shell
REAP_SLACK = 10.0

_PID_LINE = re.compile(rb"cdtui-pid:([0-9a-f]+) (\d+)\n")


class RemoteProcess:
    """One attempt on ``host``: start, stream its output, wait, end the tree on cancel."""

    def __init__(
        self,
        pool: SshPool,
        host_name: str,
        host: Host,
        command: str | Sequence[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        on_output: OutputCallback,
        grace: float = 10.0,
        keep_children: bool = False,
    ) -> None:
        self.pool = pool
        self.host_name = host_name
        self.host = host
        self.command = command if isinstance(command, str) else list(command)
        self.cwd = cwd
        self.token = uuid.uuid4().hex
        self.env = {**(env or {}), MARKER_VAR: self.token}
        self.on_output = on_output
        self.grace = grace
        self.keep_children = keep_children
        self.pid: int | None = None
        self._channel: SSHClientChannel | None = None
        self._slot: asyncio.Semaphore | None = None
        self._reaper: Reaper | None = None
        self._head = b""  # stdout before the pid line
        self._code: int | None = None
        self._lost = ""
        self._started: asyncio.Future[int | None] | None = None
        self._exited: asyncio.Future[None] | None = None
        self._closed: asyncio.Future[None] | None = None
        self._cancel = asyncio.Event()
        self._cancel_reason = ""
        self._finished = False

    async def start(self) -> int | None:
        """Open the channel and return the remote pid; raises ``SshError`` (one line) on failure."""
        import asyncssh

        env = env_script(self.env)
        loop = asyncio.get_running_loop()
        self._started, self._exited, self._closed = (loop.create_future() for _ in range(3))
        conn = await self.pool.get(self.host_name, self.host)
        self._slot = self.pool.slot(self.host_name)
        await self._slot.acquire()
        try:
            self._channel, _ = await conn.create_session(
                lambda: _session_class()(self),
                launch_command(self.command, home_relative(self.cwd or "."), self.token),
                encoding=None,
            )
            self._channel.write(env)
            self._channel.write_eof()
            self._reaper = self.pool.reaper(self.host_name, conn)
            self._reaper.warm()
        except (OSError, asyncssh.Error) as error:
            self._release()
            why = str(error) or type(error).__name__
            if isinstance(error, asyncssh.ChannelOpenError):
                why = f"the host refused a new session ({why}; is sshd's MaxSessions below 10?)"
            raise ConnectFailed(
                f"host {self.host_name} ({where(self.host)}): cannot start the command: {why}"
            ) from None
        except BaseException:  # cancelled while opening: give the session slot back
            self._release()
            raise
        try:
            self.pid = await asyncio.wait_for(asyncio.shield(self._started), START_TIMEOUT)
        except TimeoutError:
            self.pid = None
        return self.pid

    def cancel(self, reason: str = "cancelled") -> None:
        self._cancel_reason = reason
        self._cancel.set()

    async def wait(self, timeout: float | None = None) -> ProcessResult:
        """Wait for exit, a cancel or the timeout; always returns with the remote tree handled."""
        assert self._exited is not None and self._closed is not None
        cancelled = asyncio.ensure_future(self._cancel.wait())
        try:
            await asyncio.wait(
                {self._exited, cancelled}, timeout=timeout, return_when="FIRST_COMPLETED"
            )
        finally:
            cancelled.cancel()
        status: Status | None = None
        reason = ""
        ended: list[int] = []
        survivors: list[int] = []
        if not self._exited.done():
            if self._cancel.is_set():
                status, reason = Status.CANCELLED, self._cancel_reason
            else:
                status, reason = Status.TIMED_OUT, f"timed out after {timeout:g}s"
            try:
                _, survivors = await self._reap(self.grace)
            except SshError as error:
                reason = f"{reason}; could not end the remote processes: {error}"
            await asyncio.wait({self._exited}, timeout=KILL_WAIT)
        elif not self._lost and not self.keep_children:
            await asyncio.wait({self._closed}, timeout=DRAIN_AFTER_EXIT)
            with contextlib.suppress(SshError):  # the stage finished; a lost link hides leftovers
                ended, survivors = await self._reap(self.grace)
        await asyncio.wait({self._closed}, timeout=DRAIN_AFTER_EXIT)
        if self._channel is not None and not self._closed.done():
            self._channel.close()  # keep_children: they keep running without our pipes
        self._flush_head()
        self._release()
        self._finished = True
        if status is None:
            status, reason = self._judge()
        return ProcessResult(status, self._code, reason, ended, survivors)

    def _judge(self) -> tuple[Status, str]:
        if self._lost and self._code is None:
            return Status.FAILED, self._lost
        if self._code == 0:
            return Status.SUCCEEDED, ""
        if self._code is None:
            return Status.FAILED, f"host {self.host_name} closed the session without an exit status"
        if self._code < 0:
            return Status.FAILED, f"killed by {_signal_name(-self._code)} on {self.host_name}"
        return Status.FAILED, f"exit code {self._code}"

    async def _reap(self, grace: float) -> tuple[list[int], list[int]]:
        """End the stage's tree on the host: (pids found alive, pids that survived SIGKILL)."""
        import asyncssh

        timeout = grace + KILL_WAIT + REAP_SLACK
        if self._reaper is not None:
            with contextlib.suppress(SshError):
                return await self._reaper.end_tree(self.pid, self.token, grace, timeout)
        conn = await self.pool.get(self.host_name, self.host)  # the reaper is gone: one shot
        try:
            result = await asyncio.wait_for(
                conn.run(one_shot_command(self.pid, self.token, grace), check=False), timeout
            )
        except (OSError, TimeoutError, asyncssh.Error) as error:
            raise ConnectFailed(f"host {self.host_name} ({where(self.host)}): {error}") from None
        return parse_reap(str(result.stdout))

    def _release(self) -> None:
        if self._slot is not None:
            self._slot.release()
            self._slot = None

    # Channel callbacks (from the session below).

    def _data(self, data: bytes, stderr: bool) -> None:
        if self._finished:  # a kept child still writing while its channel closes
            return
        if stderr:
            self.on_output("stderr", data)
        elif self._started is not None and not self._started.done():
            self._find_pid(data)
        else:
            self.on_output("stdout", data)

    def _find_pid(self, data: bytes) -> None:
        """Hold stdout until the launcher's pid line; pass through whatever the login printed."""
        assert self._started is not None
        self._head += data
        match = _PID_LINE.search(self._head)
        if match and match.group(1).decode() == self.token:
            before, rest = self._head[: match.start()], self._head[match.end() :]
            self._head = b""
            self.pid = int(match.group(2))
            self._started.set_result(self.pid)
            for chunk in (before, rest):
                if chunk:
                    self.on_output("stdout", chunk)
        elif len(self._head) > CHUNK:
            self._flush_head()

    def _flush_head(self) -> None:
        if self._head:
            head, self._head = self._head, b""
            self.on_output("stdout", head)
        if self._started is not None and not self._started.done():
            self._started.set_result(None)

    def _exit(self, code: int) -> None:
        self._code = code
        if self._exited is not None and not self._exited.done():
            self._exited.set_result(None)

    def _gone(self, exc: Exception | None) -> None:
        if exc is not None and self._code is None:
            self._lost = (
                f"connection to host {self.host_name} ({where(self.host)}) lost during the stage "
                f"({' '.join(str(exc).split()) or type(exc).__name__}); "
                "the remote command may still be running"
            )
            self.pool.forget(self.host_name)
        self._flush_head()
        for future in (self._exited, self._closed):
            if future is not None and not future.done():
                future.set_result(None)


def _signal_name(number: int) -> str:
    try:
        return Signals(number).name
    except ValueError:
        return f"signal {number}"


_SESSION_CLASS: type | None = None


def _session_class() -> type:
    """asyncssh's session callbacks, subclassed on first use (asyncssh loads lazily)."""
    global _SESSION_CLASS
    if _SESSION_CLASS is None:
        import asyncssh

        class _Session(asyncssh.SSHClientSession):
            """Feeds a RemoteProcess: data per packet, stderr apart, exit status before close."""

            def __init__(self, process: RemoteProcess) -> None:
                self.process = process

            def data_received(self, data: bytes, datatype: int | None) -> None:
                self.process._data(data, datatype == asyncssh.EXTENDED_DATA_STDERR)

            def exit_status_received(self, status: int) -> None:
                self.process._exit(status)

            def exit_signal_received(
                self, signal: str, core_dumped: bool, msg: str, lang: str
            ) -> None:
                number = Signals.__members__.get("SIG" + signal)
                self.process._exit(-int(number) if number is not None else -255)

            def connection_lost(self, exc: Exception | None) -> None:
                self.process._gone(exc)

        _SESSION_CLASS = _Session
    return _SESSION_CLASS
