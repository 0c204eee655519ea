"""Snapshots of every tab at 80x24 and 120x40 (`pytest --snapshot-update` accepts changes).

Deterministic: fixed annotator, session id and clocks (no rate figures), fixed data.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from nerloop.core.project import Project
from nerloop.tui.panes.data import DataPane
from nerloop.tui.panes.taxonomy import TaxonomyPane
from tests.helpers.tui_helpers import app_for, price_project, wait_for_question, wait_until

SIZES = [(80, 24), (120, 40)]


def snapshot_project(project: Project) -> None:
    price_project(project)
    project.store.add_text("wheat 30kt fob rouen [bold]h1[/] march", split="gold")
    project.store.log_import(
        path="texts.jsonl", format="jsonl", split="pool", added=3, duplicates=0, rejected=0
    )


async def on_tab(pilot: Pilot, key: str) -> None:
    await wait_for_question(pilot)
    await pilot.press(key)
    app = pilot.app
    if key == "f2":
        pane = app.query_one(TaxonomyPane)
        await wait_until(pilot, lambda: pane.counts is not None, "counts read")
    if key == "f6":
        body = app.query_one("#data-body")
        pane6 = app.query_one(DataPane)
        await wait_until(
            pilot,
            lambda: "Per label" in str(getattr(body, "content", "")) or _rendered(pane6),
            "figures read",
        )
    await pilot.pause()


def _rendered(pane: DataPane) -> bool:
    from rich.console import Group

    return isinstance(pane.query_one("#data-body").content, Group)  # type: ignore[attr-defined]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("tab", ["f1", "f2", "f3", "f4", "f5", "f6"])
def test_tab_snapshot(snap_compare: Any, project: Project, tab: str, size: tuple[int, int]) -> None:
    snapshot_project(project)
    app = app_for(project)

    async def run_before(pilot: Pilot) -> None:
        await on_tab(pilot, tab)
        if tab == "f3":
            await pilot.press("right", "shift+right")

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_annotate_after_a_boundary_move_with_context(snap_compare: Any, project: Project) -> None:
    snapshot_project(project)
    app = app_for(project)

    async def run_before(pilot: Pilot) -> None:
        await wait_for_question(pilot)
        await pilot.press("y", "left_square_bracket", "c")

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_annotate_empty_queue_snapshot(snap_compare: Any, project: Project) -> None:
    app = app_for(project)

    async def run_before(pilot: Pilot) -> None:
        await wait_until(pilot, lambda: app.session.empty is not None, "empty queue")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_help_and_pass_picker_snapshots(snap_compare: Any, project: Project) -> None:
    snapshot_project(project)
    app = app_for(project)

    async def run_before(pilot: Pilot) -> None:
        await wait_for_question(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_annotate_mark_missing_editor(
    snap_compare: Any, project: Project, size: tuple[int, int]
) -> None:
    """The span editor inside the Annotate tab (m): an accepted span shown, one span being
    selected."""
    snapshot_project(project)
    app = app_for(project)

    async def run_before(pilot: Pilot) -> None:
        await wait_for_question(pilot)
        await pilot.press("y", "m", "end", "shift+left")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
