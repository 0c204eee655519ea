"""The Compare tab: a blind A/B of the LLM's and the model's spans, one text and label at a time.

The two outputs are shown as A and B in an order fixed per (text, label) (core/blind_ab.py);
nothing on screen says which is which. 1 says A is better, 2 that B is, 3 that they are the same;
the choice is committed at the key press, before the next pair is drawn. Pairs are found by a
worker on the pane's own thread (its own database connection, and the model's pipeline, which
takes a moment to load), a few ahead of the one shown; identical outputs never reach the screen.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import cast

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from nerloop.core.blind_ab import BlindAB, Comparison, Pick, empty_reason, model_predictor
from nerloop.core.display import one_line, safe_text
from nerloop.core.project import Project
from nerloop.core.proposers.model import ModelProposer
from nerloop.core.records import Span
from nerloop.core.store import Store
from nerloop.tui.keymap import COMPARE
from nerloop.tui.widgets.modals import ALL_LABELS, PassPicker
from nerloop.tui.widgets.render import SPAN_STYLE, windowed

AHEAD = 3
"""Pairs found ahead of the one shown, so a key press never waits for the model."""


@dataclass(slots=True)
class _Finder:
    """What lives on the pane's thread: a connection and the A/B finder using it."""

    store: Store
    ab: BlindAB
    has_model: bool
    labels: list[str] = field(default_factory=list)


def side_text(text: str, spans: tuple[Span, ...], window: tuple[int, int]) -> Text:
    """The text (sanitised, cut to the same window on both sides) with `spans` highlighted."""
    shown, first, _last = windowed(safe_text(text), *window)
    shift = first - window[0]
    out = Text(shown)
    for s in spans:
        start, end = max(0, s.start + shift), min(len(shown), s.end + shift)
        if start < end:
            out.stylize(SPAN_STYLE, start, end)
    return out


def spans_line(name: str, text: str, spans: tuple[Span, ...]) -> Text:
    """'A: "250 usd/t", "rouen"' (or 'A: no span'), so touching spans can be told apart."""
    if not spans:
        return Text.assemble((f"{name}:", "bold"), " no span")
    quoted = ", ".join(repr(one_line(text[s.start : s.end])) for s in spans)
    return Text.assemble((f"{name}:", "bold"), f" {quoted}")


class ComparePane(Vertical, can_focus=True):
    """Header, A, B and a status line; keys 1/2/3, u and l."""

    BINDINGS = COMPARE

    DEFAULT_CSS = """
    ComparePane { height: 1fr; }
    #cmp-head { height: 1; margin-bottom: 1; }
    .cmp-side { height: 1fr; border: round $secondary; padding: 0 1; overflow: hidden hidden; }
    #cmp-status { height: 2; }
    """

    class Found(Message):
        """A finder worker finished: the pairs found for a label choice, and whether more may
        follow (False: the scan reached the end)."""

        def __init__(
            self, label: str | None, pairs: list[Comparison], more: bool, why_empty: str
        ) -> None:
            super().__init__()
            self.label = label
            self.pairs = pairs
            self.more = more
            self.why_empty = why_empty

    def __init__(
        self, project: Project, annotator: str, *, session: str = "", id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.project = project
        self.annotator = annotator
        self.session_id = session
        self.recorder = BlindAB(project.store, annotator, session=session)
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="nerloop-compare")
        self._finder: _Finder | None = None
        self.label: str | None = None  # None: every ner label in taxonomy order
        self.pairs: deque[Comparison] = deque()
        self.history: list[tuple[int, Comparison]] = []
        self.finding = False
        self.more = True
        self.started = False
        self.why_empty = ""
        self.chosen = 0

    def compose(self) -> ComposeResult:
        yield Static(id="cmp-head")
        yield Static(id="cmp-a", classes="cmp-side")
        yield Static(id="cmp-b", classes="cmp-side")
        yield Static(id="cmp-status")

    def on_mount(self) -> None:
        self.redraw()

    def activated(self) -> None:
        """The tab was opened: start looking for pairs the first time (not at app start-up:
        loading the model takes a moment that the Annotate tab should not pay)."""
        self.focus()
        if not self.started:
            self.started = True
            self.request_more()

    def on_unmount(self) -> None:
        if self._finder is not None:
            self.thread.submit(self._finder.store.close)
        self.thread.shutdown(wait=False)

    # -- finding -------------------------------------------------------------------------------

    def request_more(self) -> None:
        if self.finding or not self.more:
            return
        self.finding = True
        self.redraw()
        self._find(self.label)

    def _make_finder(self) -> _Finder:
        project = self.project.for_thread()
        store = project.store
        proposer = ModelProposer.from_project(project)
        run = store.promoted_run()
        has_stored = store.source_proposed("model")
        ab = BlindAB(
            store,
            self.annotator,
            predict=model_predictor(proposer) if proposer is not None else None,
            model_detail=f"run-{run['id']}" if run is not None else "",
            session=self.session_id,
        )
        labels = [label.name for label in project.taxonomy.ner_labels]
        return _Finder(store, ab, proposer is not None or has_stored, labels)

    def _find_on_thread(self, label: str | None, want: int) -> tuple[list[Comparison], bool, str]:
        if self._finder is None:
            self._finder = self._make_finder()
        f = self._finder
        labels = [label] if label is not None else f.labels
        found: list[Comparison] = []
        for name in labels:
            while len(found) < want:
                pair = f.ab.next(name)
                if pair is None:
                    break
                found.append(pair)
        more = len(found) >= want
        why = "" if found else empty_reason(f.store, labels, has_model=f.has_model)
        return found, more, why

    @work(thread=True, group="compare")
    def _find(self, label: str | None) -> None:
        try:
            found, more, why = self.thread.submit(self._find_on_thread, label, AHEAD).result()
        except Exception as exc:  # a broken model or database: say so, keep the app running
            found, more, why = [], False, f"Finding pairs failed: {exc}"
        self.post_message(self.Found(label, found, more, why))

    def on_compare_pane_found(self, message: Found) -> None:
        self.finding = False
        if message.label != self.label:
            self.more = True
            self.request_more()
            return
        self.pairs.extend(message.pairs)
        self.more = message.more
        self.why_empty = message.why_empty
        self.redraw()
        if len(self.pairs) < 2:
            self.request_more()

    # -- keys ----------------------------------------------------------------------------------

    def action_pick(self, pick: str) -> None:
        if not self.pairs:
            return
        pair = self.pairs.popleft()
        answer_id = self.recorder.record(pair, cast(Pick, pick))
        self.history.append((answer_id, pair))
        self.chosen += 1
        self.redraw()
        if len(self.pairs) < 2:
            self.request_more()

    def action_undo(self) -> None:
        if not self.history:
            self.app.notify("Nothing to undo in this session.", timeout=2)
            return
        answer_id, pair = self.history.pop()
        self.recorder.undo(answer_id)
        self.pairs.appendleft(pair)
        self.chosen -= 1
        self.redraw()

    def action_choose_label(self) -> None:
        labels = [(label.name, label.kind) for label in self.project.taxonomy.ner_labels]
        self.app.push_screen(PassPicker(labels, self.label), self._label_chosen)

    def _label_chosen(self, choice: str | None) -> None:
        if choice is None:
            return
        label = None if choice == ALL_LABELS else choice
        if label == self.label:
            return
        self.label = label
        self.pairs.clear()
        self.more = True
        self.why_empty = ""
        if self._finder is not None:
            # The finder's cursors moved past pairs that were buffered but never shown.
            finder = self._finder
            self.thread.submit(finder.ab.restart)
        self.started = True
        self.request_more()

    # -- drawing -------------------------------------------------------------------------------

    def redraw(self) -> None:
        head = Text.assemble(
            ("Blind A/B", "bold"),
            f"  {self.label or 'all labels'}",
            f" · {self.chosen} chosen this session",
            (f" · {one_line(self.annotator)}", "dim"),
        )
        self._set("#cmp-head", head)
        if not self.pairs:
            if self.finding or not self.started:
                body = Text("Looking for texts where the LLM and the model disagree…")
            else:
                body = Text(one_line(self.why_empty or "Nothing to compare."), style="bold")
            self._set("#cmp-a", body)
            self._set("#cmp-b", "")
            self._set("#cmp-status", "")
            return
        pair = self.pairs[0]
        text = pair.text.text
        every = pair.a + pair.b
        window = (min(s.start for s in every), max(s.end for s in every))
        self._set("#cmp-a", Text.assemble(("A ", "bold"), side_text(text, pair.a, window)))
        self._set("#cmp-b", Text.assemble(("B ", "bold"), side_text(text, pair.b, window)))
        status = Text.assemble(
            (pair.label, "bold"),
            f" · text #{pair.text.id} · ",
            spans_line("A", text, pair.a),
            "  ",
            spans_line("B", text, pair.b),
        )
        status.truncate(2 * max(20, self.size.width or 80), overflow="ellipsis")
        self._set("#cmp-status", status)

    def _set(self, selector: str, content: Text | str) -> None:
        self.query_one(selector, Static).update(content)
