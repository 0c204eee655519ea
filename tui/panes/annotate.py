"""The Annotate tab: one proposal at a time, answered with a key.

The pane only wires keys to `core.annotate.session.Session` and draws what it returns: it
talks to nothing else in core/annotate. Tasks come from `Session.fetch`, run in a thread worker
that posts a `Fetched` message back, so the next question is already in memory when a key is
pressed; answers are written synchronously (each a small commit) by the session before the next
question is drawn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.keys import format_key
from textual.message import Message
from textual.widgets import Static

from nerloop.core.annotate.session import Session
from nerloop.core.annotate.shown import Shown
from nerloop.core.annotate.tasks import Fetch, TaskKey
from nerloop.core.display import one_line
from nerloop.core.gold_editor import GoldEditor
from nerloop.tui.keymap import ANNOTATE, SPAN_EDITOR, keys_in_force
from nerloop.tui.widgets.modals import ALL_LABELS, PassPicker
from nerloop.tui.widgets.render import highlighted
from nerloop.tui.widgets.span_editor import SpanEditor

# Answers per minute is shown once it rests on this many answers (the session waits for them to
# span RATE_MIN_SECONDS too): a few presses would extrapolate to a rate nobody keeps.
RATE_MIN_ANSWERS = 5


class AnnotatePane(Vertical, can_focus=True):
    """Proposal view, progress line and the y/n/space/a/u/[/]/{/}/l/c/m/! keys; `m` opens the
    text in a span editor in place of the proposal, to mark what the LLM missed."""

    BINDINGS = ANNOTATE
    DEFAULT_CSS = """
    AnnotatePane #ann-editor { display: none; height: 1fr; }
    AnnotatePane #ann-mark-text { border: round $secondary; padding: 0 1; }
    AnnotatePane.marking #ann-editor { display: block; }
    AnnotatePane.marking #ann-box { display: none; }
    """

    class Fetched(Message):
        """A fetch worker finished: the tasks it claimed, or why there are none."""

        def __init__(self, label_pass: str | None, fetch: Fetch) -> None:
            super().__init__()
            self.label_pass = label_pass
            self.fetch = fetch

    def __init__(
        self,
        session: Session,
        *,
        fetch_size: int = 8,
        queue_thread: ThreadPoolExecutor | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.session = session
        self.fetch_size = fetch_size
        self.show_context = False
        self.fetching = False
        self.fetches = 0
        self._shown: dict[str, Text | str] = {}
        self.queue_thread = queue_thread or ThreadPoolExecutor(1, thread_name_prefix="nerloop-q")
        self.status = "Fetching proposals…"
        self.marking = False
        """The mark-missing editor is open (the pane's own keys wait until it closes)."""

    def compose(self) -> ComposeResult:
        yield Static(id="ann-progress")
        # The box is fixed; the text inside is as tall as it is, so a new question repaints
        # the text's own lines and not the box's blank ones (bytes over a slow SSH link).
        with Vertical(id="ann-box"):
            yield Static(id="ann-text")
        yield SpanEditor("ann-mark", id="ann-editor")
        yield Static(id="ann-info")
        yield Static(id="ann-context")
        yield Static(id="ann-status")

    def on_mount(self) -> None:
        self.redraw()
        self.request_more()
        self.set_interval(self.session.settings.lease_seconds / 3, self.renew_leases)

    # -- fetching ------------------------------------------------------------------------------

    def request_more(self) -> None:
        """Start a fetch unless one is running (one at a time keeps claims in order)."""
        if self.fetching:
            return
        self.fetching = True
        self._fetch(self.session.label_pass, self.session.held())

    @work(thread=True, group="fetch")
    def _fetch(self, label_pass: str | None, held: Collection[TaskKey]) -> None:
        # Every fetch runs on the same thread: proposers keep connections and pipelines that
        # belong to the thread that made them (Textual starts a thread per worker).
        try:
            future = self.queue_thread.submit(self.session.fetch, label_pass, self.fetch_size, held)
            result = future.result()
        except Exception as exc:  # the fetch thread is gone (the app is closing)
            result = self.session.fetch_failed(exc)
        self.post_message(self.Fetched(label_pass, result))

    def on_annotate_pane_fetched(self, message: Fetched) -> None:
        self.fetching = False
        fetch = message.fetch
        if message.label_pass != self.session.label_pass:
            # Claimed for a pass the annotator has left: give the tasks back.
            self.session.give_back(fetch.tasks)
            self.request_more()
            return
        was_empty = self.session.current() is None
        retry = self.session.received(fetch)
        self.fetches += 1
        # Totals grow as proposers cover more texts; recount now and then, not every fetch
        # (counting 2M proposals competes with the key handler for the CPU).
        if fetch.tasks and (was_empty or self.fetches % 10 == 0):
            self.count_progress()
        if fetch.empty is not None and not fetch.tasks:
            if retry is not None:
                self.set_timer(retry, self.request_more)
        elif self.session.wants_more() or not fetch.tasks:
            self.request_more()  # still working (a proposer ran), or the buffer is still low
        if was_empty or fetch.empty is not None:
            self.redraw()
        else:
            self.draw_progress()

    class Counted(Message):
        """A progress worker finished: (answered, total) of the pass, read from the store."""

        def __init__(self, label_pass: str | None, figures: tuple[int, int], rows_at: int) -> None:
            super().__init__()
            self.label_pass = label_pass
            self.figures = figures
            self.rows_at = rows_at

    def count_progress(self) -> None:
        """Read the pass's figures in a worker (millions of rows take a moment)."""
        self._count(self.session.label_pass, self.session.rows)

    @work(thread=True, exclusive=True, group="progress")
    def _count(self, label_pass: str | None, rows_at: int) -> None:
        figures = self.session.pass_progress(label_pass)
        self.post_message(self.Counted(label_pass, figures, rows_at))

    def on_annotate_pane_counted(self, message: Counted) -> None:
        if message.label_pass == self.session.label_pass:
            self.session.set_progress(*message.figures, rows_at=message.rows_at)
            self.draw_progress()

    # -- leases --------------------------------------------------------------------------------

    @work(exclusive=True, group="renew")
    async def renew_leases(self) -> None:
        """Renew the held tasks' leases (a timer, three times a lease), so that a task on screen
        stays this annotator's however long they pause; a task another annotator got meanwhile
        (the machine slept past its lease) is dropped, with a notice (the session's on_lost)."""
        held = self.session.held()
        # A thread, not the queue's: a write may wait on another process, and a fetch busy
        # with the LLM must not hold the renewal back past the lease.
        lost = await asyncio.to_thread(self.session.renew, held)
        if self.session.forget(lost):
            self.redraw()
            if self.session.wants_more():
                self.request_more()

    # -- keys ----------------------------------------------------------------------------------

    def action_answer(self, kind: str) -> None:
        if self.session.answer(kind):  # type: ignore[arg-type]
            self.redraw()
            if self.session.wants_more():
                self.request_more()

    def action_accept_text(self) -> None:
        shown = self.session.current()
        accepted = self.session.accept_text()
        if shown is None:
            return
        self.redraw()
        if accepted:
            plural = "" if accepted == 1 else "s"
            self.app.notify(
                f"Accepted {accepted} question{plural} of text #{shown.task.text.id}.",
                timeout=2,
                markup=False,
            )
        if self.session.wants_more():
            self.request_more()

    def action_undo(self) -> None:
        if self.session.undo():
            self.redraw()
        else:
            self.app.notify("Nothing to undo in this session.", timeout=2)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # While the editor is open, a key it does not know (y, n, a...) must not answer the
        # question hidden under it.
        return not self.marking

    def action_mark_missing(self) -> None:
        """Open the current text in the span editor, its accepted spans shown, to mark what
        the LLM missed; enter stores them (`Session.mark_missing`), escape leaves."""
        shown = self.session.current()
        if shown is None:
            return
        text = shown.task.text.text
        labels = [label.name for label in self.session.taxonomy.ner_labels]
        accepted = self.session.text_spans()
        # Accepted spans of rule labels are shown too (numbered after the ner labels), since a
        # marked span may not overlap them; only ner labels can be marked.
        labels += sorted({s.label for s in accepted} - set(labels))
        editor = GoldEditor(text, self.session.tokenize(text), labels, accepted)
        spans_editor = self.query_one(SpanEditor)
        spans_editor.load(editor, fixed=editor.spans)
        self.marking = True
        self.add_class("marking")
        keys = self._keys()
        self._set(
            "#ann-info",
            Text.assemble(
                ("Mark missing ", "bold"),
                f"text #{shown.task.text.id}: ←/→ move, shift+←/→ select, 1-9 tag, d remove",
                f"\n{keys['gold.done']} saves (the text is then complete), "
                f"{keys['annotate.mark_cancel']} cancels",
            ),
        )
        self._set("#ann-context", "")
        self._set("#ann-status", "")
        spans_editor.focus()

    def on_span_editor_committed(self, message: SpanEditor.Committed) -> None:
        message.stop()
        shown = self.session.current()
        spans_editor = self.query_one(SpanEditor)
        if shown is None:
            self._close_editor()
            return
        kept = set(spans_editor.editor.spans if spans_editor.editor else [])
        if any(s not in kept for s in spans_editor.fixed):
            # Marking adds spans; an accepted answer is taken back with u, not here.
            self.app.notify(
                "An accepted span cannot be changed here: escape, then u takes its answer back.",
                severity="error",
                timeout=4,
                markup=False,
            )
            return
        try:
            stored = self.session.mark_missing(spans_editor.added())
        except ValueError as exc:  # a label that is not a ner label: the editor stays open
            self.app.notify(f"Not stored: {exc}", severity="error", timeout=4, markup=False)
            return
        self._close_editor()
        plural = "" if stored == 1 else "s"
        self.app.notify(
            f"Text #{shown.task.text.id}: {stored} missed span{plural} stored; the text is "
            "complete.",
            timeout=2,
            markup=False,
        )
        self.redraw()
        if self.session.wants_more():
            self.request_more()

    def on_span_editor_cancelled(self, message: SpanEditor.Cancelled) -> None:
        message.stop()
        self._close_editor()
        self.redraw()

    def _close_editor(self) -> None:
        self.marking = False
        self.remove_class("marking")
        self.query_one(SpanEditor).load(None)
        self._shown.pop("#ann-info", None)
        self.focus()

    def action_flag_missing(self) -> None:
        """Say the text misses entities without marking them: its untagged words train as
        unknown (`Session.flag_missing`)."""
        shown = self.session.current()
        if shown is None or not self.session.flag_missing():
            return
        self.app.notify(
            f"Text #{shown.task.text.id} flagged: its untagged words train as unknown.",
            timeout=2,
            markup=False,
        )
        self.redraw()
        if self.session.wants_more():
            self.request_more()

    def _keys(self) -> dict[str, str]:
        """Binding id -> the first key in force (after [keymap]), as the help shows keys."""
        remap = self.session.settings.keymap
        out: dict[str, str] = {}
        for bindings in (ANNOTATE, SPAN_EDITOR):
            for binding_id, keys in keys_in_force(bindings, remap).items():
                out[binding_id] = format_key(keys[0]) if keys else "(none)"
        return out

    def action_move_start(self, delta: int) -> None:
        if self.session.move_start(delta):
            self.redraw()

    def action_move_end(self, delta: int) -> None:
        if self.session.move_end(delta):
            self.redraw()

    def action_toggle_context(self) -> None:
        self.show_context = not self.show_context
        self.redraw()

    def action_choose_pass(self) -> None:
        taxonomy = self.session.taxonomy
        labels = [(label.name, label.kind) for label in taxonomy.labels]
        self.app.push_screen(PassPicker(labels, self.session.label_pass), self._pass_chosen)

    def _pass_chosen(self, choice: str | None) -> None:
        if choice is None:
            return
        label = None if choice == ALL_LABELS else choice
        if label == self.session.label_pass and self.session.current() is not None:
            return
        self.session.set_pass(label)
        self.status = "Fetching proposals…"
        self.redraw()
        self.request_more()

    # -- drawing -------------------------------------------------------------------------------

    def draw_progress(self) -> None:
        s = self.session
        answered, total = s.progress()
        rate = s.per_minute()
        if s.answered < RATE_MIN_ANSWERS:
            rate = None
        accept = s.accept_rate()
        line = Text.assemble(
            (s.label_pass or "all labels", "bold"),
            f"  {answered:,}/{total:,} answered",
            f" · {rate:.0f}/min" if rate is not None else " · –/min",
            f" · accept {accept:.0%}" if accept is not None else " · accept –",
            (f" · {one_line(s.annotator)}", "dim"),
        )
        self._set("#ann-progress", line)

    def redraw(self) -> None:
        self.draw_progress()
        shown = self.session.current()
        if self.marking:
            if shown is not None:
                return  # the editor has the screen until enter or escape
            self._close_editor()  # the text went (its lease lost): nothing left to mark
        if shown is None:
            empty = self.session.empty
            if empty is None:
                message = Text(self.status)
            else:
                message = Text.assemble(
                    (one_line(empty.message), "bold"), "\n\n", one_line(empty.hint)
                )
            # The text box has room for a message and a hint; the lines below stay blank.
            self._set("#ann-text", message, layout=True)
            for name in ("#ann-info", "#ann-context", "#ann-status"):
                self._set(name, "")
            return
        task, q = shown.task, shown.question
        self._set("#ann-text", self._text_view(shown), layout=True)
        score = f"{q.score:.2f}" if q.score is not None else "–"
        self._set(
            "#ann-info",
            Text.assemble(
                (q.label, "bold"),
                "  ",
                (repr(one_line(task.text.text[shown.start : shown.end])), "bold"),
                ("  (moved)" if shown.edited else ""),
                f"\nsource {'+'.join(q.sources)} · score {score}",
                f" · span {shown.index + 1}/{len(task.questions)} of text #{task.text.id}",
            ),
        )
        if self.show_context:
            said = q.context
            self._set(
                "#ann-context",
                Text("LLM context: " + one_line(said))
                if said
                else Text("No context from the LLM."),
            )
        else:
            self._set("#ann-context", "")
        keys = self._keys()
        self._set(
            "#ann-status",
            Text(
                f"{keys['annotate.mark_missing']} marks missed spans, "
                f"{keys['annotate.flag_missing']} flags them; "
                "without either, the rest is no entity.",
                style="dim",
            ),
        )

    def _text_view(self, shown: Shown) -> Text:
        """The text with the question's span highlighted and, under it, the other questions
        held for the text: what the accept-text key would accept along with this one."""
        view = highlighted(shown.task.text.text, shown.start, shown.end)
        rest = self.session.text_questions()[1:]
        if rest:
            text = shown.task.text.text
            items = " · ".join(f"{q.label} {quoted(text[q.start : q.end])}" for q in rest)
            view.append(f"\n\nAlso held for this text: {items}", style="dim")
        else:
            # The same height with the line or without it, so that going from a text's first
            # question to its last repaints these lines once, without a layout pass.
            view.append("\n\n")
        return view

    def _set(self, selector: str, content: Text | str, *, layout: bool = False) -> None:
        """Show `content` in one of the pane's Statics, skipping an unchanged one.

        The Statics but the text have a fixed height (app.tcss), so their updates repaint
        that widget only, without a layout pass (`layout=False`): this keeps a key press cheap.
        """
        if self._shown.get(selector) == content:
            return
        self._shown[selector] = content
        static = self.query_one(selector, Static)
        if layout:
            # A layout pass paints the widget a second time (about 200 bytes a key over SSH);
            # it is only needed when the text's height changes.
            layout = self._height(static, content) != static.size.height
        static.update(content, layout=layout)

    def _height(self, static: Static, content: Text | str) -> int:
        """Lines `content` takes in `static` at its current width (-1 before the first layout,
        so the first update always lays out)."""
        width = static.content_size.width
        if width <= 0:
            return -1
        text = content if isinstance(content, Text) else Text(content)
        return len(text.wrap(self.app.console, width))


def quoted(span: str, limit: int = 40) -> str:
    """A span as one short quoted line (a long one cut, so that the list stays readable)."""
    line = one_line(span)
    return repr(line if len(line) <= limit else line[: limit - 1] + "…")
