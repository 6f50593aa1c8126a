"""Start the embedded router when a release needs it and none runs, so a project's first release
works on embedded defaults (no ``cdtui router serve`` beforehand).

The router is started by a fresh ``python -m cdtui.release.autostart`` process that receives the
release block as JSON: forking the console (threads, a live event loop) would be unsafe.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from cdtui.config.release import ReleaseSpec
from cdtui.release.routers import RouterError

START_TIMEOUT = 15.0


async def ensure_embedded_router(spec: ReleaseSpec, project_dir: Path) -> str:
    """'' when the router already answers (or is not embedded), else what was started."""
    if spec.router.kind != "embedded":
        return ""
    from cdtui.release.routers.daemon import answering
    from cdtui.release.routers.files import RouterPaths

    if await asyncio.to_thread(answering, RouterPaths.of(project_dir)):
        return ""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cdtui.release.autostart",
        str(project_dir),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=_same_cdtui_env(),
    )
    try:
        async with asyncio.timeout(START_TIMEOUT):
            out, _ = await proc.communicate(spec.model_dump_json(exclude_unset=True).encode())
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise RouterError(f"the embedded router did not start within {START_TIMEOUT:g}s") from None
    text = out.decode(errors="replace").strip().splitlines()
    last = text[-1] if text else f"exit {proc.returncode}"
    if proc.returncode != 0:
        raise RouterError(f"cannot start the embedded router: {last}")
    return last


def _same_cdtui_env() -> dict[str, str]:
    """The child imports this very cdtui (a source checkout may shadow the installed one)."""
    import os

    import cdtui

    root = str(Path(cdtui.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


def _main(argv: list[str]) -> int:
    from cdtui.release.routers.daemon import start_detached
    from cdtui.release.routers.files import RouterPaths

    project_dir = Path(argv[0])
    spec = ReleaseSpec.model_validate(json.loads(sys.stdin.read()))
    paths = RouterPaths.of(project_dir)
    try:
        pid, listen = start_detached(spec, paths, str(project_dir))
    except RouterError as exc:
        print(exc)
        return 1
    print(f"started the embedded router on {listen} (pid {pid}); log: {paths.log}")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
