"""What a stage kind is given to do its work: never the engine itself.

A kind reads its stage's config, writes masked output, fires its own events, watches the cancel
signal and registers what can be cancelled; the engine keeps attempts, retries, gates, artifacts
and metrics around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cdtui.config.models import Pipeline, Stage
from cdtui.engine.events import Event, Notice, StageStarted
from cdtui.engine.masking import SecretMasker
from cdtui.engine.output import OutputSink

if TYPE_CHECKING:
    from cdtui.runners.ssh import SshPool


class Cancellable(Protocol):
    """Anything a stage runs that cancel and cancel-stage must reach (a process, a rollout)."""

    def cancel(self, reason: str = "cancelled") -> None: ...


class CancelFlag:
    """A ``Cancellable`` that only records the ask: a kind that waits on something outside a
    process (a stack's events, load workers) watches ``event`` and says ``reason``."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.reason = ""

    def cancel(self, reason: str = "cancelled") -> None:
        self.reason = reason
        self.event.set()


class LineLog:
    """A kind's own account of what it does, a line at a time, into the attempt's log."""

    def __init__(self, ctx: StageContext) -> None:
        self.sink = ctx.output()

    def line(self, text: str) -> None:
        self.sink.feed("stdout", (text if text.endswith("\n") else text + "\n").encode())


@dataclass
class StageContext:
    run_id: int
    phase: str
    stage: Stage
    attempt: int
    pipeline: Pipeline
    project_dir: Path  # where the stage's files are: a clean checkout's directory, if it has one
    state_dir: Path
    env: dict[str, str]  # the stage's own layers: pipeline env, stage env, secrets, CDTUI_*
    environ: dict[str, str]  # cdtui's environment, which a local process inherits below env
    masker: SecretMasker
    emit: Callable[[Event], None]
    cancel_signal: asyncio.Event
    metrics: Path  # CDTUI_METRICS: the attempt's metrics file
    user: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)  # a front end's asks for this kind
    values: dict[str, Any] = field(default_factory=dict)  # what ${namespace.path} sees
    _publish: Callable[[str, str, Any], None] = lambda _ns, _key, _value: None
    _cancel_reason: Callable[[], str] = lambda: "cancelled"
    _track: Callable[[Cancellable], Callable[[], None]] = lambda _c: lambda: None
    _ssh_pool: Callable[[], SshPool] | None = None
    _started: bool = False
    _sinks: list[OutputSink] = field(default_factory=list)
    _offer: Callable[[Any], None] = lambda _handle: None
    _home: Path | None = None  # the project itself, when project_dir is a checkout

    # -- what the stage says -----------------------------------------------------------------
    @property
    def home(self) -> Path:
        """The project the run belongs to: its state, records, locks and releases are keyed by
        it, also while the stage runs in a clean checkout (``project_dir`` is then the checkout,
        which is removed afterwards)."""
        return self._home or self.project_dir

    @property
    def timeout(self) -> float | None:
        return self.stage.timeout

    @property
    def grace(self) -> float:
        return self.stage.grace if self.stage.grace is not None else self.pipeline.grace

    @property
    def cancelled(self) -> bool:
        return self.cancel_signal.is_set()

    @property
    def cancel_reason(self) -> str:
        return self._cancel_reason()

    def local_env(self) -> dict[str, str]:
        """A local process inherits cdtui's environment (PATH, HOME, ...) under the layers."""
        return {**self.environ, **self.env, "CDTUI_PROJECT_DIR": str(self.project_dir)}

    def command(self) -> str | list[str]:
        """The stage's ``run`` with its ``${…}`` references expanded (shell-quoted in a string).

        Raises ``InterpolationError`` naming the reference and what exists instead.
        """
        from cdtui.engine.interpolate import expand_command

        assert self.stage.run is not None
        return expand_command(self.stage.run, self.values)

    def publish(self, namespace: str, key: str, value: Any) -> None:
        """Make ``value`` visible to later stages of the run as ``${namespace.key…}``."""
        self._publish(namespace, key, value)
        self.values.setdefault(namespace, {})[key] = value

    # -- what the stage does -----------------------------------------------------------------
    def started(self, command: str, pid: int | None = None, host: str = "local") -> None:
        """The attempt began (once): the tree shows its command (masked) and where it runs."""
        if self._started:
            return
        self._started = True
        self.emit(
            StageStarted(
                self.run_id,
                time.time(),
                self.phase,
                self.stage.name,
                self.attempt,
                self.masker.mask_text(command),
                host=host,
                pid=pid,
            )
        )

    @property
    def has_started(self) -> bool:
        return self._started

    def output(self, host: str = "local", prefix: str = "") -> OutputSink:
        """A masking sink into the attempt's log; closed with the attempt."""
        sink = OutputSink(
            self.emit,
            self.masker,
            self.run_id,
            self.phase,
            self.stage.name,
            self.attempt,
            host=host,
            prefix=prefix,
        )
        self._sinks.append(sink)
        return sink

    def notice(self, level: str, text: str) -> None:
        self.emit(
            Notice(
                self.run_id,
                time.time(),
                level,
                self.masker.mask_text(text),
                self.phase,
                self.stage.name,
            )
        )

    @contextlib.contextmanager
    def tracking(self, thing: Cancellable) -> Iterator[None]:
        """While inside, the run's cancel and the stage's cancel reach ``thing``."""
        untrack = self._track(thing)
        try:
            yield
        finally:
            untrack()

    def offer(self, handle: Any) -> None:
        """The kind's live handle (a release's rollout) for front ends to steer; None withdraws."""
        self._offer(handle)

    def ssh_pool(self) -> SshPool:
        assert self._ssh_pool is not None, "this context has no SSH pool"
        return self._ssh_pool()

    def close(self) -> None:
        for sink in self._sinks:
            sink.close()
        self._sinks.clear()
