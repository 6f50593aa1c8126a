"""The engine with real processes: ordering, parallelism, failure, gates, retries, timeouts."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from cdtui.engine.events import (
    GateApproved,
    GateWaiting,
    PhaseStarted,
    RunFinished,
    StageStarted,
    Status,
)
from tests.conftest import pipeline_of


def until_exists(path: str) -> str:
    """Shell that waits for ``path``, failing the stage after ~10 s: overlap proven, no clock."""
    return f"for i in $(seq 500); do [ -e {path} ] && break; sleep 0.02; done; [ -e {path} ]"


async def test_stages_run_in_order_of_needs_and_in_parallel(make_engine, tmp_path: Path):
    pipeline = pipeline_of(
        {
            "name": "Build",
            "stages": [
                # Each waits for the other to have started: run one after the other, a fails.
                {"name": "a", "run": f"touch a.up; {until_exists('b.up')}; echo a >> order"},
                {"name": "b", "run": f"touch b.up; {until_exists('a.up')}; echo b >> order"},
                {"name": "c", "run": "echo c >> order", "needs": ["a", "b"]},
            ],
        }
    )
    engine, _events = make_engine(pipeline, jobs=2)
    assert await engine.run() is Status.SUCCEEDED  # a and b overlapped: each saw the other
    lines = (tmp_path / "order").read_text().split()
    assert lines[-1] == "c" and sorted(lines[:2]) == ["a", "b"]


async def test_jobs_bound_parallelism(make_engine):
    pipeline = pipeline_of(
        {"name": "P", "stages": [{"name": f"s{i}", "run": "sleep 0.2"} for i in range(3)]}
    )
    engine, _ = make_engine(pipeline, jobs=1)
    began = time.monotonic()
    await engine.run()
    assert time.monotonic() - began >= 0.6


async def test_failure_skips_dependents_and_stops_later_phases(make_engine):
    pipeline = pipeline_of(
        {
            "name": "One",
            "stages": [
                {"name": "bad", "run": "echo oops >&2; exit 3"},
                {"name": "after", "run": "true", "needs": ["bad"]},
                {"name": "free", "run": "true"},
            ],
        },
        {"name": "Two", "stages": [{"name": "never", "run": "true"}]},
    )
    engine, events = make_engine(pipeline)
    assert await engine.run() is Status.FAILED
    bad = events.final("bad")
    assert bad.status is Status.FAILED and bad.exit_code == 3 and bad.reason == "exit code 3"
    assert events.output("bad") == "oops\n"  # stderr shares the stage's one pipe
    after = events.final("after")
    assert after.status is Status.SKIPPED and "needs 'bad'" in after.reason
    assert events.final("free").status is Status.SUCCEEDED
    assert [e.phase for e in events.of(PhaseStarted)] == ["One"]


async def test_continue_on_error_lets_dependents_and_phase_pass(make_engine):
    pipeline = pipeline_of(
        {
            "name": "P",
            "stages": [
                {"name": "flaky", "run": "exit 1", "continue_on_error": True},
                {"name": "next", "run": "true", "needs": ["flaky"]},
            ],
        }
    )
    engine, events = make_engine(pipeline)
    assert await engine.run() is Status.SUCCEEDED
    assert events.final("flaky").status is Status.FAILED
    assert events.final("next").status is Status.SUCCEEDED


async def test_retries_with_backoff_until_success(make_engine, tmp_path: Path):
    script = "n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; [ $n -ge 3 ]"
    pipeline = pipeline_of(
        {
            "name": "P",
            "stages": [
                {"name": "flaky", "run": script, "retries": {"count": 3, "backoff": "50ms"}}
            ],
        }
    )
    engine, events = make_engine(pipeline)
    assert await engine.run() is Status.SUCCEEDED
    finishes = [e for e in events.of(type(events.final("flaky"))) if e.stage == "flaky"]
    assert [(e.attempt, e.status, e.will_retry) for e in finishes] == [
        (1, Status.FAILED, True),
        (2, Status.FAILED, True),
        (3, Status.SUCCEEDED, False),
    ]
    assert finishes[1].retry_in == 0.1  # backoff doubles


async def test_timeout_is_its_own_status(make_engine):
    pipeline = pipeline_of(
        {"name": "P", "stages": [{"name": "slow", "run": "sleep 30", "timeout": "200ms"}]}
    )
    engine, events = make_engine(pipeline)
    assert await engine.run() is Status.FAILED  # the run fails; the stage says why
    final = events.final("slow")
    assert final.status is Status.TIMED_OUT and "timed out after 0.2s" in final.reason


async def test_manual_stage_is_skipped_unless_selected(make_engine):
    pipeline = pipeline_of(
        {
            "name": "P",
            "stages": [
                {"name": "auto", "run": "true"},
                {"name": "deploy", "run": "echo deployed", "when": "manual"},
            ],
        }
    )
    engine, events = make_engine(pipeline)
    assert await engine.run() is Status.SUCCEEDED
    assert events.final("deploy").status is Status.SKIPPED
    assert "--stage 'P/deploy'" in events.final("deploy").reason

    engine, events = make_engine(pipeline, stages=("deploy",))
    assert await engine.run() is Status.SUCCEEDED
    assert events.output("deploy") == "deployed\n"
    assert not [e for e in events.of(StageStarted) if e.stage == "auto"]


async def test_gate_blocks_headless_without_approval(make_engine):
    pipeline = pipeline_of(
        {"name": "Build", "stages": [{"name": "b", "run": "true"}]},
        {"name": "Release", "gate": "confirm", "stages": [{"name": "ship", "run": "true"}]},
    )
    engine, events = make_engine(pipeline)
    assert await engine.run() is Status.BLOCKED
    assert events.of(GateWaiting)[0].next_stages == ("ship",)
    assert not [e for e in events.of(StageStarted) if e.stage == "ship"]

    engine, events = make_engine(pipeline, approve=frozenset({"release"}))
    assert await engine.run() is Status.SUCCEEDED
    assert "--approve" in events.of(GateApproved)[0].who


async def test_interactive_gate_waits_for_one_approval(make_engine):
    pipeline = pipeline_of(
        {"name": "Release", "gate": "confirm", "stages": [{"name": "ship", "run": "true"}]}
    )
    engine, events = make_engine(pipeline, interactive_gates=True)
    task = asyncio.create_task(engine.run())
    await asyncio.sleep(0.1)
    assert engine.waiting_gates == ["Release"] and not task.done()
    assert engine.approve("Release", "alice") is True
    assert engine.approve("Release", "alice") is False  # a repeated key approves once
    assert await task is Status.SUCCEEDED
    assert [e.who for e in events.of(GateApproved)] == ["alice"]


async def test_cancel_ends_running_stages_and_skips_the_rest(make_engine):
    pipeline = pipeline_of(
        {
            "name": "P",
            "stages": [
                {"name": "long", "run": "sleep 30"},
                {"name": "later", "run": "true", "needs": ["long"]},
            ],
        }
    )
    engine, events = make_engine(pipeline)
    task = asyncio.create_task(engine.run())
    await asyncio.sleep(0.2)
    engine.cancel("cancelled by test")
    assert await asyncio.wait_for(task, 5) is Status.CANCELLED
    assert events.final("long").status is Status.CANCELLED
    assert events.final("later").status is Status.SKIPPED
    assert events.of(RunFinished)[0].reason == "cancelled by test"


async def test_env_layers_and_argv_commands(make_engine):
    pipeline = pipeline_of(
        {
            "name": "P",
            "stages": [
                {"name": "sh", "run": 'echo "$TOP $MINE $CDTUI_STAGE"', "env": {"MINE": "m"}},
                {"name": "argv", "run": ["printf", "%s|", "a b", "$HOME"]},
            ],
        },
        env={"TOP": "t"},
    )
    engine, events = make_engine(pipeline)
    assert await engine.run() is Status.SUCCEEDED
    assert events.output("sh") == "t m sh\n"
    assert events.output("argv") == "a b|$HOME|"


async def test_missing_program_and_cwd_fail_with_a_clear_reason(make_engine):
    pipeline = pipeline_of(
        {
            "name": "P",
            "stages": [
                {"name": "noprog", "run": ["/nonexistent/tool"]},
                {"name": "nocwd", "run": "true", "cwd": "missing-dir"},
            ],
        }
    )
    engine, events = make_engine(pipeline)
    assert await engine.run() is Status.FAILED
    assert "cannot start /nonexistent/tool" in events.final("noprog").reason
    assert "'missing-dir' does not exist" in events.final("nocwd").reason


async def test_secrets_are_masked_in_output_and_reasons(make_engine):
    secret = "s3cr3t-value-42"
    pipeline = pipeline_of(
        {
            "name": "P",
            "stages": [
                {
                    "name": "leaky",
                    "run": 'for c in $(echo "$TOKEN" | fold -w1); do printf %s "$c"; done; '
                    'echo; echo -n "$TOKEN" | base64; exit 1',
                }
            ],
        }
    )
    engine, events = make_engine(pipeline, secrets={"TOKEN": secret})
    await engine.run()
    text = events.output("leaky")
    assert secret not in text and "***" in text
    import base64

    assert base64.b64encode(secret.encode()).decode()[:12] not in text


async def test_always_stage_runs_after_a_failed_need_and_the_phase_still_fails(make_engine):
    pipeline = pipeline_of(
        {
            "name": "P",
            "stages": [
                {"name": "smoke", "run": "exit 1"},
                {"name": "cleanup", "run": "echo cleaned", "needs": ["smoke"], "when": "always"},
            ],
        }
    )
    engine, events = make_engine(pipeline)
    assert await engine.run() is Status.FAILED
    assert events.final("cleanup").status is Status.SUCCEEDED
    assert events.output("cleanup") == "cleaned\n"
