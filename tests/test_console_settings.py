"""User settings: a typed file, and a bad one told with its line, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

from cdtui.ui.app import CdtuiApp
from cdtui.ui.screens.main import MainScreen
from cdtui.ui.settings import Settings, load_settings, save_setting, settings_path

SIZE = (100, 30)


def write(text: str) -> Path:
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_no_file_means_the_defaults():
    assert load_settings() == (Settings(), [])


def test_broken_json_is_located_and_the_defaults_stand_in():
    path = write('{\n  "theme": "cdtui-light",\n  oops\n}\n')
    settings, problems = load_settings()
    assert settings == Settings()
    assert [str(p) for p in problems] == [
        f"{path}:3:3: not valid JSON: Expecting property name enclosed in double quotes; "
        "using defaults until it is fixed"
    ]


def test_a_bad_value_and_an_unknown_key_are_told_at_their_lines():
    path = write('{\n  "theme": 3,\n  "thme": "x"\n}\n')
    settings, problems = load_settings()
    assert settings == Settings()
    assert [str(p) for p in problems] == [
        f"{path}:2:3: theme must be a string, not 3; using the default",
        f"{path}:3:3: unknown setting 'thme' (did you mean 'theme'?)",
    ]
    write("[1, 2]")
    assert "must be a JSON object" in str(load_settings()[1][0])


def test_saving_never_overwrites_a_file_the_operator_must_fix():
    path = write('{"theme": "cdtui-light",}')
    assert save_setting("theme", "cdtui-dark") is False
    assert path.read_text() == '{"theme": "cdtui-light",}'
    path.unlink()
    assert save_setting("theme", "cdtui-dark") is True
    assert json.loads(path.read_text()) == {"theme": "cdtui-dark"}
    assert load_settings() == (Settings(theme="cdtui-dark"), [])


async def test_the_console_opens_over_a_broken_file_and_says_where(tmp_path: Path):
    path = write('{"theme": "cdtui-high-contrast"')
    (tmp_path / "cdtui.yaml").write_text(
        "project: demo\nphases:\n  - name: P\n    stages:\n      - {name: s, run: 'true'}\n"
    )
    app = CdtuiApp(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(200):
            if isinstance(app.screen, MainScreen):
                break
            await pilot.pause(0.05)
        assert isinstance(app.screen, MainScreen)
        assert app.theme == "cdtui-dark"  # the default, not the unreadable choice
        told = [n.message for n in app._notifications if n.title == "Settings"]
        assert told == [
            f"{path}:1:32: not valid JSON: Expecting ',' delimiter; "
            "using defaults until it is fixed"
        ]
        app.theme = "cdtui-light"
        await pilot.pause()
    assert path.read_text() == '{"theme": "cdtui-high-contrast"'  # left for the operator
