"""What is stored with a firing alert besides its last checks: the output of its ``logs:``
command (``journalctl -u shop -n 500``), run in the project with the live colour in
``CDTUI_COLOUR``; bounded in time and size, so evidence never holds up the monitor."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

LOGS_TIMEOUT = 10.0
LOGS_BYTES = 256 * 1024
_SHELL = ["bash", "--noprofile", "--norc", "-o", "pipefail", "-c"]


async def gather_logs(command: str | list[str], project_dir: Path, env: dict[str, str]) -> str:
    """The command's output (its last LOGS_BYTES), or what stopped it, as text."""
    argv = [*_SHELL, command] if isinstance(command, str) else list(command)
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=project_dir,
            env={**os.environ, **env},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        return f"(logs: cannot start {argv[0]!r}: {exc.strerror or exc})"
    chunks: list[bytes] = []
    size = 0
    note = ""
    try:
        async with asyncio.timeout(LOGS_TIMEOUT):
            assert process.stdout is not None
            while chunk := await process.stdout.read(65536):
                chunks.append(chunk)
                size += len(chunk)
                while size - len(chunks[0]) >= LOGS_BYTES:
                    size -= len(chunks.pop(0))
            code = await process.wait()
            if code:
                note = f"\n(logs: exit code {code})"
    except TimeoutError:
        note = f"\n(logs: stopped after {LOGS_TIMEOUT:g}s)"
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                await process.wait()
    return b"".join(chunks)[-LOGS_BYTES:].decode(errors="replace") + note
