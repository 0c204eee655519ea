"""Under NO_COLOR a list's selection is drawn in reverse video: Textual marks it with a
background colour only, which NO_COLOR drops, so the cursor would not show (issue 14 item 8)."""

from __future__ import annotations

import pytest
from textual.widgets import OptionList, Tree

from nerloop.core.project import Project
from nerloop.tui.widgets.modals import PassPicker
from tests.helpers.tui_helpers import app_for, price_project, wait_for_question


@pytest.mark.parametrize("no_color", [True, False])
async def test_a_list_selection_is_reversed_under_no_color(
    project: Project, monkeypatch: pytest.MonkeyPatch, no_color: bool
) -> None:
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    price_project(project)
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        await pilot.press("f2")
        await pilot.pause()
        tree = app.query_one("#tax-tree", Tree)
        # With colours the theme's cursor colour shows it: reverse only where there is none.
        assert tree.get_component_rich_style("tree--cursor").reverse is (True if no_color else None)
        app.push_screen(PassPicker([("PRICE", "a price"), ("LOCATION", "a place")], None))
        await pilot.pause()
        options = app.screen.query_one(OptionList)
        style = options.get_component_rich_style("option-list--option-highlighted")
        assert style.reverse is (True if no_color else None)
