"""$CDTUI_OUTPUT / $CDTUI_ENV between real processes: published, masked, stored, validated."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdtui.config import ConfigError, format_errors, load_pipeline
from cdtui.engine.events import OutputsPublished, Status
from cdtui.engine.outputs import parse_file
from cdtui.store import RunStore
from tests.conftest import pipeline_of
from tests.test_headless_cli import cdtui, write

SECRET = "s3cr3t-value-42"


def test_parse_key_value_and_heredoc_with_located_warnings(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_text("a=1\nb=x=y\nnotes<<EOF\nline one\nline two\nEOF\nbad line\n9x=no\n")
    parsed = parse_file(path, "out")
    assert parsed.values == {"a": "1", "b": "x=y", "notes": "line one\nline two"}
    assert parsed.warnings == [
        "out:7: expected key=value or key<<EOF: 'bad line'",
        "out:8: '9x' is not a valid output name",
    ]
    path.write_text("x<<END\nnever closed\n")
    assert "never closed" in parse_file(path, "out").warnings[0]


async def test_outputs_and_env_reach_later_stages_masked_in_events(make_engine, tmp_path: Path):
    pipeline = pipeline_of(
        {
            "name": "Build",
            "stages": [
                {
                    "name": "version",
                    "run": 'echo "version=1.2.3" >> "$CDTUI_OUTPUT"; '
                    'printf "notes<<EOF\\nfirst\\nsecond\\nEOF\\n" >> "$CDTUI_OUTPUT"; '
                    'echo "token=$TOKEN" >> "$CDTUI_OUTPUT"; '
                    'echo "SHOP_FLAVOUR=mint" >> "$CDTUI_ENV"',
                },
                {
                    "name": "use",
                    "needs": ["version"],
                    "run": 'printf "%s|%s|%s" ${stages.version.outputs.version} '
                    '"$SHOP_FLAVOUR" ${stages.version.outputs.notes} > seen.txt',
                },
            ],
        },
        {"name": "Later", "stages": [{"name": "late", "run": 'echo "$SHOP_FLAVOUR" > late.txt'}]},
    )
    engine, events = make_engine(pipeline, secrets={"TOKEN": SECRET})
    assert await engine.run() is Status.SUCCEEDED
    assert (tmp_path / "seen.txt").read_text() == "1.2.3|mint|first\nsecond"
    assert (tmp_path / "late.txt").read_text() == "mint\n"
    published = events.of(OutputsPublished)
    assert len(published) == 1
    outputs = dict(published[0].outputs)
    assert outputs["version"] == "1.2.3" and SECRET not in outputs["token"]
    assert dict(published[0].env) == {"SHOP_FLAVOUR": "mint"}
    kept = engine.logs_dir / "1" / "build" / "version.1.output"
    assert "token=***" in kept.read_text() and SECRET not in kept.read_text()


async def test_a_failed_reference_names_what_exists(make_engine):
    pipeline = pipeline_of(
        {
            "name": "P",
            "stages": [
                {"name": "a", "run": 'echo "ver=1" >> "$CDTUI_OUTPUT"'},
                {"name": "b", "needs": ["a"], "run": "echo ${stages.a.outputs.version}"},
            ],
        }
    )
    engine, events = make_engine(pipeline)
    assert await engine.run() is Status.FAILED
    assert "it has: ver" in events.final("b").reason or "'ver'" in events.final("b").reason


ONE_PHASE = "project: t\nphases:\n  - name: P\n    stages:\n"  # stage lines follow, at 6


def load_errors(tmp_path: Path, stages: str) -> str:
    """Every located error of a one-phase pipeline whose stages are ``stages`` (YAML lines)."""
    path = write(tmp_path, ONE_PHASE + stages)
    with pytest.raises(ConfigError) as caught:
        load_pipeline(path)
    return format_errors(caught.value.errors)


def test_references_are_checked_at_load_time(tmp_path: Path) -> None:
    text = load_errors(
        tmp_path,
        "      - {name: version, run: 'echo v=1 >> $CDTUI_OUTPUT'}\n"
        "      - {name: build, run: 'echo ${stages.version.outputs.v}'}\n"
        "      - {name: pack, needs: [version], run: 'echo ${stages.vesion.outputs.v}'}\n",
    )
    assert "cdtui.yaml:6" in text and "does not need 'version'" in text
    assert "add needs: [version]" in text
    assert "cdtui.yaml:7" in text and "did you mean 'version'" in text


def test_outputs_survive_into_a_later_process_of_a_gated_phase(tmp_path: Path) -> None:
    """Run 1 stops at the gate; run 2 (`--phase Ship --approve Ship`) reads run 1's outputs."""
    write(
        tmp_path,
        """\
project: t
phases:
  - name: Build
    stages:
      - {name: version, run: 'echo "version=7.0.1" >> "$CDTUI_OUTPUT"'}
  - name: Ship
    gate: confirm
    stages:
      - {name: deploy, run: 'echo "deploying ${stages.version.outputs.version}"'}
""",
    )
    first = cdtui("run", "--headless", ".", cwd=tmp_path)
    assert first.returncode == 3, first.stderr
    second = cdtui("run", "--headless", "--phase", "Ship", "--approve", "Ship", ".", cwd=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "deploying 7.0.1" in second.stdout
    with RunStore(tmp_path) as store:
        assert store.outputs(1) == {"version": {"version": "7.0.1"}}
