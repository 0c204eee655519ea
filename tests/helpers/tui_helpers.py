"""Helpers for the Pilot and snapshot tests: a project with known texts, and waiting for the
app's fetch worker without timing anything."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Static

from nerloop.core.project import Project
from nerloop.tui.app import NerloopApp
from nerloop.tui.panes.annotate import AnnotatePane
from tests.helpers.queue_helpers import FakeClock, add_texts, propose

TEXTS = [
    "heard wheat bid 250 usd/t fob rouen march",
    "corn offered 4.10 usd/bu cif rotterdam",
    "brent at 80 usd/bbl ex works",
]


def price_project(project: Project) -> list[int]:
    """Three texts with LLM proposals for PRICE (one with a context) and one for LOCATION."""
    ids = add_texts(project, TEXTS)
    propose(project, ids[0], "PRICE", "250 usd/t", "llm", context="bid 250 usd/t fob")
    propose(project, ids[0], "PRICE", "rouen", "llm")
    propose(project, ids[1], "PRICE", "4.10 usd/bu", "llm")
    propose(project, ids[2], "PRICE", "80 usd/bbl", "llm")
    propose(project, ids[1], "LOCATION", "rotterdam", "llm")
    return ids


class RecordingApp(NerloopApp):
    """The app, recording the fetch messages its worker posts (harlequin style)."""

    fetched: list[AnnotatePane.Fetched]

    def on_annotate_pane_fetched(self, message: AnnotatePane.Fetched) -> None:
        if not hasattr(self, "fetched"):
            self.fetched = []
        self.fetched.append(message)


def app_for(
    project: Project, annotator: str = "alice", label_pass: str | None = "PRICE", **kw: object
) -> RecordingApp:
    kw.setdefault("clock", FakeClock())
    kw.setdefault("session_clock", FakeClock())
    kw.setdefault("session_id", "test")
    return RecordingApp(project, annotator, label_pass=label_pass, **kw)  # type: ignore[arg-type]


async def wait_until(pilot: Pilot, condition: Callable[[], bool], what: str) -> None:
    """Let the app run until `condition` holds. The bound is only a fail-safe against a hang
    (it is not a speed check: a slow machine just waits longer)."""
    for _ in range(3000):
        if condition():
            return
        await pilot.pause(0.01)
    raise AssertionError(f"the app never got to: {what}")


async def wait_for_question(pilot: Pilot) -> None:
    app = pilot.app
    assert isinstance(app, NerloopApp)
    await wait_until(pilot, lambda: app.session.current() is not None, "a question shown")
    await pilot.pause()


async def wait_for_empty(pilot: Pilot) -> None:
    app = pilot.app
    assert isinstance(app, NerloopApp)
    await wait_until(pilot, lambda: app.session.empty is not None, "an empty-queue message")
    await pilot.pause()


def shown(app: NerloopApp, widget_id: str) -> str:
    """The plain text a Static shows (what reaches the screen, before styling)."""
    content = app.query_one(f"#{widget_id}", Static).content
    return content.plain if hasattr(content, "plain") else str(content)


def open_again(project: Project) -> Project:
    """A second connection to the same project, as a second process would have."""
    return Project.open(Path(project.path))
