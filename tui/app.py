"""The nerloop terminal app: seven tabs and the keys that switch between them.

`create_app` is the one factory the CLI, the tests and the benchmark share. Each tab is its own
module under tui/panes; this file only wires them together.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.keys import format_key
from textual.widgets import Footer, TabbedContent, TabPane

from nerloop.core.annotate.queue import GOLD_SET, Queue, Task
from nerloop.core.annotate.session import Session
from nerloop.core.annotate.shown import Tokenize, spacy_tokenizer
from nerloop.core.display import one_line
from nerloop.core.project import Project
from nerloop.core.proposers import Proposer
from nerloop.core.proposers.model import ModelProposer
from nerloop.core.proposers.registry import proposers_for
from nerloop.core.store import Store
from nerloop.core.taxonomy_edit import LabelEdit, follow_edit
from nerloop.tui import keymap
from nerloop.tui.panes.annotate import AnnotatePane
from nerloop.tui.panes.compare import ComparePane
from nerloop.tui.panes.data import DataPane
from nerloop.tui.panes.evaluate import EvaluatePane
from nerloop.tui.panes.gold import GoldPane
from nerloop.tui.panes.taxonomy import TaxonomyPane
from nerloop.tui.panes.train import TrainPane
from nerloop.tui.widgets.modals import HelpScreen

TABS = ("annotate", "taxonomy", "gold", "train", "evaluate", "data", "compare")


def lazy_tokenizer(project: Project) -> Tokenize:
    """The project's tokenizer, made on first use (spaCy's `blank` takes a moment)."""
    made: list[Tokenize] = []

    def tokenize(text: str) -> Sequence[tuple[int, int]]:
        if not made:
            made.append(spacy_tokenizer(project.nlp))
        return made[0](text)

    return tokenize


def settle_garbage_collector() -> None:
    """Move every object alive now out of the cyclic collector's reach (`gc.freeze`).

    What exists at start-up (modules, Textual's CSS and widgets, spaCy's tables) lives as long
    as the app. Left in the oldest generation, each full collection walks all of it again:
    50-75 ms, measured on the 1M-text benchmark project, in the middle of a key press. Frozen,
    a full collection walks only what was made since. Called once after mounting and once
    after the first fetch, never repeatedly (cyclic garbage frozen with it is never freed).
    """
    gc.freeze()


class NerloopApp(App[None]):
    # Absolute, so subclasses defined elsewhere (tests, benchmarks) find it too.
    CSS_PATH = Path(__file__).parent / "app.tcss"
    TITLE = "nerloop"
    BINDINGS = keymap.APP
    ENABLE_COMMAND_PALETTE = False

    def __init__(
        self,
        project: Project,
        annotator: str,
        *,
        proposers: Sequence[Proposer] | None = None,
        clock: Callable[[], float] = time.time,
        session_clock: Callable[[], float] = time.monotonic,
        session_id: str | None = None,
        fetch_size: int = 8,
        label_pass: str | None = None,
    ) -> None:
        # NO_COLOR: Textual then greys the theme (Monochrome) unless ANSI colours are on, in
        # which case it drops every colour (NoColor) and the terminal's own colours show.
        # Highlights stay visible either way: they are reverse/bold/underline (render.py).
        super().__init__(ansi_color=True if "NO_COLOR" in os.environ else None)
        self._queue_store: Store | None = None
        # The queue's own thread: fetches and proposers run there, one at a time.
        self.queue_thread = ThreadPoolExecutor(1, thread_name_prefix="nerloop-queue")
        self.project = project
        self.annotator = annotator
        if project.store.path is None:
            raise ValueError("the app needs a project on disk, not an in-memory store")
        self.queue = Queue(
            project.store.path,
            project.taxonomy,
            project.settings,
            annotator,
            self._proposers_here if proposers is None else list(proposers),
            make_model=self._model_here if proposers is None else None,
            clock=clock,
        )
        # The tokenizer is only needed once a boundary moves: do not build it at start-up.
        self.tokenize = lazy_tokenizer(project)
        self.session = Session(
            project.store,
            self.queue,
            self.tokenize,
            clock=session_clock,
            session_id=session_id,
            on_lost=self._task_lost,
        )
        self.fetch_size = fetch_size
        self._settled_after_fetch = False
        if label_pass is not None:
            self.session.set_pass(label_pass)

    def _queue_project(self) -> Project:
        """The project on the queue thread's own connection (call it on that thread)."""
        p = self.project
        if self._queue_store is None:
            self._queue_store = p.connect()
        return Project(p.path, self._queue_store, p.taxonomy, p.settings)

    def _proposers_here(self) -> list[Proposer]:
        """Proposers for the queue's thread (where this runs), on a connection of its own."""
        return proposers_for(self._queue_project())

    def _model_here(self) -> Proposer | None:
        """The promoted model's proposer, for the queue's thread (a model promoted while the
        app runs: the queue swaps it in)."""
        return ModelProposer.from_project(self._queue_project())

    def _task_lost(self, task: Task, other: str) -> None:
        """The session dropped a task another annotator has now: say why it went away."""
        if other == GOLD_SET:
            self.notify(
                f"Text #{task.text.id} moved to the gold set: its questions are dropped here "
                "(gold texts are for evaluation), and nothing more is stored for it.",
                severity="warning",
                timeout=8,
                markup=False,
            )
            return
        self.notify(
            f"Text #{task.text.id} ({task.label}) went to {one_line(other)} after this "
            "session's lease on it ran out: it is theirs now, skipped here, and nothing more "
            "is stored for it.",
            severity="warning",
            timeout=8,
            markup=False,
        )

    def compose(self) -> ComposeResult:
        with TabbedContent(initial="annotate"):
            with TabPane("Annotate F1", id="annotate"):
                yield AnnotatePane(
                    self.session,
                    fetch_size=self.fetch_size,
                    queue_thread=self.queue_thread,
                    id="annotate-pane",
                )
            with TabPane("Taxonomy F2", id="taxonomy"):
                yield TaxonomyPane(self.project, self.taxonomy_changed, id="taxonomy-pane")
            with TabPane("Gold F3", id="gold"):
                yield GoldPane(
                    self.project,
                    self.annotator,
                    self.tokenize,
                    clock=self.queue.clock,
                    id="gold-pane",
                )
            with TabPane("Train F4", id="train"):
                yield TrainPane(self.project, id="train-pane")
            with TabPane("Evaluate F5", id="evaluate"):
                yield EvaluatePane(self.project, id="evaluate-pane")
            with TabPane("Data F6", id="data"):
                yield DataPane(self.project, id="data-pane")
            with TabPane("Compare F7", id="compare"):
                yield ComparePane(
                    self.project, self.annotator, session=self.session.session_id, id="compare-pane"
                )
        yield Footer(compact=True)

    def on_mount(self) -> None:
        unknown = sorted(set(self.project.settings.keymap) - keymap.BINDING_IDS)
        if unknown:
            self.notify(
                f"Unknown key binding ids in [keymap]: {', '.join(unknown)}",
                timeout=8,
                markup=False,
            )
        self.set_keymap(self.project.settings.keymap)
        keyless = self.keyless_bindings()
        if keyless:
            self.notify(
                f"[keymap] gave away every key of {', '.join(keyless)}: give "
                f"{'it' if len(keyless) == 1 else 'them'} a key of its own in nerloop.toml.",
                severity="warning",
                timeout=10,
                markup=False,
            )
        self.query_one(AnnotatePane).focus()
        settle_garbage_collector()

    def on_annotate_pane_fetched(self, message: AnnotatePane.Fetched) -> None:
        # The first fetch made the proposers (spaCy, a model): theirs are start-up objects too.
        if not self._settled_after_fetch:
            self._settled_after_fetch = True
            settle_garbage_collector()

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        pane = self.query_one(f"#{event.pane.id}-pane")
        activated = getattr(pane, "activated", None)
        if activated is not None:
            activated()
        else:
            pane.focus()

    def taxonomy_changed(self, edit: LabelEdit) -> None:
        """A label was edited: the queue uses the new taxonomy and rules from now on."""
        follow_edit(self.queue, self.project.taxonomy, edit, self._proposers_here)

    HELP_GROUPS = (
        ("Anywhere", keymap.APP),
        ("Annotate", keymap.ANNOTATE),
        ("Taxonomy", keymap.TAXONOMY),
        ("Gold", keymap.GOLD),
        ("Train", keymap.TRAIN),
        ("Evaluate", keymap.EVALUATE),
        ("Data", keymap.DATA),
        ("Compare", keymap.COMPARE),
    )

    def help_groups(self) -> list[tuple[str, list[tuple[str, str, str]]]]:
        """The help screen's rows: keys in force (after [keymap]), description, binding id.
        A binding whose keys a remap gave to another shows "(none)"."""
        remap = self.project.settings.keymap
        out: list[tuple[str, list[tuple[str, str, str]]]] = []
        for title, bindings in self.HELP_GROUPS:
            force = keymap.keys_in_force(bindings, remap)
            rows: list[tuple[str, str, str]] = []
            for b in bindings:
                if (
                    not isinstance(b, Binding)
                    or b.id is None
                    or (b.id.startswith("gold.tag") and b.id != "gold.tag1")
                ):
                    continue
                keys = force[b.id]
                if not keys:
                    shown = "(none)"
                elif (
                    b.id not in remap
                    and b.key_display
                    and "/" not in b.key_display  # a footer's pair label ("[/]"): one key each
                    and keys == b.key.split(",")
                ):
                    shown = b.key_display
                elif b.id in remap:
                    shown = ",".join(keys)  # as the user wrote them in [keymap]
                else:
                    shown = ",".join(format_key(k) for k in keys)
                rows.append((shown, b.description, b.id))
            out.append((title, rows))
        return out

    def keyless_bindings(self) -> list[str]:
        """Binding ids that [keymap] left without a key (a remap took all of theirs)."""
        remap = self.project.settings.keymap
        return [
            binding_id
            for _, bindings in self.HELP_GROUPS
            for binding_id, keys in keymap.keys_in_force(bindings, remap).items()
            if not keys
        ]

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.help_groups()))

    def on_unmount(self) -> None:
        # Tasks fetched but not answered go back to the pool at once, not when leases expire.
        self.session.close()
        if self._queue_store is not None:
            self.queue_thread.submit(self._queue_store.close)
        self.queue_thread.shutdown(wait=False)


def create_app(project: Project, annotator: str, **kwargs: object) -> NerloopApp:
    """The app for a project and annotator (the CLI, the tests and the benchmark use this)."""
    return NerloopApp(project, annotator, **kwargs)  # type: ignore[arg-type]


__all__ = ["TABS", "Binding", "NerloopApp", "create_app"]
