"""The Train tab's display (issue 14 item 8): log lines wrap, the chart's F axis is 0-1 with
no point for an evaluation without a dev F, and after a restart the per-label table shows the
model in use."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console
from textual.widgets import RichLog, Static
from textual_plotext import PlotextPlot

from nerloop.core.project import Project
from nerloop.tui.panes.train import TrainPane, f_points
from tests.helpers.tui_helpers import app_for


def chart_data(pane: TrainPane) -> dict[str, Any]:
    plot = pane.query_one("#train-chart", PlotextPlot).plt
    monitor = plot._active.monitor  # type: ignore[attr-defined]  # plotext keeps it private
    return {"ylim": monitor.ylim, "x": monitor.x, "y": monitor.y}


def labels_shown(pane: TrainPane) -> str:
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(pane.query_one("#train-labels", Static).content)
    return console.export_text()


def test_an_evaluation_without_dev_f_draws_no_point() -> None:
    assert f_points([10, 20, 30], [0.5, None, 0.75]) == ([10, 30], [0.5, 0.75])
    assert f_points([10], [None]) == ([], [])


async def test_long_log_lines_wrap_and_the_f_axis_is_0_to_1(project: Project) -> None:
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f4")
        pane = app.query_one(TrainPane)
        pane.post_message(TrainPane.Started(7, "train"))
        tail = "the reason is at the very end of this line"
        error = "spaCy could not train: " + "a long explanation, " * 8 + tail
        pane.post_message(TrainPane.Progress(7, {"event": "failed", "error": error}))
        scores: dict[str, Any] = {"ents_f": None, "ents_per_type": {}}
        event = {"event": "eval", "step": 5, "epoch": 0, "losses": {"ner": 3.0}}
        pane.post_message(TrainPane.Progress(7, {**event, "scores": scores}))
        await pilot.pause()
        await pilot.pause()
        lines = [strip.text.rstrip() for strip in pane.query_one("#train-log", RichLog).lines]
        assert max(len(line) for line in lines) <= 80
        assert tail in " ".join(" ".join(lines).split())  # wrapped, not cut
        assert pane.dev_f == [None]
        data = chart_data(pane)
        assert data["ylim"][0] == [0.0, 1.0]
        assert data["y"] == [[3.0]]  # the loss only: no dev F point at 0
        scores = {"ents_f": 0.42, "ents_per_type": {}}
        pane.post_message(TrainPane.Progress(7, {**event, "step": 10, "scores": scores}))
        await pilot.pause()
        assert chart_data(pane)["y"][0] == [0.42]  # a fraction on the 0-1 axis, not 42


def promote_a_run(project: Project) -> None:
    store = project.store
    run_id = store.create_run(config="", counts={})
    assert run_id is not None
    per_label = {"f": 0.8125, "p": 0.8, "r": 0.83}
    gold = {
        "texts": 12,
        "overall": {"f": 0.8125, "p": 0.8, "r": 0.83},
        "labels": {"PRICE": per_label, "LOCATION": {"f": 0.5, "p": 0.5, "r": 0.5}},
    }
    dev = {"ents_f": 0.7, "ents_per_type": {"PRICE": {"f": 0.9}, "LOCATION": {"f": 0.6}}}
    # No model files: the table reads only the stored scores.
    model_path = str(project.path / "models" / f"run-{run_id}")
    scores = {"gold": gold, "dev": dev}
    store.finish_run(run_id, "done", promoted=True, scores=scores, model_path=model_path)


async def test_after_a_restart_the_label_table_shows_the_model_in_use(project: Project) -> None:
    promote_a_run(project)
    app = app_for(project)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f4")
        await pilot.pause()
        pane = app.query_one(TrainPane)
        table = labels_shown(pane)
        price = [line for line in table.splitlines() if "PRICE" in line]
        assert price, table
        price = price[:1]
        assert price[0].split() == ["PRICE", "90.0", "81.2"]
        assert "LOCATION" in table and "overall" in table
