"""The monitor's pure parts: Gatus-style conditions, the alert state machine, and the pipeline
file's located errors for a monitor block."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdtui.config import ConfigError, load_pipeline
from cdtui.config.monitor import AlertSpec
from cdtui.monitor.checks import Result
from cdtui.monitor.conditions import ConditionError, Facts, parse
from cdtui.monitor.rules import CHECKER_AFTER, AlertRule, CheckerWatch


@pytest.mark.parametrize(
    ("text", "facts", "met"),
    [
        ("status == 200", Facts(status=200), True),
        ("[STATUS] == 200", Facts(status=503), False),
        ("status != 500", Facts(status=200), True),
        ("response_time < 300ms", Facts(response_ms=120), True),
        ("response_time < 0.1s", Facts(response_ms=120), False),
        ("[RESPONSE_TIME] < 300", Facts(response_ms=301), False),  # a bare number is ms (Gatus)
        ('body.status == "ok"', Facts(body=b'{"status": "ok"}'), True),
        ("[BODY].status == UP", Facts(body=b'{"status": "DOWN"}'), False),
        ("body.items[1].n >= 2", Facts(body=b'{"items": [{"n": 1}, {"n": 2}]}'), True),
        ("body.db.ok == true", Facts(body=b'{"db": {"ok": true}}'), True),
        ("body contains healthy", Facts(body=b"all healthy"), True),
        ("body not contains error", Facts(body=b"error: disk"), False),
        (
            "header.content-type contains json",
            Facts(headers={"content-type": "application/json"}),
            True,
        ),
        ("body.missing == 1", Facts(body=b"{}"), False),
    ],
)
def test_conditions_read_like_gatus(text: str, facts: Facts, met: bool) -> None:
    assert parse(text, "http").check(facts)[0] is met


def test_a_failed_condition_says_what_it_saw() -> None:
    ok, why = parse('body.status == "ok"', "http").check(Facts(body=b'{"status": "down"}'))
    assert not ok and why == 'body.status is "down", expected == "ok"'
    ok, why = parse("response_time < 300ms", "http").check(Facts(response_ms=412.4))
    assert why == "response_time is 412.4, expected < 300ms"


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        ("stauts == 200", "http", "did you mean 'status'?"),
        ("exit == 0", "tcp", "a tcp check cannot be asked about 'exit'"),
        ("status >= ok", "http", ">= compares numbers"),
        ("response_time < fast", "http", "a time such as 300ms"),
        ("status 200", "http", "write SUBJECT OPERATOR VALUE"),
    ],
)
def test_bad_conditions_say_why(text: str, kind: str, message: str) -> None:
    with pytest.raises(ConditionError, match=message.replace("?", r"\?")):
        parse(text, kind)


def result(ok: bool | str, at: float, latency: float = 5.0) -> Result:
    outcome = {True: "ok", False: "failed"}.get(ok, ok)  # type: ignore[call-overload]
    return Result("shop", at, outcome, latency)


def feed(rule: AlertRule, outcomes: str, start: float = 0.0, step: float = 1.0) -> list[str]:
    """o good, x bad, ? checker error; the changes, in order."""
    told = []
    for i, c in enumerate(outcomes):
        r = result({"o": True, "x": False, "?": "checker"}[c], start + i * step)
        change = rule.observe(r)
        if change is not None:
            told.append(change.kind)
    return told


def rule(**spec: object) -> AlertRule:
    return AlertRule(AlertSpec.model_validate({"name": "a", "check": "shop", **spec}))


def test_after_n_fires_once_and_resolves_after_m_good() -> None:
    alert = rule(after=3, resolve_after=2)
    assert feed(alert, "oxxxxxxoxoo") == ["fired", "resolved"]


def test_checker_errors_count_for_neither_side() -> None:
    alert = rule(after=3, resolve_after=2)
    assert feed(alert, "xx???x") == ["fired"]  # the streak survives what could not be checked
    assert feed(alert, "o??o", start=10) == ["resolved"]
    watch = CheckerWatch("shop")
    kinds = [watch.observe(result("checker", i)) for i in range(CHECKER_AFTER + 2)]
    assert [k.kind for k in kinds if k] == ["fired"]
    assert watch.observe(result(False, 99)).kind == "resolved"  # it runs again (badly or not)


def test_for_holds_a_breach_before_firing() -> None:
    alert = rule(after=1, **{"for": "3s"})
    assert feed(alert, "xxo") == []  # breached for 1 s only
    assert feed(alert, "xxxxx", start=10) == ["fired"]
    assert alert.fired_at == 13.0


def test_repeat_tells_again_no_more_often_than_asked() -> None:
    alert = rule(after=1, repeat="10s")
    assert feed(alert, "x" * 25) == ["fired", "repeated", "repeated"]  # at 0, 10, 20


def test_error_rate_over_a_window_waits_for_min_samples() -> None:
    alert = rule(error_rate=0.3, window="10s", min_samples=5)
    assert feed(alert, "xx") == []  # 100% but only 2 samples
    assert feed(alert, "ox", start=2) == []  # 3 of 4: still under min_samples
    assert feed(alert, "o", start=4) == ["fired"]  # 3 of 5 = 60%


def test_p95_over_a_window() -> None:
    alert = rule(p95_ms=100, window="1m", min_samples=3, resolve_after=1)
    changes = [alert.observe(result(True, i, latency)) for i, latency in enumerate([50, 60, 250])]
    assert [c.kind for c in changes if c] == ["fired"]
    assert "p95 250 ms > 100 ms" in alert.last_breach


def test_a_restored_alert_does_not_fire_again() -> None:
    alert = rule(after=2, resolve_after=1)
    alert.restore(fired_at=1.0, told_at=1.0, repeats=0)
    assert feed(alert, "xxxxo", start=5) == ["resolved"]


MONITOR_FILE = """\
project: demo
monitor:
  interval: 2s
  checks:
    - name: shop
      http: "http://127.0.0.1:8100/health"
    - {name: db, tcp: "127.0.0.1:5433", timeout: 1s}
  alerts:
    - {name: shop-down, check: shop, resolve_after: 3, actions: [notify, rollback]}
    - {name: shop-slow, check: shpo, p95_ms: 200, min_samples: 5, actions: [notify]}
phases:
  - name: Commit
    stages:
      - {name: unit, run: "true"}
  - name: Monitor
    monitor:
      checks:
        - {name: disk, command: "df /", expect: ["exit == 0", "status == 1"]}
      alerts:
        - {name: disk-full, check: disk, for: 10, actions: [{run: [unitt]}]}
"""


def test_a_monitor_block_has_located_errors(tmp_path: Path) -> None:
    path = tmp_path / "cdtui.yaml"
    path.write_text(MONITOR_FILE)
    with pytest.raises(ConfigError) as caught:
        load_pipeline(path)
    shown = [str(e) for e in caught.value.errors]
    assert any(
        ":18:" in e
        and "phases[1].monitor.checks[0].expect[1]: a command check cannot be asked about 'status'"
        in e
        for e in shown
    ), shown
    assert any(":20:" in e and "alerts[0].for: the duration 10 has no unit" in e for e in shown)
    fixed = MONITOR_FILE.replace('"status == 1"', '"output contains /"').replace("10,", "10s,")
    path.write_text(fixed)
    with pytest.raises(ConfigError) as caught:
        load_pipeline(path)
    shown = [str(e) for e in caught.value.errors]
    assert any(":9:" in e and "rollback needs a release block" in e for e in shown), shown
    assert any("check: no check named 'shpo' (did you mean 'shop'?)" in e for e in shown)
    assert any(
        ":20:" in e and "run: 'unitt' names no stage or phase (did you mean 'unit'?)" in e
        for e in shown
    )


def test_a_monitor_phase_without_stages_loads(tmp_path: Path) -> None:
    from cdtui.config.monitor import merged

    path = tmp_path / "cdtui.yaml"
    text = MONITOR_FILE.replace(", rollback]", "]").replace("shpo", "shop")
    path.write_text(
        text.replace('"status == 1"', '"output contains /"')
        .replace("10,", "10s,")
        .replace("[unitt]", "[unit]")
    )
    pipeline = load_pipeline(path)
    assert pipeline.phase("Monitor").stages == []
    spec = merged(pipeline)
    assert spec is not None and spec.interval == 2.0
    assert [c.name for c in spec.checks] == ["shop", "db", "disk"]
    assert [a.name for a in spec.alerts] == ["shop-down", "shop-slow", "disk-full"]
    assert spec.alerts[2].for_ == 10.0 and spec.alerts[2].actions[0].run == ["unit"]


def test_alert_events_reach_the_alert_sinks_unless_quiet() -> None:
    from cdtui.notify.filters import EventFilter

    default, alerts = EventFilter(None), EventFilter(["alert"])
    fired = {"kind": "AlertFired", "level": "error", "quiet": False}
    for sink in (default, alerts):
        assert sink(fired) and sink({"kind": "AlertResolved", "quiet": False})
        assert not sink({**fired, "quiet": True})  # an alert without a notify action
    assert EventFilter(["failed"])(fired)


async def test_tcp_and_command_checks_against_real_sockets_and_processes(tmp_path: Path) -> None:
    import asyncio

    from cdtui.config.monitor import CheckSpec
    from cdtui.monitor.checks import run_check

    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def one(**spec: object):
        check = CheckSpec.model_validate({"name": "c", "timeout": "2s", **spec})
        return await run_check(check, check.conditions)

    assert (await one(tcp=f"127.0.0.1:{port}")).outcome == "ok"
    server.close()
    await server.wait_closed()
    refused = await one(tcp=f"127.0.0.1:{port}")
    assert (refused.outcome, refused.detail) == (
        "no_answer",
        f"Connection refused (127.0.0.1:{port})",
    )
    assert (await one(command="exit 0")).outcome == "ok"
    bad = await one(command="echo disk 95%; exit 1")
    assert (bad.outcome, bad.status, bad.detail) == ("failed", 1, "exit is 1, expected == 0")
    said = await one(command="echo disk 95%", expect=["output contains '95%'", "exit == 0"])
    assert said.outcome == "ok"
    missing = await one(command=["/no/such/checker"])
    assert missing.outcome == "checker" and "cannot start '/no/such/checker'" in missing.detail
    slow = await one(command="sleep 5", timeout="300ms")
    assert slow.outcome == "no_answer" and slow.latency_ms < 2000


async def test_two_alerts_on_one_outage_move_traffic_once() -> None:
    """The action policy alone (the front door's rollback is tested for real elsewhere): after
    the monitor moved traffic, no alert moves it again within the cooldown."""
    from cdtui.engine.events import Status
    from cdtui.monitor.actions import Actions
    from cdtui.session import ActionResult

    asked: list[str] = []

    class FrontDoor:
        async def rollback(self, phase, **how) -> ActionResult:
            asked.append(f"rollback by {how['via']}")
            return ActionResult(7, Status.SUCCEEDED, "rolled back from blue 0% / green 100%")

        async def recover(self, phase, **how) -> ActionResult:
            asked.append(f"recover by {how['via']}")
            return ActionResult(8, Status.SUCCEEDED, "recovered")

    now = [1000.0]
    actions = Actions(FrontDoor(), {}, clock=lambda: now[0])
    live = AlertSpec.model_validate(
        {"name": "live-down", "check": "live", "actions": ["rollback", "recover"], "cooldown": "5m"}
    )
    router = live.model_copy(update={"name": "router-down", "check": "router"})
    first = await actions.take(live, lambda t: None)
    assert [(t.action, t.outcome) for t in first] == [("rollback", "done"), ("recover", "skipped")]
    now[0] += 30
    second = await actions.take(router, lambda t: None)
    assert [t.outcome for t in second] == ["skipped", "skipped"]
    assert "moved 30s ago by rollback of live-down" in second[0].reason
    now[0] += 300
    third = await actions.take(router, lambda t: None)
    assert [t.outcome for t in third] == ["done", "skipped"]
    assert asked == ["rollback by monitor alert live-down", "rollback by monitor alert router-down"]
