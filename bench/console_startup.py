"""Startup: spawn to first paint of the console vs a bare Textual app (Tree, Log, Footer).

Also reported: spawn until the pipeline tree itself is on screen (config and store loaded),
seen as the tree's last stage, read from the project's pipeline so the bench follows its edits.

Both run in a pseudo-terminal (80x24); "first paint" is the moment a string that only the
first frame's content contains appears in the terminal output. Target: <= 1.3x the bare app.
Usage: python bench/console_startup.py [--runs 7] [--project sample_project] [--quick]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import statistics
import struct
import sys
import tempfile
import termios
import time
from pathlib import Path

BARE_APP = """
from textual.app import App
from textual.widgets import Footer, Log, Tree

class Bare(App):
    BINDINGS = [("q", "quit", "Quit")]
    def compose(self):
        tree = Tree("bare-root-label")
        tree.root.add_leaf("stage")
        yield tree
        yield Log()
        yield Footer()

Bare().run()
"""


def paints(argv: list[str], markers: list[bytes], cwd: str, timeout: float = 20.0) -> list[float]:
    """Seconds from spawn until each of ``markers`` shows on the terminal, each after the last."""
    pid, fd = pty.fork()
    if pid == 0:  # child
        os.chdir(cwd)
        os.environ["TERM"] = "xterm-256color"
        os.execvp(argv[0], argv)
    began = time.perf_counter()
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    seen, at, times = b"", 0, []
    try:
        while time.perf_counter() - began < timeout:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if not ready:
                continue
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
            while len(times) < len(markers) and (found := seen.find(markers[len(times)], at)) >= 0:
                times.append(time.perf_counter() - began)
                at = found + len(markers[len(times) - 1])
            if len(times) == len(markers):
                return times
        raise RuntimeError(f"{markers[len(times)]!r} never appeared; got {seen[-300:]!r}")
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(fd)


def last_stage(project: Path) -> bytes:
    """The name the phase tree shows last: the bench must not wait for a stage that has gone."""
    from cdtui.config.loader import find_pipeline_file, load_pipeline
    from cdtui.engine.state import RunState

    pipeline = load_pipeline(find_pipeline_file(project), check_secrets=False)
    phases = [p for p in RunState.skeleton(pipeline).phases.values() if p.stages]
    return list(phases[-1].stages)[-1].encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--project", default=str(Path(__file__).resolve().parents[1] / "sample_project")
    )
    parser.add_argument("--quick", action="store_true", help="One run of each: seconds, for CI.")
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    project = str(Path(args.project).resolve())
    tree_marker = last_stage(Path(project))
    # As an installed package would be: byte-compiled (this machine sets PYTHONDONTWRITEBYTECODE,
    # which would otherwise make every run recompile cdtui while Textual's .pyc files exist).
    import compileall

    compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "cdtui"), quiet=1)
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
        handle.write(BARE_APP)
        bare_script = handle.name
    ours, tree, bare = [], [], []
    cdtui = [sys.executable, "-m", "cdtui.cli", project]
    for _ in range(runs):
        painted, tree_shown = paints(cdtui, [b"cdtui", tree_marker], project)
        ours.append(painted)
        tree.append(tree_shown)
        bare.extend(paints([sys.executable, bare_script], [b"bare-root-label"], project))
    os.unlink(bare_script)
    a, t, b = statistics.median(ours), statistics.median(tree), statistics.median(bare)
    print(
        f"first paint: cdtui {a * 1000:.0f} ms, bare Textual app {b * 1000:.0f} ms, "
        f"ratio {a / b:.2f}x (target <= 1.3x)"
    )
    print(
        f"pipeline tree on screen ({tree_marker.decode()!r} shown): {t * 1000:.0f} ms, "
        f"ratio {t / b:.2f}x the bare app's paint"
    )


if __name__ == "__main__":
    main()
