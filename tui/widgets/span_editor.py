"""A whole text's spans edited from the keyboard: the Gold tab's editor, also opened inside the
Annotate tab to mark what the LLM missed.

The cursor, selection and span logic are `core.gold_editor.GoldEditor`'s; this widget draws
them and maps the keys. It saves nothing: it posts `Changed` after an edit, `Committed` on
enter and `Cancelled` on escape, and the pane that holds it decides what they mean.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from nerloop.core.display import one_line
from nerloop.core.gold_editor import GoldEditor
from nerloop.core.records import Span
from nerloop.tui.keymap import SPAN_EDITOR
from nerloop.tui.widgets.render import gold_text


class SpanEditor(Vertical, can_focus=True):
    """Legend of label numbers, the text with its spans and cursor, and the list of spans."""

    BINDINGS = SPAN_EDITOR

    class Changed(Message):
        """A span was tagged or removed."""

    class Committed(Message):
        """Enter: the annotator is done with the text."""

        def __init__(self, spans: list[Span]) -> None:
            super().__init__()
            self.spans = spans

    class Cancelled(Message):
        """Escape: leave the text as it was."""

    def __init__(self, prefix: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        # The Statics keep the ids the Gold tab always had (`gold-text`...), so its style holds.
        self.prefix = prefix
        self.editor: GoldEditor | None = None
        self.fixed: list[Span] = []
        """Spans shown as already accepted (drawn, listed; the editor keeps them too)."""
        self.proposed: list[Span] = []
        """Spans shown as proposed (rule matches), to confirm with enter or remove with d."""
        self.labels: list[str] = []
        """The legend's labels while no text is open."""

    def compose(self) -> ComposeResult:
        yield Static(id=f"{self.prefix}-legend")
        yield Static(id=f"{self.prefix}-text")
        yield Static(id=f"{self.prefix}-spans")

    def load(
        self, editor: GoldEditor | None, fixed: Sequence[Span] = (), proposed: Sequence[Span] = ()
    ) -> None:
        self.editor = editor
        self.fixed = list(fixed)
        self.proposed = list(proposed)
        self.draw()

    def added(self) -> list[Span]:
        """The editor's spans that are not among the fixed (already accepted) ones."""
        if self.editor is None:
            return []
        old = {(s.start, s.end, s.label) for s in self.fixed}
        return [s for s in self.editor.spans if (s.start, s.end, s.label) not in old]

    # -- keys ----------------------------------------------------------------------------------

    def action_move(self, delta: int) -> None:
        if self.editor:
            self.editor.move(delta)
            self.draw()

    def action_extend(self, delta: int) -> None:
        if self.editor:
            self.editor.extend(delta)
            self.draw()

    def action_home(self) -> None:
        if self.editor:
            self.editor.home()
            self.draw()

    def action_end(self) -> None:
        if self.editor:
            self.editor.end()
            self.draw()

    def action_tag(self, number: int) -> None:
        if self.editor and self.editor.tag(number):
            self.post_message(self.Changed())
            self.draw()

    def action_remove(self) -> None:
        if self.editor and self.editor.remove():
            self.post_message(self.Changed())
            self.draw()

    def action_done(self) -> None:
        if self.editor is not None:
            self.post_message(self.Committed(list(self.editor.spans)))

    def action_cancel(self) -> None:
        self.post_message(self.Cancelled())

    # -- drawing -------------------------------------------------------------------------------

    def draw(self, message: str = "") -> None:
        legend = self.query_one(f"#{self.prefix}-legend", Static)
        body = self.query_one(f"#{self.prefix}-text", Static)
        spans_view = self.query_one(f"#{self.prefix}-spans", Static)
        ed = self.editor
        labels = ed.labels if ed else self.labels
        legend.update(Text("  ".join(f"{i + 1} {name}" for i, name in enumerate(labels[:9]))))
        if ed is None:
            body.update(Text(message))
            spans_view.update("")
            return
        sel = ed.selection
        cursor = ed.tokens[ed.cursor] if ed.tokens else None
        chars = (ed.tokens[sel[0]][0], ed.tokens[sel[1]][1]) if sel else None
        body.update(gold_text(ed.text, ed.spans, labels, cursor, chars))
        notes = {
            (s.start, s.end, s.label): " (proposed by a rule: ⏎ keeps, d drops)"
            for s in self.proposed
        }
        notes.update({(s.start, s.end, s.label): " (accepted)" for s in self.fixed})
        lines = [
            f"{s.label}: {one_line(ed.text[s.start : s.end])}"
            + notes.get((s.start, s.end, s.label), "")
            for s in ed.spans
        ]
        spans_view.update(Text("\n".join(lines) or "No spans yet."))
