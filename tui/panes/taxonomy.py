"""The Taxonomy tab: a tree of labels with description, kind, rules and counts; `e` edits."""

from __future__ import annotations

import json
from collections.abc import Callable

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static, Tree

from nerloop.core.display import one_line
from nerloop.core.project import Project
from nerloop.core.taxonomy import Label
from nerloop.core.taxonomy_edit import LabelEdit, edit_label
from nerloop.tui.keymap import TAXONOMY
from nerloop.tui.widgets.modals import EditLabelScreen


def counts_line(row: dict[str, int]) -> str:
    by_source = ", ".join(
        f"{k.removeprefix('proposals_')} {v:,}"
        for k, v in sorted(row.items())
        if k.startswith("proposals_")
    )
    return (
        f"proposed {row.get('proposals', 0):,}"
        + (f" ({by_source})" if by_source else "")
        + f" · accepted {row.get('accept', 0):,} · rejected {row.get('reject', 0):,}"
        + f" · ignored {row.get('ignore', 0):,}"
    )


class TaxonomyPane(Vertical, can_focus=False):
    """Labels as a tree; counts are read in a worker when the tab is opened or refreshed."""

    BINDINGS = TAXONOMY

    class Counted(Message):
        def __init__(self, counts: dict[str, dict[str, int]]) -> None:
            super().__init__()
            self.counts = counts

    def __init__(
        self, project: Project, on_change: Callable[[LabelEdit], None], id: str | None = None
    ):
        super().__init__(id=id)
        self.project = project
        self.on_change = on_change
        self.counts: dict[str, dict[str, int]] | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="tax-summary")
        tree: Tree[str] = Tree("labels", id="tax-tree")
        tree.show_root = False
        yield tree

    def on_mount(self) -> None:
        self.rebuild()

    def activated(self) -> None:
        """The tab was opened: read fresh counts (in a worker; 2M proposals take a moment)."""
        self.query_one(Tree).focus()
        self.action_refresh()

    def action_refresh(self) -> None:
        self._count()

    @work(thread=True, exclusive=True, group="taxonomy-counts")
    def _count(self) -> None:
        store = self.project.connect()
        try:
            counts = store.label_counts()
        finally:
            store.close()
        self.post_message(self.Counted(counts))

    def on_taxonomy_pane_counted(self, message: Counted) -> None:
        self.counts = message.counts
        self.rebuild()

    def rebuild(self) -> None:
        taxonomy = self.project.taxonomy
        version = self.project.store.taxonomy_version()
        self.query_one("#tax-summary", Static).update(
            Text(
                f"{len(taxonomy.labels)} labels · taxonomy version {version} · "
                f"{one_line(self.project.taxonomy_path.name)}\n"
                "e edits the highlighted label (description, terms); r refreshes counts."
            )
        )
        tree = self.query_one(Tree)
        line = tree.cursor_line
        tree.clear()
        for label in taxonomy.labels:
            node = tree.root.add(
                Text.assemble((label.name, "bold"), f"  {label.kind}"),
                data=label.name,
                expand=True,
            )
            for child in self.details(label):
                node.add_leaf(child, data=label.name)
        tree.cursor_line = max(0, line)

    def details(self, label: Label) -> list[Text]:
        out = [Text(one_line(label.description) or "(no description)")]
        if label.terms:
            out.append(Text("terms: " + one_line(", ".join(label.terms))))
        for pattern in label.patterns:
            out.append(Text("pattern: " + one_line(json.dumps(list(pattern)))))
        if label.examples:
            out.append(Text("examples: " + one_line(", ".join(label.examples))))
        if self.counts is None:
            out.append(Text("counts: reading…", style="dim"))
        else:
            out.append(Text(counts_line(self.counts.get(label.name, {}))))
        return out

    def action_edit_label(self) -> None:
        node = self.query_one(Tree).cursor_node
        if node is None or node.data is None:
            return
        label = self.project.taxonomy.get(node.data)
        edits: list[LabelEdit] = []

        def save(description: str, terms: list[str]) -> None:
            edits.append(edit_label(self.project, label.name, description=description, terms=terms))

        def done(saved: bool | None) -> None:
            if saved and edits:
                self.rebuild()
                self.on_change(edits[-1])
                self.app.notify(f"Saved {label.name} to taxonomy.toml.", timeout=3)

        self.app.push_screen(
            EditLabelScreen(label.name, label.description, label.terms, save), done
        )
