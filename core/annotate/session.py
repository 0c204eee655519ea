"""One annotator's session in the Annotate tab, without any UI.

It holds the prefetched tasks, the current question, boundary edits, the answers given in this
session (for undo) and the figures shown in the progress line. Every answer is written and
committed through the session's own `Store` before the method returns, so an answer is in the
database the moment the key press is handled.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence

from nerloop.core.annotate.empty import retry_after
from nerloop.core.annotate.queue import EmptyQueue, Fetch, Question, Queue, Task, TaskKey
from nerloop.core.annotate.shown import Given, OnLost, Shown, Tokenize
from nerloop.core.config import Settings
from nerloop.core.records import AnswerKind, Span
from nerloop.core.store import Store
from nerloop.core.taxonomy import Taxonomy
from nerloop.core.text_marks import accepted_spans, mark_text

RATE_MIN_SECONDS = 30.0
"""Answers per minute are shown only once the answers span this many seconds: a rate from
two quick presses would be extrapolated from nothing."""


class Session:
    """The annotate loop's state: buffer, current question, edits, answers, undo, figures."""

    def __init__(
        self,
        store: Store,
        queue: Queue,
        tokenize: Tokenize,
        *,
        clock: Callable[[], float] = time.monotonic,
        session_id: str | None = None,
        low_water: int = 4,
        on_lost: OnLost | None = None,
    ) -> None:
        self.store = store
        self.queue = queue
        self.tokenize = tokenize
        self.clock = clock
        self.session_id = session_id or uuid.uuid4().hex[:12]
        self.low_water = low_water
        self.on_lost = on_lost
        self.label_pass: str | None = None
        self.empty: EmptyQueue | None = None
        self._buffer: deque[Task] = deque()
        self._task: Task | None = None
        self._index = 0
        self._bounds: tuple[int, int] | None = None  # edited token bounds of the question
        self._tokens: tuple[int, Sequence[tuple[int, int]]] | None = None
        self._history: list[Given] = []
        self.counts = {"accept": 0, "reject": 0, "ignore": 0}
        self._answered = 0  # questions answered (an accept_text answers several)
        self._first_press = 0  # questions the session's first key press answered
        self._first_answer_at: float | None = None
        self._last_answer_at: float | None = None
        self._progress = (0, 0)
        self._rows = 0  # answer rows this session has live in the store
        self._rows_at = 0  # self._rows when the progress figures were read

    # -- the queue (what the Annotate pane asks for) ------------------------------------------

    @property
    def settings(self) -> Settings:
        return self.queue.settings

    @property
    def taxonomy(self) -> Taxonomy:
        return self.queue.taxonomy

    @property
    def annotator(self) -> str:
        return self.queue.annotator

    def fetch(self, label_pass: str | None, n: int, held: Collection[TaskKey]) -> Fetch:
        """The queue's next tasks for `label_pass` (a worker thread: the queue opens its own
        connection). Any failure comes back as an empty fetch that says so, and is retried."""
        try:
            return self.queue.fetch(label_pass, n, held)
        except Exception as exc:  # the database or a proposer broke: say so, keep running
            return self.fetch_failed(exc)

    @staticmethod
    def fetch_failed(exc: Exception) -> Fetch:
        """An empty fetch that reports `exc`; retried like an unreachable proposer."""
        return Fetch(
            [], EmptyQueue("source_failed", f"Fetching failed: {exc}", "See the log; retrying.")
        )

    def received(self, fetch: Fetch) -> float | None:
        """Take a fetch's tasks and figures. When it came back empty, keep why (`empty`) and
        return the seconds after which to fetch again by itself (None: wait for the annotator)."""
        self.add_tasks(fetch.tasks)
        if fetch.progress is not None:
            self.set_progress(*fetch.progress)
        self.empty = fetch.empty if not fetch.tasks else None
        return None if self.empty is None else retry_after(self.empty)

    def give_back(self, tasks: Sequence[Task]) -> None:
        """Release tasks claimed for a pass the annotator has left."""
        for task in tasks:
            self.queue.release(self.store, task.key)

    def pass_progress(self, label_pass: str | None) -> tuple[int, int]:
        """(answered, total) of a pass, read on a connection of its own (a worker thread)."""
        return self.queue.pass_progress(label_pass)

    def renew(self, held: Collection[TaskKey]) -> dict[TaskKey, str]:
        """Renew the leases of `held` (any thread); the tasks others have now, with who."""
        return self.queue.renew(held)

    # -- the buffer ----------------------------------------------------------------------------

    def add_tasks(self, tasks: Sequence[Task]) -> None:
        held = self.held()
        for task in tasks:
            if task.key not in held:
                self._buffer.append(task)
                held.add(task.key)
        if self._task is None:
            self._next_task()
        if tasks:
            self.empty = None

    def set_progress(self, answered: int, total: int, rows_at: int | None = None) -> None:
        """Figures read from the store; `rows_at` is `self.rows` when the read began (answers
        given since then are added on top)."""
        self._progress = (answered, total)
        self._rows_at = self._rows if rows_at is None else rows_at

    @property
    def rows(self) -> int:
        """Answer rows this session has live in the store."""
        return self._rows

    def held(self) -> set[TaskKey]:
        keys = {t.key for t in self._buffer}
        if self._task is not None:
            keys.add(self._task.key)
        return keys

    def wants_more(self) -> bool:
        """True when the buffer is low enough that a fetch should run."""
        return len(self._buffer) < self.low_water

    def set_pass(self, label: str | None) -> None:
        """Switch the label pass: drop (and release) the tasks held for the old one."""
        for key in self.held():
            self.queue.release(self.store, key)
        self._buffer.clear()
        self._task = None
        self._bounds = None
        self.label_pass = label
        self.empty = None
        self._progress = (0, 0)
        self._rows_at = self._rows
        self.queue.reset_pass(label)

    def close(self) -> None:
        """Give back every task held but not answered."""
        for key in self.held():
            self.queue.release(self.store, key)

    def _next_task(self) -> None:
        self._task = self._buffer.popleft() if self._buffer else None
        self._index = 0
        self._bounds = None

    def forget(self, lost: Mapping[TaskKey, str]) -> bool:
        """Drop held tasks that other annotators have now (`Queue.renew` found their leases
        taken), telling `on_lost` of each; True when one was dropped (the current question may
        have changed)."""
        if not lost:
            return False
        dropped = [t for t in self._buffer if t.key in lost]
        if dropped:
            self._buffer = deque(t for t in self._buffer if t.key not in lost)
        if self._task is not None and self._task.key in lost:
            dropped.append(self._task)
            self._next_task()
        if self.on_lost is not None:
            for task in dropped:
                self.on_lost(task, lost[task.key])
        return bool(dropped)

    # -- the current question -------------------------------------------------------------------

    @property
    def task(self) -> Task | None:
        return self._task

    def tokens(self) -> Sequence[tuple[int, int]]:
        if self._task is None:
            return ()
        if self._tokens is None or self._tokens[0] != self._task.text.id:
            self._tokens = (self._task.text.id, self.tokenize(self._task.text.text))
        return self._tokens[1]

    def _question_bounds(self, q: Question) -> tuple[int, int]:
        """Token indices (inclusive) covering the question's chars, from the tokenizer."""
        toks = self.tokens()
        first = next((i for i, (s, e) in enumerate(toks) if e > q.start), 0)
        last = max(
            (i for i, (s, _) in enumerate(toks) if s < q.end), default=max(first, len(toks) - 1)
        )
        return first, max(first, last)

    def current(self) -> Shown | None:
        if self._task is None:
            return None
        q = self._task.questions[self._index]
        if self._bounds is None:  # unmoved: no need to tokenize (the key press stays cheap)
            ts, te = q.first.token_start, q.first.token_end
            return Shown(self._task, q, self._index, q.start, q.end, ts, te, False)
        toks = self.tokens()
        ts, te = self._bounds
        start, end = toks[ts][0], toks[te][1]
        edited = (start, end) != (q.start, q.end)
        return Shown(self._task, q, self._index, start, end, ts, te, edited)

    def move_start(self, delta: int) -> bool:
        """Move the span's first token by `delta` tokens; False when it cannot move."""
        return self._move(delta, 0)

    def move_end(self, delta: int) -> bool:
        """Move the span's last token by `delta` tokens; False when it cannot move."""
        return self._move(0, delta)

    def _move(self, d_start: int, d_end: int) -> bool:
        if self._task is None or not self.tokens():
            return False
        q = self._task.questions[self._index]
        ts, te = self._bounds or self._question_bounds(q)
        ts, te = ts + d_start, te + d_end
        if ts < 0 or te >= len(self.tokens()) or ts > te:
            return False
        self._bounds = (ts, te)
        return True

    # -- answers -------------------------------------------------------------------------------

    def answer(self, kind: AnswerKind) -> bool:
        """Answer the current question (committed before returning) and move to the next.

        If another annotator has the task by now (this session's lease ran out, say while the
        machine slept, and it was given to them, or they answered it already), nothing is
        stored: the task is dropped as by `forget` and the next question comes up. Storing
        it would give the question two answers, one of them from someone who is being asked
        it right now. Returns False only when there was no question.
        """
        shown = self.current()
        if shown is None:
            return False
        span = self._moved_span(shown) if kind == "accept" else None
        # One transaction (one fsync) for the question's answers and, when the task is done,
        # giving its lease back: the commit is the slow part of a key press.
        finished = self._index + 1 >= len(shown.task.questions)
        with self.store.write():
            other = self._taken(shown.task, shown.index, shown.index + 1)
            if other is None:
                ids = tuple(self._store_answers(shown.question, kind, span))
                if finished:
                    self.queue.release(self.store, shown.task.key)
        if other is not None:
            return self.forget({shown.task.key: other})
        self._given(Given(shown.task, shown.index, kind, ids))
        if finished:
            self._next_task()
        else:
            self._index += 1
        return True

    def text_questions(self) -> list[Question]:
        """The questions `accept_text` would accept: the current one, the rest of its task and
        every buffered task of the same text (any label), in the order they would be asked."""
        if self._task is None:
            return []
        return [q for task, start in self._text_tasks() for q in task.questions[start:]]

    def accept_text(self) -> int:
        """Accept every question of the current text that this session holds, in one
        transaction (one fsync), and move to the next text; returns how many were accepted.

        "Holds": the current task's remaining questions and the buffered tasks of the same
        text, whatever their label (`text_questions`). The all-labels pass claims a text's
        open tasks together, so that is all of them; questions the text gets later (a proposer
        covering it after the claim, a model promoted meanwhile) come in a later fetch and are
        asked one at a time as usual. In a one-label pass it is the rest of the current task.
        A boundary moved on the current question is accepted as moved, as `answer` does. Each
        question counts as one answer in the figures; one `undo` takes them all back. A task
        another annotator has by now is dropped with nothing stored (as in `answer`); the
        others are still accepted.
        """
        shown = self.current()
        if shown is None:
            return 0
        parts = self._text_tasks()
        span = self._moved_span(shown)
        ids: list[int] = []
        done: list[tuple[Task, int]] = []
        lost: dict[TaskKey, str] = {}
        with self.store.write():
            for task, start in parts:
                other = self._taken(task, start, len(task.questions))
                if other is not None:
                    lost[task.key] = other
                    continue
                for i in range(start, len(task.questions)):
                    moved = span if task is shown.task and i == shown.index else None
                    ids += self._store_answers(task.questions[i], "accept", moved)
                self.queue.release(self.store, task.key)
                done.append((task, start))
        accepted = sum(len(task.questions) - start for task, start in done)
        text_id = shown.task.text.id
        self._buffer = deque(t for t in self._buffer if t.text.id != text_id)
        if done:
            (first, index), *rest = done
            later = tuple(task for task, _ in rest)
            self._given(Given(first, index, "accept", tuple(ids), later, accepted))
        self._next_task()
        if lost and self.on_lost is not None:
            for task, _ in parts:
                if task.key in lost:
                    self.on_lost(task, lost[task.key])
        return accepted

    def _text_tasks(self) -> list[tuple[Task, int]]:
        """The current task (from the current question) and the buffered tasks of its text,
        each with the index of its first question still to ask."""
        assert self._task is not None
        text_id = self._task.text.id
        same = [(t, 0) for t in self._buffer if t.text.id == text_id]
        return [(self._task, self._index), *same]

    def _moved_span(self, shown: Shown) -> Span | None:
        """The moved span an accept stores (None when no boundary moved)."""
        if not shown.edited:
            return None
        label = shown.question.label
        return Span(shown.start, shown.end, label, shown.token_start, shown.token_end)

    def _taken(self, task: Task, start: int, stop: int) -> str | None:
        """Who else has the task now, asked about its questions start..stop-1; call it in the
        answers' transaction, so that nobody can take the task in between."""
        ids = [p.id for q in task.questions[start:stop] for p in q.proposals]
        return self.queue.taken_over(self.store, task.key, ids)

    def _store_answers(self, q: Question, kind: AnswerKind, span: Span | None) -> list[int]:
        """One answer row per proposal of the question (the same span from several sources)."""
        return [
            self.store.add_answer(
                p.id, kind, self.queue.annotator, span=span, session=self.session_id
            )
            for p in q.proposals
        ]

    def _given(self, given: Given) -> None:
        """Count a key press's answers in the figures and remember them for undo."""
        self._history.append(given)
        self._rows += len(given.answer_ids)
        self.counts[given.answer] += given.questions
        self._answered += given.questions
        now = self.clock()
        if self._first_answer_at is None:
            self._first_answer_at = now
            self._first_press = given.questions
        self._last_answer_at = now
        self._bounds = None

    def undo(self) -> bool:
        """Take back this session's last key press (every answer of an `accept_text`) and show
        its (first) question again. Once this session's own presses are all taken back (a
        restarted app has none), `u` goes on to the annotator's answers stored before, one
        question at a time."""
        if not self._history:
            return self._undo_stored()
        given = self._history.pop()
        tasks = (given.task, *given.later)
        held = self.held()
        with self.store.write():
            for answer_id in given.answer_ids:
                self.store.undo_answer(answer_id, self.queue.annotator, session=self.session_id)
            if given.mark is not None:
                self.store.undo_mark(given.mark, self.queue.annotator, session=self.session_id)
            for task in tasks:
                if task.key not in held:  # its lease went with its last answer
                    self.queue.relet(self.store, task.key)
        self.counts[given.answer] -= given.questions
        self._answered -= given.questions
        self._rows -= len(given.answer_ids)
        if self._task is not None and self._task.key != given.task.key:
            self._buffer.appendleft(self._task)
        self._buffer.extendleft(reversed(given.later))
        self._task = given.task
        self._index = given.index
        self._bounds = None
        return True

    def _undo_stored(self) -> bool:
        """Take back the annotator's last stored question (see `undo`) and show it again."""
        last = self.store.last_question_answered(self.queue.annotator)
        if last is None:
            return False
        text_id, label, answered = last
        key = (text_id, label)
        with self.store.write():
            for answer_id, _ in answered:
                self.store.undo_answer(answer_id, self.queue.annotator, session=self.session_id)
            if key not in self.held():
                self.queue.relet(self.store, key)
        tasks = self.queue.tasks_for(self.store, [key])
        if not tasks:
            return True  # taken back; another annotator holds the task now
        if self._task is not None and self._task.key != key:
            self._buffer.appendleft(self._task)
        self._buffer = deque(t for t in self._buffer if t.key != key)
        self._task = tasks[0]
        proposals = {proposal_id for _, proposal_id in answered}
        self._index = next(
            (
                i
                for i, q in enumerate(self._task.questions)
                if any(p.id in proposals for p in q.proposals)
            ),
            0,
        )
        self._bounds = None
        return True

    def text_spans(self) -> list[Span]:
        """The accepted spans of the current question's text (any label), by position."""
        return [] if self._task is None else accepted_spans(self.store, self._task.text.id)

    def mark_missing(self, spans: Sequence[Span]) -> int:
        """Store the spans the annotator marked on the current text (the LLM missed them) as
        accepted answers of source "human" and mark the text human-complete for every ner
        label (core.text_marks); returns how many were stored ([]: "nothing is missing").
        ValueError names a bad span, nothing stored. One `undo` takes the whole mark back."""
        if self._task is None:
            return 0
        ner = [label.name for label in self.queue.taxonomy.ner_labels]
        who, task = self.queue.annotator, self._task
        marked = mark_text(self.store, task.text, self.tokens(), spans, ner, who, self.session_id)
        self._given(Given(task, self._index, "accept", marked.answer_ids, (), 0, marked.mark_id))
        return len(marked.answer_ids)

    def flag_missing(self) -> bool:
        """Record that something is missing on the current text, unmarked (mark 'flagged': its
        uncovered tokens train as unknown, never O); False without a question. Undoable."""
        if self._task is None:
            return False
        text_id, who = self._task.text.id, self.queue.annotator
        mark = self.store.add_mark(text_id, "flagged", who, session=self.session_id)
        self._given(Given(self._task, self._index, "accept", (), (), 0, mark))
        return True

    @property
    def can_undo(self) -> bool:
        return bool(self._history)

    # -- figures -------------------------------------------------------------------------------

    @property
    def answered(self) -> int:
        """Questions answered in this session (an `accept_text` counts each one)."""
        return self._answered

    def progress(self) -> tuple[int, int]:
        """(answered, total) proposals of the pass, counting this session's answers since the
        figures were last read from the store."""
        answered, total = self._progress
        answered = max(0, answered + self._rows - self._rows_at)
        return (min(total, answered) if total else answered), total

    def per_minute(self) -> float | None:
        """Answers per minute in this session; None until the answers span RATE_MIN_SECONDS
        (a few quick presses are no rate)."""
        if self._first_answer_at is None or self._last_answer_at is None:
            return None
        elapsed = self._last_answer_at - self._first_answer_at
        # The first key press starts the clock: its answers took no measured time.
        since_first = self.answered - self._first_press
        if elapsed < RATE_MIN_SECONDS or since_first < 1:
            return None
        return since_first * 60.0 / elapsed

    def accept_rate(self) -> float | None:
        decided = self.counts["accept"] + self.counts["reject"]
        return self.counts["accept"] / decided if decided else None
