"""Leases: a claimed task (text, label) is one annotator's until its lease expires.

The queue's claims (core/store/queue.py) write leases in their transactions; these methods
take, renew, release and check them one task at a time (core/annotate/leases.py decides when).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from nerloop.core.store.base import StoreBase

GOLD_SET = "the gold set"
"""Who "holds" a task whose text moved to the gold set (see `_other_holder`)."""

UPSERT_LEASE = (
    "INSERT INTO leases (text_id, label, annotator, expires) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (text_id, label, annotator) DO UPDATE SET expires = excluded.expires"
)


class LeasesMixin(StoreBase):
    def release_lease(self, text_id: int, label: str, annotator: str) -> None:
        with self.write():
            self.db.conn.execute(
                "DELETE FROM leases WHERE text_id = ? AND label = ? AND annotator = ?",
                (text_id, label, annotator),
            )

    def lease(
        self, text_id: int, label: str, annotator: str, expires: float, *, now: float
    ) -> bool:
        """Take (or extend) a lease on one task, e.g. when an undo brings it back; not when
        another annotator holds a live lease on it (False then): two live leases on one task
        would make each annotator's renewal see the task as lost to the other."""
        with self.write():
            if self._other_holder(text_id, label, annotator, now) is not None:
                return False
            self.db.conn.execute(UPSERT_LEASE, (text_id, label, annotator, expires))
            return True

    def renew_held(
        self, annotator: str, keys: Collection[tuple[int, str]], *, now: float, expires: float
    ) -> dict[tuple[int, str], str]:
        """Push back to `expires` the leases `annotator` has on these tasks, in one transaction;
        returns the tasks another annotator holds a live lease on now (the lease ran out and
        they were given the task), each with that annotator. Those are not renewed: the task
        is theirs. A task without a lease row of `annotator` (just answered and released) is
        left without one."""
        lost: dict[tuple[int, str], str] = {}
        with self.write():
            for text_id, label in keys:
                holder = self._other_holder(text_id, label, annotator, now)
                if holder is not None:
                    lost[(text_id, label)] = holder
                    continue
                self.db.conn.execute(
                    "UPDATE leases SET expires = ? WHERE text_id = ? AND label = ? "
                    "AND annotator = ?",
                    (expires, text_id, label, annotator),
                )
        return lost

    def taken_by_other(
        self, text_id: int, label: str, proposal_ids: Sequence[int], annotator: str, now: float
    ) -> str | None:
        """Who else has this task: an annotator other than `annotator` with a live lease on it,
        or one who gave a live answer to the question of one of `proposal_ids` (its task_hash,
        as in the claim); None when nobody. Meant for a write transaction about to store
        `annotator`'s answer, so that nobody can take the task in between."""
        holder = self._other_holder(text_id, label, annotator, now)
        if holder is not None or not proposal_ids:
            return holder
        marks = ", ".join("?" * len(proposal_ids))
        row = self.db.conn.execute(
            "SELECT a.annotator FROM proposals p "
            "CROSS JOIN proposals s INDEXED BY proposals_task_source ON s.task_hash = p.task_hash "
            "CROSS JOIN answers a ON a.proposal_id = s.id "
            f"WHERE p.id IN ({marks}) AND a.answer != 'undo' AND a.annotator != ? "
            "AND NOT EXISTS (SELECT 1 FROM answers u WHERE u.undoes = a.id) LIMIT 1",
            [*proposal_ids, annotator],
        ).fetchone()
        return None if row is None else str(row[0])

    def _other_holder(self, text_id: int, label: str, annotator: str, now: float) -> str | None:
        """An annotator other than `annotator` with a live lease on the task, if any; GOLD_SET
        when the text has moved to the gold set since it was handed out (its questions are
        dropped like a lost lease: gold texts are never asked, and never train)."""
        split = self.db.conn.execute("SELECT split FROM texts WHERE id = ?", (text_id,)).fetchone()
        if split is not None and split[0] == "gold":
            return GOLD_SET
        row = self.db.conn.execute(
            "SELECT annotator FROM leases WHERE text_id = ? AND label = ? AND annotator != ? "
            "AND expires > ? LIMIT 1",
            (text_id, label, annotator, now),
        ).fetchone()
        return None if row is None else str(row[0])

    def leases_of(self, annotator: str) -> list[tuple[int, str, float]]:
        rows = self.db.conn.execute(
            "SELECT text_id, label, expires FROM leases WHERE annotator = ? ORDER BY text_id",
            (annotator,),
        ).fetchall()
        return [(int(r[0]), str(r[1]), float(r[2])) for r in rows]

    def leased_by_others(self, label: str, annotator: str, now: float) -> int:
        """How many tasks of `label` other annotators hold live leases on."""
        return int(
            self.scalar(
                "SELECT count(*) FROM leases WHERE label = ? AND annotator != ? AND expires > ?",
                [label, annotator, now],
            )
        )
