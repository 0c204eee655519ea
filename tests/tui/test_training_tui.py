"""Pilot tests of the Train and Evaluate tabs: a tiny run started from the keyboard shows its
progress live and the app stays usable meanwhile; x cancels; Evaluate shows model, LLM and rules
per label."""

from __future__ import annotations

import io
from collections.abc import Callable

from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Static

from nerloop.core.evaluation_report import evaluation_report
from nerloop.core.project import Project
from nerloop.core.training.runner import train
from nerloop.tui.panes.evaluate import EvaluatePane, render_report
from nerloop.tui.panes.train import TrainPane
from tests.helpers.queue_helpers import propose
from tests.helpers.training_fixtures import add_answered, add_gold, samples
from tests.helpers.tui_helpers import app_for, shown


async def wait_long(pilot: Pilot, condition: Callable[[], bool], what: str) -> None:
    """Let the app run until `condition` holds. Training takes a while on a busy machine; the
    bound (minutes) only guards against a hang and times nothing."""
    for _ in range(30_000):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"the app never got to: {what}")


def rendered(app: object, widget_id: str) -> str:
    """What a Static shows, rendered as plain text (tables and groups included)."""
    content = app.query_one(f"#{widget_id}", Static).content  # type: ignore[attr-defined]
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(content)
    return console.export_text()


def small_project(project: Project, steps: int) -> None:
    data = samples(70, seed=11)
    add_answered(project, data[:60])
    add_gold(project, data[60:])
    project.settings = project.settings.model_copy(update={"train_max_steps": steps})


def log_text(pane: TrainPane) -> str:
    # The log wraps long lines: join them back, one space for a break.
    lines = pane.query_one("#train-log").lines  # type: ignore[attr-defined]
    return " ".join(" ".join(strip.text for strip in lines).split())


async def test_train_tab_trains_live_and_the_app_stays_usable(project: Project) -> None:
    small_project(project, steps=40)
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f4")
        pane = app.query_one(TrainPane)
        assert pane.has_focus and "No model yet" in shown(app, "train-body")
        await pilot.press("s")
        await wait_long(pilot, lambda: bool(pane.steps), "a first evaluation shown")
        # The app answers keys while the run goes on in its own process.
        await pilot.press("f1")
        assert app.query_one("#annotate-pane").has_focus
        await pilot.press("f4")
        await wait_long(pilot, lambda: pane.last_row is not None, "the run ended")
        assert pane.last_row is not None and pane.last_row["status"] == "done"
        assert "run 1 · done" in shown(app, "train-progress")
        log = log_text(pane)
        assert "data: " in log and "step " in log and "gold: F" in log and "done: " in log
        assert pane.steps[-1] == 40 and len(pane.dev_f) == len(pane.steps)
        assert set(pane.dev_labels) == {"PRICE", "LOCATION"}
        labels = rendered(app, "train-labels")
        assert "LOCATION" in labels and "overall" in labels
        assert "Model in use: run 1" in shown(app, "train-body")
        assert project.store.promoted_run() is not None


async def test_train_tab_stop_cancels_and_keeps_nothing(project: Project) -> None:
    small_project(project, steps=100_000)
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f4")
        pane = app.query_one(TrainPane)
        await pilot.press("s")
        await wait_long(pilot, lambda: "step" in pane.state, "training under way")
        await pilot.press("x")
        await wait_long(pilot, lambda: pane.last_row is not None, "the run ended")
        assert pane.state.get("status") == "cancelled"
        assert "cancelled: nothing was kept" in log_text(pane)
    assert project.store.list_runs()[0]["status"] == "cancelled"
    models = project.path / "models"
    assert not models.exists() or list(models.iterdir()) == []


async def test_evaluate_tab_shows_model_llm_and_rules(project: Project) -> None:
    small_project(project, steps=30)
    row = train(project)
    assert row["status"] == "done"
    # The LLM answered for PRICE on the gold texts: one right span on each.
    gold = project.store.gold_examples()
    for text_id, _text, spans in gold:
        price = next(s for s in spans if s.label == "PRICE")
        propose(project, text_id, "PRICE", _text[price.start : price.end], "llm")
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f5")
        pane = app.query_one(EvaluatePane)
        await wait_long(pilot, lambda: pane.report is not None, "the scores")
        text = rendered(app, "evaluate-body")
        assert "10 gold texts; model run 1" in text
        assert "PRICE" in text and "COMMODITY" in text and "LLM still needed?" in text
        # The LLM's PRICE column: all 10 proposals right, nothing missed.
        assert pane.report is not None and pane.report["llm"]["labels"]["PRICE"]["f"] == 1.0


def test_render_report_without_gold_says_what_is_needed(project: Project) -> None:
    report = evaluation_report(project)
    console = Console(width=80, record=True)
    console.print(render_report(report, {}))
    assert "No finished gold texts" in console.export_text()
