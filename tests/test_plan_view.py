"""``cdtui run --dry-run`` shows what the file says will happen: a stage's ``when: always`` and
``keep_children``, and the release block (router, colours and their deploys, the new colour's
steps, hold, health, keep-warm). A real subprocess."""

from __future__ import annotations

from pathlib import Path

from test_headless_cli import cdtui, write

PIPELINE = """\
project: shop
phases:
  - name: Staging
    stages:
      - {name: start, run: "echo up", keep_children: true}
      - {name: stop, run: "echo down", needs: [start], when: always}
  - name: Release
    gate: confirm
    release:
      router: {kind: embedded, listen: 127.0.0.1:18100}
      blue: {url: "http://127.0.0.1:18102", deploy: python scripts/deploy.py}
      green: {url: "http://127.0.0.1:18103"}
      steps: [10, 50, 100]
      hold: 4s
      health: {path: /health, interval: 0.5s, max_error_rate: 0.2, max_p95_ms: 200, preflight: 3}
      keep_warm: 10m
"""


def test_dry_run_shows_when_keep_children_and_the_release_block(tmp_path: Path):
    write(tmp_path, PIPELINE)
    result = cdtui("run", "--dry-run", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [" ".join(line.split()) for line in result.stdout.splitlines()]
    start = next(line for line in lines if line.startswith("start "))
    stop = next(line for line in lines if line.startswith("stop "))
    assert "keep_children" in start and "when: always" in stop and "when" not in start
    release = lines[lines.index(next(x for x in lines if x.startswith("release "))) + 1 :]
    assert release[:6] == [
        "router embedded 127.0.0.1:18100",
        "blue http://127.0.0.1:18102 deploy: python scripts/deploy.py",
        "green http://127.0.0.1:18103 no deploy (already running)",
        "steps 10% → 50% → 100% of traffic on the new colour, hold 4s each",
        "health /health every 500ms, max error rate 20%, p95 <= 200 ms, "
        "3 good checks before any traffic",
        "keep the old colour warm for 10m",
    ]


def test_a_bad_step_is_told_as_the_new_colours_share():
    """Steps are the new colour's % of traffic (green or blue, whichever is idle)."""
    import pytest
    from pydantic import ValidationError

    from cdtui.config.release import ReleaseSpec

    with pytest.raises(ValidationError) as caught:
        ReleaseSpec.model_validate(
            {"blue": {"url": "http://h:1"}, "green": {"url": "http://h:2"}, "steps": [10, 150]}
        )
    assert "new colour's share of traffic" in str(caught.value) and "green" not in str(caught.value)
