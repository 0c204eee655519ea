"""The Gold tab: annotate a whole text from the keyboard, for the evaluation set.

Cursor and selection logic live in `core.gold_editor.GoldEditor`, drawn and keyed by the
`SpanEditor` widget (the Annotate tab's mark-missing editor too); this pane picks the texts and
saves through `Store.save_gold` (a draft on every change, done on enter).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from nerloop.core.annotate.shown import Tokenize
from nerloop.core.gold_editor import GoldEditor
from nerloop.core.project import Project
from nerloop.core.proposers.rules import RuleProposer
from nerloop.core.records import Span
from nerloop.tui.keymap import GOLD
from nerloop.tui.widgets.span_editor import SpanEditor


class GoldPane(Vertical, can_focus=True):
    BINDINGS = GOLD

    def __init__(
        self,
        project: Project,
        annotator: str,
        tokenize: Tokenize,
        *,
        clock: Callable[[], float] = time.time,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.clock = clock
        """The queue's clock: leases are compared in its time."""
        self.project = project
        self.annotator = annotator
        self.tokenize = tokenize
        self.todo: list[int] = []
        self.index = 0
        self.editor: GoldEditor | None = None
        self.text_id: int | None = None
        self.loaded = False
        self._rules: RuleProposer | None = None
        self.proposed: list[Span] = []
        """Rule matches in the editor the annotator has not confirmed yet (enter confirms)."""

    def compose(self) -> ComposeResult:
        yield Static(id="gold-head")
        yield SpanEditor("gold", id="gold-editor")

    def on_mount(self) -> None:
        self.draw()

    def activated(self) -> None:
        """The tab was opened: read the work list (gold texts nobody has finished)."""
        self.focus()
        if not self.loaded:
            self.todo = self.project.store.gold_todo()
            self.loaded = True
            self.open(0)

    @property
    def labels(self) -> list[str]:
        return self.project.taxonomy.names

    def open(self, index: int) -> None:
        self.index = index
        if not 0 <= index < len(self.todo):
            self.editor = None
            self.text_id = None
            self.draw()
            return
        self.text_id = self.todo[index]
        stored = self.project.store.get_text(self.text_id)
        rows = self.project.store.gold_for(self.text_id)
        mine = [r for r in rows if r["annotator"] == self.annotator]
        spans = (mine or rows)[-1]["spans"] if rows else []
        self.editor = GoldEditor(stored.text, self.tokenize(stored.text), self.labels, spans)
        # A text nobody has annotated yet opens with the rule labels' matches proposed (the
        # project's own terms and patterns, so mostly right): enter keeps them, d drops one.
        # Nothing is stored until the annotator changes or confirms the text.
        self.proposed = [] if rows else self._add_rule_spans()
        self.draw()

    def _add_rule_spans(self) -> list[Span]:
        """Add the rule labels' matches where the text has no span; returns those added."""
        if self.editor is None or self.text_id is None:
            return []
        if self._rules is None:
            self._rules = RuleProposer(self.project.taxonomy)
        stored = self.project.store.get_text(self.text_id)
        before = set(self.editor.spans)
        self.editor.add_suggested(
            [
                Span(p.start, p.end, p.label, p.token_start, p.token_end)
                for p in self._rules.propose_all([stored])
            ]
        )
        return [s for s in self.editor.spans if s not in before]

    def action_fill_rules(self) -> None:
        """Add what the rule labels match (terms and patterns are the project's own, so most
        are right) where the text has no span yet; confirm with ⏎ or remove with d."""
        if self.editor is None or self.text_id is None:
            return
        added = self._add_rule_spans()
        if added:
            self.proposed += added
            self._save(done=False)
        self.app.notify(f"{len(added)} rule spans added.", timeout=2)
        self.draw()

    def _save(self, done: bool) -> None:
        if self.editor is None or self.text_id is None:
            return
        self.project.store.save_gold(self.text_id, self.annotator, self.editor.spans, done=done)

    # -- keys ----------------------------------------------------------------------------------

    # The editing keys are the span editor's (the pane has the focus, so they reach it here).

    def action_move(self, delta: int) -> None:
        self.query_one(SpanEditor).action_move(delta)

    def action_extend(self, delta: int) -> None:
        self.query_one(SpanEditor).action_extend(delta)

    def action_home(self) -> None:
        self.query_one(SpanEditor).action_home()

    def action_end(self) -> None:
        self.query_one(SpanEditor).action_end()

    def action_tag(self, number: int) -> None:
        self.query_one(SpanEditor).action_tag(number)

    def action_remove(self) -> None:
        self.query_one(SpanEditor).action_remove()

    def on_span_editor_changed(self, message: SpanEditor.Changed) -> None:
        message.stop()
        self._save(done=False)

    def on_span_editor_committed(self, message: SpanEditor.Committed) -> None:
        message.stop()
        self.action_done()

    def on_span_editor_cancelled(self, message: SpanEditor.Cancelled) -> None:
        message.stop()  # a gold text is saved as a draft on every change: nothing to undo

    def action_done(self) -> None:
        if self.editor is None or self.text_id is None:
            return
        self._save(done=True)
        self.app.notify(f"Text #{self.text_id} done: {len(self.editor.spans)} spans.", timeout=2)
        del self.todo[self.index]
        self.open(min(self.index, len(self.todo) - 1) if self.todo else len(self.todo))

    def action_step(self, delta: int) -> None:
        if self.todo:
            self.open(max(0, min(len(self.todo) - 1, self.index + delta)))

    def action_reopen_done(self) -> None:
        """Put the finished gold texts back in the list, to check and correct them."""
        done = [t for t in self.project.store.gold_done() if t not in self.todo]
        if not done:
            self.app.notify("No finished gold text to reopen.", timeout=3)
            return
        start = len(self.todo)
        self.todo.extend(done)
        self.app.notify(f"Reopened {len(done)} finished gold texts (j/k to move).", timeout=3)
        self.open(start)

    def action_add_from_pool(self) -> None:
        after = max(self.todo, default=0)
        # Not a text on somebody's Annotate screen (a live lease): it would be asked there
        # while it becomes gold here.
        now = self.clock()
        text_id = self.project.store.pool_text_without_answers(after, now=now)
        if text_id is None:
            text_id = self.project.store.pool_text_without_answers(0, now=now)
        if text_id is None:
            self.app.notify("No pool text without answers is left to add.", timeout=3)
            return
        self.todo.append(text_id)
        self.open(len(self.todo) - 1)

    # -- drawing -------------------------------------------------------------------------------

    def draw(self) -> None:
        head = self.query_one("#gold-head", Static)
        spans_editor = self.query_one(SpanEditor)
        spans_editor.labels = self.labels
        if self.editor is None or self.text_id is None:
            head.update(Text("Gold set", style="bold"))
            if not self.loaded:
                message = "Reading the gold texts…"
            elif self.todo:
                message = ""
            else:
                done = self.project.store.count_gold()
                message = (
                    f"No gold text left to annotate ({done} done). Press a to take a text from "
                    "the pool, or import one: nerloop import FILE --gold."
                )
            spans_editor.load(None)
            spans_editor.draw(message)
            return
        head.update(
            Text.assemble(
                ("Gold ", "bold"),
                f"text {self.index + 1}/{len(self.todo)} (#{self.text_id}) · "
                "←/→ move, shift+←/→ select, 1-9 tag, d remove, ⏎ done, j/k next/prev, "
                "o reopen done, r rule spans",
            )
        )
        # A proposed span the annotator removed or tagged again is no longer a proposal.
        self.proposed = [s for s in self.proposed if s in self.editor.spans]
        if spans_editor.editor is not self.editor:
            spans_editor.load(self.editor, proposed=self.proposed)
        else:
            spans_editor.proposed = self.proposed
            spans_editor.draw()
