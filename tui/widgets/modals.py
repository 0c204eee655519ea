"""Small screens over the app: help, the label-pass picker, and the label editor."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from nerloop.core.display import one_line
from nerloop.tui.keymap import HELP_NOTES, MODAL
from nerloop.tui.widgets.render import plain

ALL_LABELS = "__all__"


class HelpScreen(ModalScreen[None]):
    """Every key in force (after remapping), grouped by tab."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *MODAL,
        Binding("question_mark,q", "dismiss_modal", show=False),
    ]

    def __init__(self, groups: Sequence[tuple[str, Sequence[tuple[str, str, str]]]]) -> None:
        super().__init__()
        self.groups = groups

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for title, rows in self.groups:
            table.add_row(Text(title, style="underline"), Text(""))
            for keys, description, binding_id in rows:
                note = HELP_NOTES.get(binding_id, "")
                line = Text(f"{description}: {note}" if note else description)
                line.append(f"  [{binding_id}]", style="dim")
                table.add_row(Text(keys), line)
        with VerticalScroll(id="help-body"):
            yield Static(table)
        yield Static(
            Text(
                'Esc closes. Remap a key in nerloop.toml: [keymap] "annotate.accept" = "y,enter" '
                "(the ids are in brackets)."
            )
        )

    def action_dismiss_modal(self) -> None:
        self.dismiss(None)


class PassPicker(ModalScreen[str | None]):
    """Choose the label pass: one label, or all labels. Returns the label, ALL_LABELS, or None."""

    BINDINGS = MODAL

    def __init__(self, labels: Sequence[tuple[str, str]], current: str | None) -> None:
        super().__init__()
        self.labels = labels
        self.current = current

    def compose(self) -> ComposeResult:
        options = [Option(Text("All labels, in taxonomy order"), id=ALL_LABELS)]
        options += [
            Option(Text.assemble((name, "bold"), f"  ({kind})"), id=name)
            for name, kind in self.labels
        ]
        with Vertical(id="picker"):
            yield Label("Label pass (enter chooses, esc cancels)")
            yield OptionList(*options, id="pass-options")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        ids = [ALL_LABELS, *(name for name, _ in self.labels)]
        options.highlighted = ids.index(self.current) if self.current in ids else 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_dismiss_modal(self) -> None:
        self.dismiss(None)


class EditLabelScreen(ModalScreen[bool]):
    """Edit a label's description and terms; `save` writes taxonomy.toml (or raises)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *MODAL,
        Binding("ctrl+s", "save", "Save", id="modal.save"),
    ]

    def __init__(
        self,
        name: str,
        description: str,
        terms: Sequence[str],
        save: Callable[[str, list[str]], None],
    ) -> None:
        super().__init__()
        self.label_name = name
        self.description = description
        self.terms = terms
        self.save = save

    def compose(self) -> ComposeResult:
        with Vertical(id="editor"):
            yield Static(Text.assemble("Edit label ", (self.label_name, "bold")))
            yield Label("Description")
            yield Input(one_line(self.description), id="description")
            yield Label("Terms (comma-separated; rule labels match them)")
            yield Input(", ".join(one_line(t) for t in self.terms), id="terms")
            yield Static("", id="edit-error")
            yield Label("Enter or ctrl+s saves to taxonomy.toml; esc cancels.")

    def on_mount(self) -> None:
        self.query_one("#description", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_save()

    def action_save(self) -> None:
        description = self.query_one("#description", Input).value.strip()
        raw = self.query_one("#terms", Input).value
        terms = [t.strip() for t in raw.split(",") if t.strip()]
        try:
            self.save(description, terms)
        except ValueError as exc:  # TaxonomyError: the file is left as it was
            self.query_one("#edit-error", Static).update(plain(f"Not saved: {exc}"))
            return
        self.dismiss(True)

    def action_dismiss_modal(self) -> None:
        self.dismiss(False)
