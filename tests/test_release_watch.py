"""ReleaseWatch: what the views draw, folded from events; alerts that mean something."""

from __future__ import annotations

from cdtui.config.release import ReleaseSpec
from cdtui.release.events import ReleaseStateChanged, WeightChanged
from cdtui.release.routers import Weights
from cdtui.release.watch import Check, ReleaseWatch

SPEC = ReleaseSpec.model_validate(
    {"blue": {"url": "http://127.0.0.1:1"}, "green": {"url": "http://127.0.0.1:2"}, "hold": 10}
)


def check(watch: ReleaseWatch, colour: str, at: float, ok: bool) -> None:
    watch.sample(colour, Check(at, ok, 5.0, 200 if ok else 500, "" if ok else "HTTP 500"))


def test_a_colour_never_up_raises_no_alert_and_shows_down():
    watch = ReleaseWatch(SPEC, "Release")
    for at in range(10):
        check(watch, "blue", at, False)
    assert not watch.alerts and watch.colours["blue"].summary().startswith("DOWN")


def test_going_down_alerts_once_and_recovery_only_when_it_holds():
    watch = ReleaseWatch(SPEC, "Release")
    check(watch, "green", 0, True)
    for at in (1, 2, 3, 4):
        check(watch, "green", at, False)
    assert [a.text.split(":")[0] for a in watch.alerts] == ["green unhealthy"]
    check(watch, "green", 5, True)  # one good check in a flapping colour: no "healthy again"
    check(watch, "green", 6, False)
    check(watch, "green", 7, True)
    check(watch, "green", 8, True)
    assert len(watch.alerts) == 1
    check(watch, "green", 9, True)
    assert watch.alerts[-1].text == "green healthy again"


def test_verdicts_judge_only_the_checks_of_their_step_and_the_hold_counts_down():
    watch = ReleaseWatch(SPEC, "Release")
    check(watch, "green", 0, False)  # before the release: not the step's business
    watch.apply(ReleaseStateChanged(1, 10.0, "step", 10, "idle green takes 10%"))
    for at in (11, 12, 13):
        check(watch, "green", at, True)
    assert watch.hold_left(14.0) == 6.0
    watch.apply(ReleaseStateChanged(1, 14.0, "paused", 10, "held"))
    assert watch.hold_left(100.0) == 6.0  # the clock stops while paused
    watch.apply(ReleaseStateChanged(1, 20.0, "step", 10, "resumed"))
    assert watch.hold_left(21.0) == 5.0
    watch.apply(ReleaseStateChanged(1, 26.0, "step", 50, "idle green takes 50%"))
    assert watch.verdicts[-1].text == "10%: healthy (3/3 checks ok, p95 5 ms): next step"
    check(watch, "green", 27, False)
    watch.apply(ReleaseStateChanged(1, 28.0, "aborted", 0, "idle green breach; back on blue"))
    assert watch.verdicts[-1].text == "50%: stopped: idle green breach"
    assert watch.alerts[-1].text.startswith("release aborted at 50%")


def test_weights_read_back_move_the_bar_and_decide_the_live_colour():
    watch = ReleaseWatch(SPEC, "Release")
    watch.apply(WeightChanged(1, 1.0, 0, 100, False))
    assert watch.asked == Weights.ALL_GREEN and watch.weights is None  # asked, not yet in force
    watch.apply(WeightChanged(1, 1.1, 0, 100, True))
    assert watch.weights == Weights.ALL_GREEN and watch.asked is None and watch.live == "green"
    watch.apply(ReleaseStateChanged(1, 2.0, "step", 10, "idle blue takes 10%"))
    watch.apply(WeightChanged(1, 2.1, 10, 90, True))
    assert watch.live == "green" and watch.idle == "blue"
    watch.apply(ReleaseStateChanged(1, 3.0, "done", 100, "blue is live"))
    assert watch.live == "blue"


def test_urls_are_shown_without_their_credentials():
    from cdtui.release.watch import shown_url

    assert shown_url("http://ops:s3cr3t-pass@127.0.0.1:8102") == "http://127.0.0.1:8102"
    assert shown_url("https://user@[::1]:443/base") == "https://[::1]:443/base"
    assert shown_url("http://127.0.0.1:8102") == "http://127.0.0.1:8102"
