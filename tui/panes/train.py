"""The Train tab: start and stop training, watch it live (epoch, step, loss, dev F per label, a
chart of the curve, the log), and see which model is in use.

Training runs in its own process (core/training/runner.py); this pane follows its progress
events in a thread worker and posts them to itself as messages, so the app stays responsive.
The pane also checks every `RETRAIN_CHECK_S` seconds whether enough new answers came in to
retrain in the background (Settings.retrain_every) and, if a run starts, follows it the same way.
"""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import RichLog, Static
from textual.worker import get_current_worker
from textual_plotext import PlotextPlot

from nerloop.core.project import Project
from nerloop.core.training.event_lines import event_line
from nerloop.core.training.runner import (
    TrainingBusyError,
    TrainingRun,
    maybe_retrain,
    start_training,
)
from nerloop.tui import keymap
from nerloop.tui.widgets.render import plain

RETRAIN_CHECK_S = 30.0
"""How often the pane asks core whether to retrain in the background."""


def _pct(value: Any) -> str:
    return "-" if value is None else f"{float(value) * 100:.1f}"


def f_points(steps: list[int], dev_f: list[float | None]) -> tuple[list[int], list[float]]:
    """The chart's dev F points: an evaluation without a dev F draws nothing (not a 0)."""
    pairs = [(step, f) for step, f in zip(steps, dev_f, strict=True) if f is not None]
    return [step for step, _ in pairs], [f for _, f in pairs]


def progress_text(run_id: int | None, state: dict[str, Any]) -> Text:
    """One line: which run, how far, and the latest loss and dev F."""
    if run_id is None:
        return Text("No training running. Press s to train.")
    parts = [f"run {run_id}", state.get("status", "running")]
    step, max_steps = state.get("step"), state.get("max_steps")
    if step is not None:
        parts.append(f"step {step}" + (f"/{max_steps}" if max_steps else ""))
    if state.get("epoch") is not None:
        parts.append(f"epoch {state['epoch']}")
    if state.get("loss") is not None:
        parts.append(f"loss {state['loss']:.2f}")
    if state.get("dev_f") is not None:
        parts.append(f"dev F {_pct(state['dev_f'])}")
    return Text(" · ".join(parts))


def labels_table(dev: dict[str, Any], gold: dict[str, Any] | None) -> RenderableType:
    """Per label F on dev (latest evaluation) and on gold (when the run is scored)."""
    table = Table(box=None, padding=(0, 1), show_edge=False)
    table.add_column(Text("label", style="underline"))
    table.add_column(Text("dev F", style="underline"), justify="right")
    table.add_column(Text("gold F", style="underline"), justify="right")
    gold_labels = (gold or {}).get("labels", {})
    for label in sorted(set(dev) | set(gold_labels)):
        g = gold_labels.get(label)
        table.add_row(
            plain(label),
            Text(_pct((dev.get(label) or {}).get("f"))),
            Text(_pct(g["f"]) if g else "-"),
        )
    if gold and gold.get("texts"):
        table.add_row(Text("overall", style="bold"), Text(""), Text(_pct(gold["overall"]["f"])))
    return table


class TrainPane(Vertical, can_focus=True):
    BINDINGS = keymap.TRAIN
    DEFAULT_CSS = """
    TrainPane { height: 1fr; }
    #train-body { height: auto; max-height: 3; }
    #train-progress { height: 1; margin-bottom: 1; }
    #train-middle { height: 1fr; min-height: 6; }
    #train-labels { width: 30; height: auto; }
    #train-chart { width: 1fr; }
    #train-log { height: 6; border: round $secondary; }
    """

    class Started(Message):
        def __init__(self, run_id: int, purpose: str) -> None:
            super().__init__()
            self.run_id = run_id
            self.purpose = purpose

    class Progress(Message):
        def __init__(self, run_id: int, event: dict[str, Any]) -> None:
            super().__init__()
            self.run_id = run_id
            self.event = event

    class Ended(Message):
        def __init__(self, row: dict[str, Any]) -> None:
            super().__init__()
            self.row = row

    def __init__(
        self, project: Project, id: str | None = None, *, retrain_check_s: float = RETRAIN_CHECK_S
    ) -> None:
        super().__init__(id=id)
        self.project = project
        self.retrain_check_s = retrain_check_s
        self.run: TrainingRun | None = None
        self.run_id: int | None = None
        self.state: dict[str, Any] = {}
        self.steps: list[int] = []
        self.dev_f: list[float | None] = []
        """Dev F (0-1) per evaluation; None where the evaluation had none."""
        self.losses: list[float] = []
        self.dev_labels: dict[str, Any] = {}
        self.gold: dict[str, Any] | None = None
        self.last_row: dict[str, Any] | None = None
        """The stored row of the last run this pane followed, once it ended."""

    def compose(self) -> ComposeResult:
        yield Static(Text("Reading the project…"), id="train-body")
        yield Static(progress_text(None, {}), id="train-progress")
        with Horizontal(id="train-middle"):
            yield Static(labels_table({}, None), id="train-labels")
            yield PlotextPlot(id="train-chart")
        # Wrapped: a failure's message or a data line is longer than the pane is wide.
        yield RichLog(id="train-log", max_lines=500, wrap=True, min_width=20)

    def on_mount(self) -> None:
        self._draw_chart()
        if self.project.settings.retrain_every > 0 and self.retrain_check_s > 0:
            self.set_interval(self.retrain_check_s, self._check_retrain)

    def activated(self) -> None:
        self.focus()
        self._summarise()

    # -- the summary line ---------------------------------------------------------------------

    def _summarise(self) -> None:
        # On the UI thread: two small queries, run when the tab is opened or a run ends.
        store = self.project.store
        answers = store.answer_counts()
        run = store.promoted_run()
        gold = (run or {}).get("scores", {}).get("gold") or {}
        in_use = (
            f"Model in use: run {run['id']}"
            + (f" (gold F {_pct(gold['overall']['f'])})." if gold.get("texts") else ".")
            if run
            else "No model yet."
        )
        if run and self.run_id is None:
            # No run followed since the app opened (a restart): show the model in use.
            dev = (run.get("scores") or {}).get("dev") or {}
            self.query_one("#train-labels", Static).update(
                labels_table(dev.get("ents_per_type") or {}, gold or None)
            )
        settings = self.project.settings
        self.query_one("#train-body", Static).update(
            Text(
                f"{in_use} {answers['accept']:,} accepted and {answers['reject']:,} rejected "
                f"answers so far; policy {settings.policy}, at most "
                f"{settings.train_max_steps:,} steps. s: train, x: stop "
                "(or nerloop train -p PROJECT from a shell)."
            )
        )

    # -- starting, following, stopping ---------------------------------------------------------

    def action_start(self) -> None:
        if self.run is not None and self.run.running:
            self.notify("A training run is already going; x stops it.")
            return
        self._start()

    @work(thread=True, group="train")
    def _start(self) -> None:
        project = self.project.for_thread()
        try:
            run = start_training(project)
        except TrainingBusyError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="warning")
            return
        finally:
            project.store.close()
        self._follow(run, "train")

    @work(thread=True, group="train-retrain")
    def _check_retrain(self) -> None:
        if self.run is not None and self.run.running:
            return
        project = self.project.for_thread()
        try:
            run = maybe_retrain(project)
        finally:
            project.store.close()
        if run is not None:
            self._follow(run, "retrain")

    def _follow(self, run: TrainingRun, purpose: str) -> None:
        """Post the run's events to the pane until it ends (runs in a worker thread)."""
        self.run = run
        worker = get_current_worker()
        self.post_message(self.Started(run.run_id, purpose))
        try:
            # When the app closes, the worker is cancelled: stop watching, but let the run
            # finish in its own process (it records its result itself).
            for event in run.events(stop=lambda: worker.is_cancelled):
                self.post_message(self.Progress(run.run_id, event))
            if worker.is_cancelled:
                return
            row = run.result()
        finally:
            run.close()
        self.post_message(self.Ended(row))

    def action_stop(self) -> None:
        if self.run is None or not self.run.running:
            self.notify("No training is running.")
            return
        self.state["status"] = "stopping"
        self._show_progress()
        self._cancel(self.run)

    @work(thread=True, group="train-cancel")
    def _cancel(self, run: TrainingRun) -> None:
        run.cancel()

    # -- showing progress ----------------------------------------------------------------------

    def on_train_pane_started(self, message: Started) -> None:
        self.run_id = message.run_id
        self.last_row = None
        self.state = {"status": "running" if message.purpose == "train" else "retraining"}
        self.steps, self.dev_f, self.losses = [], [], []
        self.dev_labels, self.gold = {}, None
        self.write_log(f"run {message.run_id} started ({message.purpose})")
        self._show_progress()
        self._draw_chart()
        self.query_one("#train-labels", Static).update(labels_table({}, None))

    def on_train_pane_progress(self, message: Progress) -> None:
        event = message.event
        kind = event.get("event")
        if kind == "data":
            self.state["max_steps"] = event["counts"].get("max_steps")
        elif kind == "step":
            self.state["step"] = event["step"]
        elif kind == "eval":
            scores = event["scores"]
            self.state.update(
                step=event["step"],
                epoch=event["epoch"],
                loss=sum(event["losses"].values()),
                dev_f=scores.get("ents_f"),
            )
            self.steps.append(event["step"])
            f = scores.get("ents_f")
            self.dev_f.append(None if f is None else float(f))
            self.losses.append(float(self.state["loss"]))
            self.dev_labels = scores.get("ents_per_type") or {}
            self.query_one("#train-labels", Static).update(labels_table(self.dev_labels, None))
            self._draw_chart()
        elif kind == "gold":
            self.gold = event["scores"]
            self.query_one("#train-labels", Static).update(labels_table(self.dev_labels, self.gold))
        elif kind in ("done", "failed", "cancelled"):
            self.state["status"] = kind
        line = event_line(event)
        if line is not None:
            self.write_log(line)
        self._show_progress()

    def on_train_pane_ended(self, message: Ended) -> None:
        row = message.row
        self.state["status"] = row["status"]
        self._show_progress()
        self._summarise()
        self.last_row = row

    def _show_progress(self) -> None:
        self.query_one("#train-progress", Static).update(progress_text(self.run_id, self.state))

    def _draw_chart(self) -> None:
        chart = self.query_one("#train-chart", PlotextPlot)
        plt = chart.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("dev F (left) and loss (right) by step")
        plt.ylim(0, 1)  # the left axis: F is a fraction: a fixed axis, comparable across runs
        xs, fs = f_points(self.steps, self.dev_f)
        if xs:
            plt.plot(xs, fs, label="dev F", marker="braille")
        if self.steps:
            plt.plot(self.steps, self.losses, label="loss", yside="right", marker="braille")
        chart.refresh()

    def write_log(self, line: str) -> None:
        self.query_one("#train-log", RichLog).write(Text(line))
