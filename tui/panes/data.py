"""The Data tab: imports, counts per split, label and source, and the LLM's calls and cost."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static

from nerloop.core.project import Project
from nerloop.core.stats import project_stats
from nerloop.tui.keymap import DATA
from nerloop.tui.widgets.render import plain


def _table(title: str, columns: list[str]) -> Table:
    table = Table(title=Text(title, style="bold"), title_justify="left", box=None, padding=(0, 1))
    for i, col in enumerate(columns):
        table.add_column(Text(col, style="underline"), justify="left" if i == 0 else "right")
    return table


def render_stats(figures: dict[str, Any], imports: list[dict[str, Any]]) -> RenderableType:
    """The Data tab's content from `project_stats` and the import log (all cells plain Text)."""
    parts: list[RenderableType] = []
    answers = figures["answers"]
    parts.append(
        Text(
            f"texts {figures['texts']:,} (pool {figures['pool']:,}, gold {figures['gold']:,}, "
            f"gold done {figures['gold_done']:,}) · proposals {figures['proposals']:,} · answers "
            f"{sum(answers.values()):,} (accept {answers['accept']:,}, reject "
            f"{answers['reject']:,}, ignore {answers['ignore']:,})"
        )
    )
    labels = _table("Per label", ["label", "kind", "rule", "llm", "model", "accept", "reject"])
    for name, row in figures["labels"].items():
        labels.add_row(
            plain(name),
            plain(row.get("kind", "")),
            *(Text(f"{row.get(f'proposals_{s}', 0):,}") for s in ("rule", "llm", "model")),
            Text(f"{row.get('accept', 0):,}"),
            Text(f"{row.get('reject', 0):,}"),
        )
    parts += [Text(""), labels]
    llm = figures.get("llm")
    if llm:
        cost = (
            "not priced (set llm_price_in_per_1k)"
            if llm.get("cost") is None
            else (f"{llm['cost']:.4f}")
        )
        parts += [
            Text(""),
            Text(
                f"LLM: {llm.get('calls', 0):,} calls, {llm.get('cache_hits', 0):,} cache hits, "
                f"{llm.get('errors', 0):,} errors · tokens in {llm.get('tokens_in', 0):,}, out "
                f"{llm.get('tokens_out', 0):,} · cost {cost}"
            ),
        ]
    table = _table("Imports", ["file", "split", "added", "dupes", "rejected"])
    for row in imports[-10:]:
        table.add_row(
            plain(row["path"]),
            plain(row["split"]),
            *(Text(f"{row[k]:,}") for k in ("added", "duplicates", "rejected")),
        )
    if not imports:
        table.add_row(Text("none yet: nerloop import FILE"), Text(""), Text(""), Text(""), Text(""))
    parts += [Text(""), table]
    return Group(*parts)


class DataPane(VerticalScroll, can_focus=True):
    BINDINGS = DATA

    class Counted(Message):
        def __init__(self, figures: dict[str, Any], imports: list[dict[str, Any]]) -> None:
            super().__init__()
            self.figures = figures
            self.imports = imports

    def __init__(self, project: Project, id: str | None = None) -> None:
        super().__init__(id=id)
        self.project = project

    def compose(self) -> ComposeResult:
        yield Static(Text("Press r to read the figures."), id="data-body")

    def activated(self) -> None:
        self.focus()
        self.action_refresh()

    def action_refresh(self) -> None:
        self.query_one("#data-body", Static).update(Text("Reading the figures…"))
        self._read()

    @work(thread=True, exclusive=True, group="data")
    def _read(self) -> None:
        project = self.project.for_thread()
        try:
            figures = project_stats(project)
            imports = project.store.imports()
        finally:
            project.close()
        self.post_message(self.Counted(figures, imports))

    def on_data_pane_counted(self, message: Counted) -> None:
        self.query_one("#data-body", Static).update(render_stats(message.figures, message.imports))
