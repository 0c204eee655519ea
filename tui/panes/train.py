"""The Train tab. Until training lands in the app, it says what training needs and how to run
it from the command line, with the project's current figures."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from nerloop.core.project import Project


class TrainPane(VerticalScroll, can_focus=True):
    def __init__(self, project: Project, id: str | None = None) -> None:
        super().__init__(id=id)
        self.project = project

    def compose(self) -> ComposeResult:
        yield Static(id="train-body")

    def activated(self) -> None:
        self.focus()
        answers = self.project.store.answer_counts()
        self.query_one("#train-body", Static).update(
            Text.assemble(
                ("Training is not in the app yet.", "bold"),
                "\n\nA model learns from accepted and rejected answers: "
                f"{answers['accept']:,} accepted and {answers['reject']:,} rejected so far. "
                "A few hundred accepted spans per label give a first useful model.\n\n"
                "Train from a shell meanwhile:\n  nerloop train -p PROJECT\n",
            )
        )
