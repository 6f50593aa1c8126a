"""The shell run on the host: the stage launcher, and the reaper that ends a stage's tree there.

sshd starts each session in a new session (``setsid``), so a stage's pid is its process group;
the launcher prints it, then ``exec``s the command. OpenSSH ignores the SSH "signal" request and
a closed channel leaves the command running (FIELD-NOTES), so ending a tree is done on the host:
SIGTERM to the group and to every process carrying the stage's marker variable (escapees), the
grace, then SIGKILL. One reaper shell per connection serves every stage's request, so a login
shell with heavy startup files is paid once per connection, not once more per stage.
"""

from __future__ import annotations

import asyncio
import itertools
import shlex
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from cdtui.runners.proctree import MARKER_VAR
from cdtui.runners.ssh_errors import ConnectFailed

if TYPE_CHECKING:
    from asyncssh import SSHClientConnection, SSHClientProcess

# $0 = token; $1 = cwd; then the argv, or one script for bash/sh like local stages. stderr joins
# stdout after the pid line (one pipe, like local stages): sshd's two would lose the lines' order.
LAUNCH = """printf 'cdtui-pid:%s %s\\n' "$0" "$$"
exec 2>&1
eval "$(cat)" || exit 1
cd -- "$1" || exit 1
shift
"""
LAUNCH_ARGV = 'exec "$@"'
LAUNCH_SCRIPT = """if command -v bash >/dev/null 2>&1; then
  exec bash --noprofile --norc -eo pipefail -c "$1"
fi
exec sh -ec "$1\""""

# reap ID PGID|- MARKER=token GRACE_CENTISECONDS prints "ID found PIDS" when anything was alive,
# "ID survivors PIDS" if SIGKILL did not end it, and always "ID done". Linux: reads /proc.
REAP = r"""exec 2>/dev/null
members() {
  if [ -n "$pg" ]; then
    for d in /proc/[0-9]*; do
      { read -r s < "$d/stat"; } 2>/dev/null || continue
      set -- ${s##*) }
      [ "$1" != Z ] && [ "$3" = "$pg" ] && echo "${d#/proc/}"
    done
  fi
  grep -lszxF -- "$mark" /proc/[0-9]*/environ | cut -d/ -f3
}
hit() {
  [ -n "$pg" ] && kill -"$1" -"$pg"
  for p in $(members); do kill -"$1" "$p"; done
}
now() { read -r up _ < /proc/uptime; now=${up%.*}${up#*.}; }
end_tree() {
  { [ -n "$pg" ] && kill -0 -"$pg"; } || grep -qszxF -- "$mark" /proc/[0-9]*/environ || return
  found=$(members | sort -un | tr '\n' ' ')
  [ -z "$found" ] && return
  echo "$id found $found"
  hit TERM
  now; end=$((now + grace))
  while [ "$now" -lt "$end" ]; do
    [ -z "$(members)" ] && return
    sleep 0.05; now
  done
  now; end=$((now + 200))
  while [ "$now" -lt "$end" ]; do
    [ -z "$(members)" ] && return
    hit KILL
    sleep 0.05; now
  done
  echo "$id survivors $(members | sort -un | tr '\n' ' ')"
}
reap() {
  id=$1 pg=$2 mark=$3 grace=$4
  [ "$pg" = - ] && pg=
  end_tree
  echo "$id done"
}
"""
REAPER_LOOP = 'while read -r id pg mark grace; do reap "$id" "$pg" "$mark" "$grace" & done'
START_TIMEOUT = 30.0


def launch_command(command: str | Sequence[str], cwd: str, token: str) -> str:
    """The command line the login shell runs; the environment follows on stdin."""
    if isinstance(command, str):
        script, argv = LAUNCH + LAUNCH_SCRIPT, [command]
    else:
        script, argv = LAUNCH + LAUNCH_ARGV, list(command)
    return shlex.join(["exec", "sh", "-c", script, token, cwd, *argv])


def env_script(env: Mapping[str, str]) -> bytes:
    """``export K='v'`` lines for the launcher's ``eval``: values stay data, byte for byte."""
    lines = []
    for key, value in env.items():
        if not (key.isascii() and key.isidentifier()):
            raise ValueError(f"{key!r} is not a valid environment variable name")
        lines.append(f"export {key}={shlex.quote(value)}\n")
    return "".join(lines).encode()


def one_shot_command(pgid: int | None, token: str, grace: float) -> str:
    args = ["0", str(pgid or "-"), f"{MARKER_VAR}={token}", _centiseconds(grace)]
    return shlex.join(["sh", "-c", REAP + 'reap "$@"', "cdtui-reap", *args])


def parse_reap(text: str) -> tuple[list[int], list[int]]:
    """(found, survivors) from the one-shot reaper's output."""
    found: list[int] = []
    survivors: list[int] = []
    for line in text.splitlines():
        _, word, pids = _fields(line)
        target = found if word == "found" else survivors if word == "survivors" else None
        if target is not None:
            target.extend(int(p) for p in pids if p.isdigit())
    return found, survivors


def _fields(line: str) -> tuple[str, str, list[str]]:
    parts = line.split()
    return (parts[0], parts[1], parts[2:]) if len(parts) >= 2 else ("", "", [])


def _centiseconds(seconds: float) -> str:
    return str(max(1, round(seconds * 100)))


class Reaper:
    """A helper shell on one connection that ends stage trees on request, many at once."""

    def __init__(self, conn: SSHClientConnection, host_name: str) -> None:
        self.conn = conn
        self.host_name = host_name
        self._ids = itertools.count(1)
        self._starting: asyncio.Task[SSHClientProcess] | None = None
        self._pending: dict[str, tuple[asyncio.Future[None], list[int], list[int]]] = {}
        self._reader: asyncio.Future[None] | None = None
        self._ended = False

    def warm(self) -> None:
        """Start the helper in the background, so its login shell overlaps a stage's run."""
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._start())
            self._starting.add_done_callback(lambda task: task.cancelled() or task.exception())

    async def _start(self) -> SSHClientProcess:
        command = shlex.join(["exec", "sh", "-c", REAP + REAPER_LOOP, "cdtui-reaper"])
        process = await self.conn.create_process(command, encoding="utf-8")
        self._reader = asyncio.ensure_future(self._read(process))
        return process

    async def end_tree(
        self, pgid: int | None, token: str, grace: float, timeout: float
    ) -> tuple[list[int], list[int]]:
        """(pids found alive, pids that survived SIGKILL) of the stage, once its tree is gone."""
        import asyncssh

        if self._ended:
            raise ConnectFailed(f"host {self.host_name}: the reaper shell has ended")
        self.warm()
        assert self._starting is not None
        request = str(next(self._ids))
        done = asyncio.get_running_loop().create_future()
        self._pending[request] = (done, [], [])
        try:
            process = await asyncio.wait_for(asyncio.shield(self._starting), START_TIMEOUT)
            line = f"{request} {pgid or '-'} {MARKER_VAR}={token} {_centiseconds(grace)}\n"
            process.stdin.write(line)
            await asyncio.wait_for(done, timeout)
        except (OSError, TimeoutError, asyncssh.Error) as error:
            why = str(error) or type(error).__name__
            raise ConnectFailed(f"host {self.host_name}: the reaper shell failed: {why}") from None
        finally:
            _, found, survivors = self._pending.pop(request)
        return found, survivors

    async def _read(self, process: SSHClientProcess) -> None:
        try:
            async for line in process.stdout:
                request, word, pids = _fields(line)
                entry = self._pending.get(request)
                if entry is None:
                    continue
                if word == "done":
                    if not entry[0].done():
                        entry[0].set_result(None)
                else:
                    target = entry[1] if word == "found" else entry[2]
                    target.extend(int(p) for p in pids if p.isdigit())
        except Exception:  # a broken helper fails its waiters below, never the event loop
            pass
        self._ended = True
        for done, _, _ in self._pending.values():
            if not done.done():
                done.set_exception(ConnectionError("reaper shell ended"))


def home_relative(path: str) -> str:
    """``~/x`` as ``x``: sessions and SFTP start in the login directory; neither expands ``~``."""
    if path == "~":
        return "."
    return (path[2:] or ".") if path.startswith("~/") else path
