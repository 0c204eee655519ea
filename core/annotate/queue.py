"""What to ask next: label passes, source priority, informativeness, leases, and proposers.

A *task* is one text and one label; its *questions* are the distinct spans proposed for it (the
same span from the LLM and from the model is one question, answered for both proposals). The
queue claims tasks from the store (leasing them, so two annotators never get the same task
unless the project sets `overlap`), and when the stored proposals of a pass run out it asks the
active proposers to cover the next texts.

A one-label pass walks that label's proposals in source priority (and informativeness) order.
The all-labels pass goes text first: every label of a text, in taxonomy order, before the next
text, and a text only once every active proposer has covered it (see `_fetch_text_first`), so
texts get reviewed for every label one after another, as the "complete" training policy needs.
A span already answered through one source's proposal is not asked again when another source
proposes it (see `_ANSWERED` in core/store/queue.py).

`Queue.fetch` is meant to run in a worker thread: it opens its own `Store` connection for the
call (sqlite3 connections belong to the thread that made them) and never touches the UI.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from nerloop.core.annotate.empty import no_texts, why_empty
from nerloop.core.annotate.leases import QueueLeases

# Re-exported: what the queue hands out is part of its public API.
from nerloop.core.annotate.tasks import (
    EmptyQueue,
    EmptyReason,
    Fetch,
    Question,
    Task,
    TaskKey,
    group_questions,
)
from nerloop.core.config import Settings
from nerloop.core.proposers import Proposer, TextsFailed
from nerloop.core.records import Source, StoredText
from nerloop.core.store import Store
from nerloop.core.store.queue import GOLD_SET, Cursor
from nerloop.core.taxonomy import Taxonomy

DEFAULT_SOURCE_ORDER: tuple[Source, ...] = ("rule", "model", "llm", "import")
# Texts handed to a proposer at once: rules are cheap, an LLM call per text is not.
PROPOSE_BATCH: dict[str, int] = {"rule": 256, "model": 64, "llm": 8}
# After a proposer fails (LLM unreachable), leave it alone this long before trying again.
RETRY_FAILED_AFTER = 30.0
LOCAL_SOURCES: frozenset[str] = frozenset({"rule", "model"})
"""Proposers that run here, cheaply and for free: in a one-label pass they cover a batch more
texts at every fetch, so their questions take the place `source_order` gives them among
proposals already stored (an LLM run over the pool beforehand), instead of waiting until every
stored proposal is answered. The LLM is asked only when nothing is left to ask (it costs)."""

__all__ = [
    "GOLD_SET",
    "EmptyQueue",
    "EmptyReason",
    "Fetch",
    "Question",
    "Queue",
    "Task",
    "TaskKey",
    "group_questions",
]


@dataclass
class _Failure:
    message: str
    at: float


@dataclass
class Queue(QueueLeases):
    """The queue of one annotator on one project database."""

    db_path: Path
    taxonomy: Taxonomy
    settings: Settings
    annotator: str
    proposers: Sequence[Proposer] | Callable[[], Sequence[Proposer]] = ()
    """The active proposers, or a function that makes them: called on first need, in the
    fetch worker, so building a spaCy pipeline never delays the first question."""
    make_model: Callable[[], Proposer | None] | None = None
    """Makes the proposer of the promoted model (None when there is none), called in the fetch
    worker. With it, a fetch reads the promoted run's id (one row of the small runs table) and,
    when another run was promoted since the last fetch (`nerloop train` in another process, the
    Train tab), puts the new model's proposer in place of the old one; without it the model in
    use is the one the proposers were made with."""
    clock: Callable[[], float] = time.time
    """Wall-clock seconds for lease expiry (leases are compared across processes)."""
    source_order: Sequence[Source] = ()
    """Source priority; empty means the project's `source_order` setting."""
    budget_seconds: float = 1.0
    """How long one fetch may keep running proposers before it returns to report progress."""
    _cursors: dict[str, dict[str, Cursor | None]] = field(default_factory=dict)
    _coverage: dict[tuple[str, str], int] = field(default_factory=dict)
    """Per (label, source): every pool text up to this id is covered (or was handed over)."""
    _ahead: dict[tuple[str, str], int] = field(default_factory=dict)
    """Per (label, source): texts from the all-labels floor up to this id are covered."""
    _failures: dict[str, _Failure] = field(default_factory=dict)
    _skipped: dict[tuple[str, str], dict[int, str]] = field(default_factory=dict)
    """Per (label, source): texts the proposer failed on in this session, with the error. They
    stay uncovered in the store (a later session or `nerloop propose` asks again) and this
    queue passes over them: a text that always fails must not be asked over and over."""
    _has_texts: bool = False
    _text_cursor: int = 0
    """Where the all-labels (text-first) walk stopped: the last text id it walked."""
    _floor: int | None = None
    """The highest text id reviewed (answered in the store, or handed out by this queue): the
    text-first walk has been over the texts up to it."""
    _model_run: int | None = None
    """The promoted run the model proposer was made from (see `make_model`)."""
    _model_read: bool = False
    """Whether `_model_run` has been read yet."""

    def __post_init__(self) -> None:
        if not self.source_order:
            self.source_order = tuple(self.settings.source_order) or DEFAULT_SOURCE_ORDER

    @contextmanager
    def _store(self) -> Iterator[Store]:
        store = Store(self.db_path)
        try:
            yield store
        finally:
            store.close()

    def pass_labels(self, label_pass: str | None) -> list[str]:
        """The labels of a pass: one label, or all of them (None) in taxonomy order."""
        return [label_pass] if label_pass else self.taxonomy.names

    def active_proposers(self) -> Sequence[Proposer]:
        if callable(self.proposers):
            self.proposers = list(self.proposers())
        return self.proposers

    def sources_for(self, label: str) -> list[Proposer]:
        rank = {s: i for i, s in enumerate(self.source_order)}
        active = [p for p in self.active_proposers() if label in p.labels()]
        return sorted(active, key=lambda p: rank.get(p.source, 99))

    # -- fetching (worker thread) --------------------------------------------------------------

    def fetch(self, label_pass: str | None, n: int = 8, held: Collection[TaskKey] = ()) -> Fetch:
        """Claim up to `n` tasks of the pass, running proposers when stored proposals run out.

        `held` are tasks the caller already has (not claimed again; their leases are renewed,
        as by `renew`). Thread-safe as long as one fetch runs at a time per Queue (the app runs
        it in an exclusive worker).
        """
        with self._store() as store:
            return self._fetch(store, label_pass, n, held)

    def _fetch(
        self, store: Store, label_pass: str | None, n: int, held: Collection[TaskKey]
    ) -> Fetch:
        labels = self.pass_labels(label_pass)
        if not labels:
            return Fetch(
                [],
                EmptyQueue(
                    "no_labels", "The taxonomy has no labels.", "Add labels to taxonomy.toml."
                ),
            )
        if not self._has_texts:
            # Texts are never deleted: once there are some, stop asking on every fetch.
            self._has_texts = store.has_texts("pool")
            if not self._has_texts:
                return Fetch([], no_texts(store.count_texts("gold")))
        self._follow_promotion(store)
        self._renew(store, held)
        deadline = time.monotonic() + self.budget_seconds
        if label_pass is None:
            return self._fetch_text_first(store, labels, n, held, deadline)
        for label in labels:
            exclude = [t for t, lab in held if lab == label]
            # On the first fetch too: else stored LLM proposals come before the model's,
            # against `source_order` (loading the model costs the first question a second).
            self._keep_local_ahead(store, label)
            while True:
                tasks = self._claim(store, label, n, exclude)
                if tasks:
                    return Fetch(tasks)
                if not self._propose_more(store, label):
                    break
                if time.monotonic() > deadline:
                    return Fetch([])
        return Fetch([], self._why_empty(store, labels), self.progress(store, label_pass))

    def _follow_promotion(self, store: Store) -> None:
        """Swap in the model proposer of a run promoted since the last fetch (`make_model`).

        Comparing one id per fetch is cheap; loading the pipeline is not, so that happens only
        when the id changes, here in the fetch worker (proposers belong to its thread).
        """
        if self.make_model is None:
            return
        run = store.promoted_run_id()
        if not self._model_read or run == self._model_run:
            # The first read: the proposers are (or will be) made from this run's model.
            self._model_read, self._model_run = True, run
            return
        self._model_run = run
        if callable(self.proposers):
            return  # not made yet: they will be, with the model promoted now
        try:
            model = self.make_model()
        except Exception as exc:  # a broken model folder: keep the old model, say so
            self._failures["model"] = _Failure(
                f"loading run {run}'s model failed: {type(exc).__name__}: {exc}", time.monotonic()
            )
            return
        others = [p for p in self.proposers if p.source != "model"]
        self.proposers = [*others, model] if model is not None else others
        self._failures.pop("model", None)

    def _fetch_text_first(
        self,
        store: Store,
        labels: Sequence[str],
        n: int,
        held: Collection[TaskKey],
        deadline: float,
    ) -> Fetch:
        """The all-labels pass: finish every label of a text (taxonomy order) before the next.

        Texts are asked in id order, and only below the *frontier*: the first text some active
        proposer has not covered yet for some label. Otherwise a text would be asked for the
        labels one proposer had covered (rules run 256 texts ahead) and come back later when
        another (the LLM) got to it. When nothing below the frontier is open, the proposer that
        lags (lowest uncovered text; taxonomy and source order break ties) covers the next
        texts, and the frontier moves on.

        The frontier is looked for past the texts already reviewed first (`_floor`): a slow
        proposer that joins late (an LLM just configured) then covers new texts alongside the
        others instead of making the annotator wait while it goes over every text reviewed
        before; it catches up on those once no new text is left to cover. The model is fast and
        looks from the first text, so no open text below the floor is asked without it.
        """
        if self._floor is None:
            self._floor = store.last_answered_text()
        while True:
            lag = self._frontier(store, labels, self._floor)
            if lag is None and self._floor:
                # Every text past the reviewed ones is covered: ask those, then catch up.
                tasks = self._claim_texts(store, labels, n, held, None, start=self._floor)
                if tasks:
                    return Fetch(tasks)
                lag = self._frontier(store, labels, 0)
            tasks = self._claim_texts(store, labels, n, held, lag[0] if lag else None)
            if tasks:
                return Fetch(tasks)
            if lag is None:
                break
            self._cover(store, lag[1], lag[2], after_id=lag[0] - 1)
            if time.monotonic() > deadline:
                return Fetch([])
        return Fetch([], self._why_empty(store, labels), self.progress(store, None))

    def _frontier(
        self, store: Store, labels: Sequence[str], floor: int
    ) -> tuple[int, str, Proposer] | None:
        """The lowest text id after `floor` an active (not recently failed) proposer has not
        covered for a pass label, with that label and proposer; None when there is none."""
        now = time.monotonic()
        best: tuple[int, str, Proposer] | None = None
        for label in labels:
            for proposer in self.sources_for(label):
                failure = self._failures.get(proposer.source)
                if failure and now - failure.at < RETRY_FAILED_AFTER:
                    continue
                # The model is fast: it covers the reviewed texts too, at once, so that no text
                # below the floor is asked without its proposals (rules run far ahead anyway).
                start = 0 if proposer.source == "model" else floor
                first = self._first_uncovered(store, label, proposer.source, start)
                if first is not None and (best is None or first < best[0]):
                    best = (first, label, proposer)
        return best

    def _first_uncovered(self, store: Store, label: str, source: Source, floor: int) -> int | None:
        key = (label, source)
        after = self._coverage.get(key, 0)
        # Read before the walk: a text imported between the two reads is then not skipped.
        last = store.last_text_id()
        if after < floor:
            # A search past a gap says nothing about the texts in the gap: remember how far
            # past the floor it got apart from `_coverage` (the floor only goes up).
            ahead = max(floor, self._ahead.get(key, 0))
            ids = store.uncovered_texts(label, source, after_id=ahead, n=1, skip=self._skip(key))
            self._ahead[key] = ids[0] - 1 if ids else max(ahead, last)
            return ids[0] if ids else None
        ids = store.uncovered_texts(label, source, after_id=after, n=1, skip=self._skip(key))
        if not ids:
            # Remember the end, so that the next fetch does not walk every covered text again
            # (texts imported later get higher ids and are found).
            self._coverage[key] = max(after, last)
            return None
        self._coverage[key] = ids[0] - 1
        return ids[0]

    def _claim_texts(
        self,
        store: Store,
        labels: Sequence[str],
        n: int,
        held: Collection[TaskKey],
        below: int | None,
        start: int = 0,
    ) -> list[Task]:
        """Claim text first from the cursor (texts after `start`, before `below`)."""
        after = max(self._text_cursor, start)
        for attempt in range(2):
            claim = store.claim_texts(
                labels,
                self.annotator,
                n=n,
                now=self.clock(),
                lease_seconds=self.settings.lease_seconds,
                overlap=self.settings.overlap,
                after=after,
                below=below,
                exclude=held,
            )
            self._text_cursor = claim.cursor
            self._floor = max([self._floor or 0, *(t for t, _ in claim.tasks)])
            tasks = self._tasks_of(store, claim.tasks)
            if tasks or attempt or after == start:
                return tasks
            # As in `_claim`: rescan once from the first text (expired leases, undone answers,
            # proposals that arrived for texts already walked).
            after = start
        return []

    def _claim(self, store: Store, label: str, n: int, exclude: Sequence[int]) -> list[Task]:
        cursors = self._cursors.get(label)
        for attempt in range(2):
            claim = store.claim_tasks(
                label,
                self.annotator,
                sources=self.source_order,
                n=n,
                now=self.clock(),
                lease_seconds=self.settings.lease_seconds,
                overlap=self.settings.overlap,
                cursors=cursors,
                exclude=exclude,
            )
            self._cursors[label] = claim.cursors
            tasks = self._tasks(store, label, claim.text_ids)
            if tasks or attempt or cursors is None:
                return tasks
            # Walked to the end from a cursor: rescan once from the start, which finds tasks
            # whose lease expired, whose answer was undone, or a model proposal scored anew.
            cursors = None
        return []

    def _tasks(self, store: Store, label: str, text_ids: Sequence[int]) -> list[Task]:
        return self._tasks_of(store, [(t, label) for t in text_ids])

    def _tasks_of(self, store: Store, keys: Sequence[TaskKey]) -> list[Task]:
        mine = self.annotator if self.settings.overlap else None
        tasks = []
        texts: dict[int, StoredText] = {}
        for text_id, label in keys:
            proposals = store.open_proposals(text_id, label, mine)
            if not proposals:  # answered between the claim and now
                if not self.settings.overlap:
                    store.release_lease(text_id, label, self.annotator)
                continue
            questions = group_questions(proposals, self.source_order)
            if text_id not in texts:
                texts[text_id] = store.get_text(text_id)
            tasks.append(Task(texts[text_id], label, questions))
        return tasks

    def _keep_local_ahead(self, store: Store, label: str) -> None:
        """One more batch from each local proposer (LOCAL_SOURCES) that has texts left to
        cover for `label`: a model promoted after `nerloop propose` ran proposes at once."""
        now = time.monotonic()
        for proposer in self.sources_for(label):
            source = proposer.source
            failure = self._failures.get(source)
            if source not in LOCAL_SOURCES or (failure and now - failure.at < RETRY_FAILED_AFTER):
                continue
            self._cover(store, label, proposer, after_id=self._coverage.get((label, source), 0))

    def _propose_more(self, store: Store, label: str) -> bool:
        """Run the first proposer with texts left to cover for `label`; False when none ran."""
        now = time.monotonic()
        for proposer in self.sources_for(label):
            source = proposer.source
            failure = self._failures.get(source)
            if failure and now - failure.at < RETRY_FAILED_AFTER:
                continue
            ran = self._cover(
                store, label, proposer, after_id=self._coverage.get((label, source), 0)
            )
            if ran is None:
                continue
            if ran:
                return True
        return False

    def _cover(self, store: Store, label: str, proposer: Proposer, after_id: int) -> bool | None:
        """Run `proposer` over the next texts after `after_id` it has not covered for `label`.

        True when it ran, False when it failed (the failure is kept for `_why_empty`), None
        when there was nothing left to cover. Texts it failed on alone (TextsFailed) are not
        marked covered, and skipped from then on (`_skipped`)."""
        source = proposer.source
        key = (label, source)
        ids = store.uncovered_texts(
            label,
            source,
            after_id=after_id,
            n=PROPOSE_BATCH.get(source, 32),
            skip=self._skip(key),
        )
        if not ids:
            return None
        texts = [store.get_text(i) for i in ids]
        failed: dict[int, str] = {}
        try:
            proposals = proposer.propose(texts, label)
        except TextsFailed as exc:
            proposals, failed = exc.proposals, exc.failed
        except Exception as exc:  # any proposer error: report it, keep the app running
            self._failures[source] = _Failure(f"{type(exc).__name__}: {exc}", time.monotonic())
            return False
        if not proposer.commits:
            store.add_proposals(proposals)
        store.mark_covered(label, source, [i for i in ids if i not in failed])
        if failed:
            self._skipped.setdefault(key, {}).update(failed)
        if after_id <= self._coverage.get(key, 0):  # covered (or skipped) from the cached point
            self._coverage[key] = ids[-1]
        if len(failed) == len(ids):
            # Not one text worked (a storm of 500s, say): leave the source alone for a while, as
            # when it is unreachable, rather than walk the whole pool into the same error.
            error = next(iter(failed.values()))
            self._failures[source] = _Failure(
                f"it failed on all of the last {len(ids)} texts: {error}", time.monotonic()
            )
            return False
        self._failures.pop(source, None)
        return True

    def _skip(self, key: tuple[str, str]) -> Collection[int]:
        return self._skipped.get(key, {}).keys()

    # -- why nothing is left -------------------------------------------------------------------

    def _why_empty(self, store: Store, labels: Sequence[str]) -> EmptyQueue:
        return why_empty(
            store,
            labels,
            failures={s: f.message for s, f in self._failures.items()},
            skipped=self._skipped,
            has_source=lambda label: bool(self.sources_for(label)),
            annotator=self.annotator,
            clock=self.clock,
            taxonomy=self.taxonomy,
            settings=self.settings,
        )

    def pass_progress(self, label_pass: str | None) -> tuple[int, int]:
        """(answered, total) proposals of the pass; opens its own connection (worker thread)."""
        with self._store() as store:
            return self.progress(store, label_pass)

    def progress(self, store: Store, label_pass: str | None) -> tuple[int, int]:
        """(answered, total) proposals of the pass on pool texts."""
        mine = self.annotator if self.settings.overlap else None
        answered = total = 0
        for label in self.pass_labels(label_pass):
            a, t = store.pass_progress(label, mine)
            answered += a
            total += t
        return answered, total

    def forget_coverage(self, label: str, source: str) -> None:
        """Walk the texts from the start again for (label, source), e.g. after rules changed."""
        self._coverage.pop((label, source), None)
        self._ahead.pop((label, source), None)

    def reset_pass(self, label_pass: str | None) -> None:
        """Forget where the walks stopped (a new pass starts from the front of the queue)."""
        for label in self.pass_labels(label_pass):
            self._cursors.pop(label, None)
        if label_pass is None:
            self._text_cursor = 0
