"""The Evaluate tab. Until evaluation lands in the app, it says what evaluation needs and how to
run it from the command line, with the project's current figures."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from nerloop.core.project import Project


class EvaluatePane(VerticalScroll, can_focus=True):
    def __init__(self, project: Project, id: str | None = None) -> None:
        super().__init__(id=id)
        self.project = project

    def compose(self) -> ComposeResult:
        yield Static(id="evaluate-body")

    def activated(self) -> None:
        self.focus()
        gold = self.project.store.count_gold()
        self.query_one("#evaluate-body", Static).update(
            Text.assemble(
                ("Evaluation is not in the app yet.", "bold"),
                "\n\nScores per label need a gold set annotated fully by hand "
                f"({gold:,} gold texts done; annotate more in the Gold tab, F3) "
                "and a trained model (Train tab).\n\n"
                "Evaluate from a shell meanwhile:\n  nerloop evaluate -p PROJECT\n",
            )
        )
