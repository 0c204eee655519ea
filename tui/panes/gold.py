"""The Gold tab: annotate a whole text from the keyboard, for the evaluation set.

Cursor and selection logic live in `core.gold_editor.GoldEditor`; this pane maps keys to it,
draws the text, and saves through `Store.save_gold` (a draft on every change, done on enter).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from nerloop.core.display import one_line
from nerloop.core.gold_editor import GoldEditor
from nerloop.core.project import Project
from nerloop.core.proposers.rules import RuleProposer
from nerloop.core.records import Span
from nerloop.core.session import Tokenize
from nerloop.tui.keymap import GOLD
from nerloop.tui.widgets.render import gold_text


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

    def compose(self) -> ComposeResult:
        yield Static(id="gold-head")
        yield Static(id="gold-legend")
        yield Static(id="gold-text")
        yield Static(id="gold-spans")

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
        self.draw()

    def action_fill_rules(self) -> None:
        """Add what the rule labels match (terms and patterns are the project's own, so most
        are right) where the text has no span yet; confirm with ⏎ or remove with d."""
        if self.editor is None or self.text_id is None:
            return
        if self._rules is None:
            self._rules = RuleProposer(self.project.taxonomy)
        stored = self.project.store.get_text(self.text_id)
        added = self.editor.add_suggested(
            [
                Span(p.start, p.end, p.label, p.token_start, p.token_end)
                for p in self._rules.propose_all([stored])
            ]
        )
        if added:
            self._save(done=False)
        self.app.notify(f"{added} rule spans added.", timeout=2)
        self.draw()

    def _save(self, done: bool) -> None:
        if self.editor is None or self.text_id is None:
            return
        self.project.store.save_gold(self.text_id, self.annotator, self.editor.spans, done=done)

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
            self._save(done=False)
            self.draw()

    def action_remove(self) -> None:
        if self.editor and self.editor.remove():
            self._save(done=False)
            self.draw()

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
        legend = self.query_one("#gold-legend", Static)
        body = self.query_one("#gold-text", Static)
        spans_view = self.query_one("#gold-spans", Static)
        legend.update(Text("  ".join(f"{i + 1} {name}" for i, name in enumerate(self.labels[:9]))))
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
            body.update(Text(message))
            spans_view.update("")
            return
        ed = self.editor
        head.update(
            Text.assemble(
                ("Gold ", "bold"),
                f"text {self.index + 1}/{len(self.todo)} (#{self.text_id}) · "
                "←/→ move, shift+←/→ select, 1-9 tag, d remove, ⏎ done, j/k next/prev, "
                "o reopen done, r rule spans",
            )
        )
        sel = ed.selection
        cursor = ed.tokens[ed.cursor] if ed.tokens else None
        chars = (ed.tokens[sel[0]][0], ed.tokens[sel[1]][1]) if sel else None
        body.update(gold_text(ed.text, ed.spans, self.labels, cursor, chars))
        spans_view.update(
            Text(
                "\n".join(f"{s.label}: {one_line(ed.text[s.start : s.end])}" for s in ed.spans)
                or "No spans yet."
            )
        )
