"""The console on a small terminal (80x24), read as an operator reads it: every confirmation
shows its keys without scrolling, every footer is whole (no key cut in half), help explains
the tree's icons. Real runs, a real embedded router and real HTTP backends."""

from __future__ import annotations

from pathlib import Path

from test_console import PIPELINE, project, wait_for
from test_release_console import Setup, confirm, open_release_view, setup  # noqa: F401

from cdtui.presentation import ICONS, icon_legend
from cdtui.ui.app import CdtuiApp
from cdtui.ui.screens.confirm import ConfirmModal, RefusalModal
from cdtui.ui.screens.help import HelpScreen
from cdtui.ui.screens.main import MainScreen
from cdtui.ui.widgets.fit_footer import FitFooter

SMALL = (80, 24)
LONG = "\n".join(f"a long fact {n}" for n in range(60))


def screen_text(app: CdtuiApp) -> str:
    """The terminal as the operator sees it now, one string per row."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def keys_on_screen(pilot, app: CdtuiApp, *keys: str) -> str:
    await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal | RefusalModal))
    await pilot.pause(0.2)  # the dialog's fit after its first layout
    shown = screen_text(app)
    for key in keys:
        assert key in shown, f"{key!r} not on the 80x24 screen:\n{shown}"
    return shown


def footer_whole(app: CdtuiApp) -> str:
    """The footer row; fails when a key is cut: drawn past the edge or under the palette key
    (docked right, as in the ``q▏^p palette`` the 80x24 trial saw)."""
    footer = app.screen.query_one(FitFooter)
    keys = [w for w in footer.children if not w.has_class("-command-palette")]
    palette = [w for w in footer.children if w.has_class("-command-palette")]
    edge = palette[0].region.x if palette else footer.region.right
    assert keys, "no key in the footer"
    for key in keys:
        assert key.region.right <= edge, (key.description, key.region, edge)  # type: ignore[attr-defined]
    return screen_text(app).splitlines()[-1]


async def test_release_confirmation_keys_at_80x24(setup: Setup):  # noqa: F811
    app = CdtuiApp(setup.project)
    async with app.run_test(size=SMALL) as pilot:
        view = await open_release_view(pilot, app)
        await wait_for(pilot, lambda: view.watch.colours["green"].known)
        footer_whole(app)
        await pilot.press("r")
        shown = await keys_on_screen(pilot, app, "press y to release", "Esc to cancel")
        assert "to read the rest" in shown or "router" in shown  # the body scrolls, keys stay


async def test_rollback_confirmation_keys_at_80x24(setup: Setup):  # noqa: F811
    app = CdtuiApp(setup.project)
    async with app.run_test(size=SMALL) as pilot:
        view = await open_release_view(pilot, app)
        await wait_for(pilot, lambda: view.watch.colours["green"].known)
        setup.set(50, 50)  # a split to roll back from
        await pilot.press("b")
        await keys_on_screen(pilot, app, "press y to roll back", "Esc to cancel")


async def test_gate_and_quit_confirmation_keys_at_80x24(tmp_path: Path):
    app = CdtuiApp(project(tmp_path, PIPELINE))
    async with app.run_test(size=SMALL) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("r")
        await wait_for(pilot, lambda: bool(app.session.engine and app.session.engine.waiting_gates))
        # the key the moment needs is never the one dropped
        await wait_for(pilot, lambda: "a Approve" in screen_text(app).splitlines()[-1])
        footer_whole(app)
        await pilot.press("a")
        await keys_on_screen(pilot, app, "press y to approve", "Esc to cancel")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("q")
        await keys_on_screen(pilot, app, "press y to cancel the run and quit", "Esc to cancel")
        await pilot.press("escape")
        await app.stop_run("test over")


async def test_a_body_longer_than_the_screen_scrolls_under_its_keys(tmp_path: Path):
    app = CdtuiApp(project(tmp_path, PIPELINE))
    async with app.run_test(size=SMALL) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        await app.push_screen(ConfirmModal("Long?", LONG, confirm_label="go"))
        shown = await keys_on_screen(pilot, app, "press y to go", "↑↓ to read the rest")
        assert "a long fact 0" in shown and "a long fact 59" not in shown
        for _ in range(8):
            await pilot.press("pagedown")
        await wait_for(pilot, lambda: "a long fact 59" in screen_text(app))
        assert "press y to go" in screen_text(app)
        await pilot.press("escape")
        await app.push_screen(RefusalModal("Rollback refused", LONG, "Ways out", offer=("r", "x")))
        await keys_on_screen(pilot, app, "press r to x", "Esc to close")


async def test_every_footer_is_whole_at_80x24(tmp_path: Path):
    app = CdtuiApp(project(tmp_path, PIPELINE))
    async with app.run_test(size=SMALL) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.pause(0.3)
        row = footer_whole(app)
        assert "? Help" in row and "r Run" in row
        await pilot.press("h")
        await pilot.pause(0.3)
        footer_whole(app)


async def test_help_explains_the_tree_icons(tmp_path: Path):
    app = CdtuiApp(project(tmp_path, PIPELINE))
    async with app.run_test(size=(100, 80)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause(0.2)
        shown = screen_text(app)
        assert "Tree icons" in shown, shown
        for glyph, meaning in icon_legend():
            rows = [line for line in shown.splitlines() if meaning[:20] in line]
            assert rows and glyph in rows[0].split(meaning[:20])[0], (glyph, meaning)
        assert {glyph for glyph, _ in icon_legend()} == set(ICONS.values())
        assert "End, G" in shown  # the follow key, as the README says it
