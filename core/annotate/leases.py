"""The queue's leases: a task claimed by one annotator stays theirs while they hold it.

`QueueLeases` is a part of `Queue` (core/annotate/queue.py), kept here so the lease rules read
in one place: renewing what is held, finding a task taken over, releasing and leasing again.
The SQL is in core/store/queue.py.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager

from nerloop.core.annotate.tasks import Task, TaskKey
from nerloop.core.config import Settings
from nerloop.core.store import Store


class QueueLeases:
    """Lease handling for `Queue`, which provides the attributes and methods declared here."""

    settings: Settings
    annotator: str
    clock: Callable[[], float]

    def _store(self) -> AbstractContextManager[Store]:
        raise NotImplementedError

    def _tasks_of(self, store: Store, keys: Sequence[TaskKey]) -> list[Task]:
        raise NotImplementedError

    def renew(self, held: Collection[TaskKey]) -> dict[TaskKey, str]:
        """Extend the leases of the tasks `held` by another `lease_seconds`, in one write
        transaction; returns the tasks another annotator got meanwhile (this lease ran out,
        e.g. while the machine slept), each with who has it: they are theirs now and are not
        renewed. The app calls it on a timer so that a task on screen stays the annotator's
        however long they pause. Opens its own connection (any thread; no proposer is used)."""
        if self.settings.overlap or not held:
            return {}
        with self._store() as store:
            return self._renew(store, held)

    def _renew(self, store: Store, held: Collection[TaskKey]) -> dict[TaskKey, str]:
        if self.settings.overlap or not held:
            return {}
        now = self.clock()
        return store.renew_held(
            self.annotator, held, now=now, expires=now + self.settings.lease_seconds
        )

    # The rest run in the caller's thread, on the caller's store.

    def taken_over(self, store: Store, key: TaskKey, proposal_ids: Sequence[int]) -> str | None:
        """Another annotator who has the task now (a live lease, or an answer to one of these
        proposals' question), or None; always None with `overlap`. Call it in the write
        transaction that stores the answer."""
        if self.settings.overlap:
            return None
        return store.taken_by_other(key[0], key[1], proposal_ids, self.annotator, self.clock())

    def release(self, store: Store, key: TaskKey) -> None:
        if not self.settings.overlap:
            store.release_lease(key[0], key[1], self.annotator)

    def tasks_for(self, store: Store, keys: Sequence[TaskKey]) -> list[Task]:
        """The tasks of these keys as they stand now (their open questions), for the caller's
        thread: an undo of a stored answer shows its question again."""
        return self._tasks_of(store, keys)

    def relet(self, store: Store, key: TaskKey) -> None:
        """Lease a task again (an undo brought it back after its lease was released), unless
        another annotator holds it now."""
        if not self.settings.overlap:
            now = self.clock()
            store.lease(key[0], key[1], self.annotator, now + self.settings.lease_seconds, now=now)
