"""The one committer of LLM outcomes: each ledger row with the proposals placed from its
answer, in one transaction. `OutcomeWriter` does it off the event loop as outcomes arrive
(`LLMProposer.run`); `commit_outcomes` is the transaction itself."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable

from nerloop.core.proposers.llm_task import Outcome, ProposeSummary
from nerloop.core.store import Store


def commit_outcomes(store: Store, outcomes: Iterable[Outcome]) -> None:
    """Store the outcomes' ledger rows and their proposals in one transaction, so an
    interrupted job never has a call on record whose proposals are missing."""
    store.record_llm_calls([(o.call, o.proposals) for o in outcomes if o.call is not None])


class OutcomeWriter:
    """Commits outcomes as they arrive, off the event loop.

    A commit (synchronous=FULL: an fsync) takes milliseconds; done on the event loop it would
    stall every request in flight. So a thread with its own connection commits, and takes all
    the outcomes that arrived during its previous commit in one transaction. Each outcome's
    ledger row and proposals are always in the same transaction, and `on_outcome` sees an
    outcome (on the loop's thread) only once it is stored. An in-memory store cannot be shared
    between threads: it is written on the loop.
    """

    def __init__(
        self,
        store: Store,
        summary: ProposeSummary,
        on_outcome: Callable[[Outcome], None] | None,
    ) -> None:
        self.store = store
        self.summary = summary
        self.on_outcome = on_outcome
        self.threaded = store.path is not None
        self._todo: queue.SimpleQueue[Outcome | None] = queue.SimpleQueue()
        self._done: deque[list[Outcome]] = deque()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.threaded:
            self._loop = asyncio.get_running_loop()
            self._thread = threading.Thread(target=self._commit_loop, name="llm-writer")
            self._thread.start()

    def put(self, outcome: Outcome) -> None:
        if self._error is not None:
            raise self._error
        if not self.threaded:
            commit_outcomes(self.store, [outcome])
            self._report([outcome])
            return
        self._todo.put(outcome)

    def _commit_loop(self) -> None:
        own = self.store.reopen()
        try:
            stop = False
            while not stop:
                batch: list[Outcome] = []
                item = self._todo.get()
                while True:
                    if item is None:
                        stop = True
                    else:
                        batch.append(item)
                    try:
                        item = self._todo.get_nowait()
                    except queue.Empty:
                        break
                if batch:
                    commit_outcomes(own, batch)
                    self._done.append(batch)
                    if self._loop is not None and not self._loop.is_closed():
                        with contextlib.suppress(RuntimeError):
                            self._loop.call_soon_threadsafe(self.report_done)
        except BaseException as exc:  # handed to the loop's thread, which raises it
            self._error = exc
        finally:
            own.close()

    def report_done(self) -> None:
        while self._done:
            self._report(self._done.popleft())

    def _report(self, batch: list[Outcome]) -> None:
        for outcome in batch:
            self.summary.add(outcome)
            if self.on_outcome is not None:
                self.on_outcome(outcome)

    def finish(self) -> None:
        """Commit everything queued, wait for it, and report it. Safe to call twice."""
        if self._thread is not None:
            self._todo.put(None)
            self._thread.join()
            self._thread = None
            self.report_done()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
