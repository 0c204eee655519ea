"""The SQL behind the annotation queue: claiming tasks with leases, coverage, pass progress.

A task is one text and one label: all of the text's unanswered proposals for the label, asked
together. Claiming walks an index in the order the queue wants (by id, or by informativeness
for scored sources) and leases what it takes inside one BEGIN IMMEDIATE transaction, so two
processes can never claim the same task. The all-labels pass claims text first instead
(`claim_texts`): whole texts in id order, every open label of a text together.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from nerloop.core.records import NewProposal, Proposal, Source, Split, input_hash
from nerloop.core.store.annotations import INSERT_PROPOSAL, proposal_from_row, proposal_row
from nerloop.core.store.base import StoreBase, dumps
from nerloop.core.store.queue_sql import (
    UPSERT_LEASE,
    Cursor,
    answered_sql,
    claim_query,
    text_labels_query,
    text_walk_query,
)

__all__ = ["Claim", "Cursor", "QueueMixin", "TextClaim"]


GOLD_SET = "the gold set"
"""Who "holds" a task whose text moved to the gold set (see `_other_holder`)."""


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of one claim: the text ids leased, and where each source's walk stopped."""

    text_ids: list[int]
    cursors: dict[str, Cursor | None]
    exhausted: bool
    """True when every source's walk reached the end of its index."""


@dataclass(frozen=True, slots=True)
class TextClaim:
    """The outcome of one text-first claim: the tasks leased, in the order to ask them."""

    tasks: list[tuple[int, str]]
    cursor: int
    """The last text id walked: the next claim resumes after it."""
    exhausted: bool
    """True when the walk reached the end (or `below`) with fewer than `n` tasks."""


class QueueMixin(StoreBase):
    # -- claiming ------------------------------------------------------------------------------

    def claim_tasks(
        self,
        label: str,
        annotator: str,
        *,
        sources: Sequence[Source],
        n: int,
        now: float,
        lease_seconds: float,
        overlap: bool = False,
        cursors: dict[str, Cursor | None] | None = None,
        exclude: Iterable[int] = (),
    ) -> Claim:
        """Lease up to `n` tasks (text ids) of `label` for `annotator`.

        Sources are walked in the given priority order; within a source by id, or by
        informativeness for scored sources. A task is skipped when the text is in the gold
        split, when all its proposals have a live answer (by anyone; by this annotator with
        `overlap`), or when another annotator holds a live lease on it (ignored with `overlap`).
        `cursors` resumes each walk where the previous claim stopped; `exclude` names texts the
        caller already holds.
        """
        cursors = dict(cursors or {})
        taken: list[int] = []
        seen = set(exclude)
        exhausted = True
        with self.write():
            for source in sources:
                if len(taken) >= n:
                    exhausted = False
                    break
                cursor, done = self._walk(
                    label, source, annotator, n, now, overlap, cursors.get(source), seen, taken
                )
                cursors[source] = cursor
                exhausted = exhausted and done
            if not overlap:
                self.db.conn.executemany(
                    UPSERT_LEASE,
                    [(t, label, annotator, now + lease_seconds) for t in taken],
                )
        return Claim(taken, cursors, exhausted and len(taken) < n)

    def _walk(
        self,
        label: str,
        source: str,
        annotator: str,
        limit: int,
        now: float,
        overlap: bool,
        cursor: Cursor | None,
        seen: set[int],
        taken: list[int],
    ) -> tuple[Cursor | None, bool]:
        """Walk one (label, source) index from `cursor`, appending new text ids to `taken` until
        it holds `limit`; returns where the walk stopped and whether it reached the end."""
        batch = max(4 * (limit - len(taken)), 32)
        while True:
            sql, params = claim_query(label, source, annotator, now, overlap, cursor, batch)
            rows = self.db.conn.execute(sql, params).fetchall()
            for pid, text_id, key in rows:
                cursor = Cursor(key, pid)
                if text_id in seen:
                    continue
                seen.add(text_id)
                taken.append(text_id)
                if len(taken) >= limit:
                    return cursor, False
            if len(rows) < batch:
                return cursor, True

    def claim_plan(
        self, label: str, source: str, *, overlap: bool = False, cursor: Cursor | None = None
    ) -> str:
        """SQLite's plan for one claim query (tests and the benchmark check it uses an index)."""
        sql, params = claim_query(label, source, "x", 0.0, overlap, cursor, 32)
        rows = self.db.conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
        return "\n".join(str(r[3]) for r in rows)

    def claim_texts(
        self,
        labels: Sequence[str],
        annotator: str,
        *,
        n: int,
        now: float,
        lease_seconds: float,
        overlap: bool = False,
        after: int = 0,
        below: int | None = None,
        exclude: Iterable[tuple[int, str]] = (),
    ) -> TextClaim:
        """Lease open tasks text first: whole texts in id order after text `after` (and before
        `below`), each text's open labels together in the order of `labels`, until at least
        `n` tasks are taken (a text is never split between two claims).

        The all-labels pass asks this way so that texts get reviewed for every label one after
        another (what the "complete" training policy needs), instead of label by label over the
        whole pool. A task is skipped as in `claim_tasks` (gold text, answered, leased by another
        annotator unless `overlap`, or in `exclude`).
        """
        labels = list(labels)
        rank = {label: i for i, label in enumerate(labels)}
        held = set(exclude)
        taken: list[tuple[int, str]] = []
        cursor = after
        batch = max(4 * n, 32)
        exhausted = False
        with self.write():
            while len(taken) < n:
                sql, params = text_walk_query(labels, annotator, now, overlap, cursor, below)
                rows = self.db.conn.execute(sql + f" LIMIT {int(batch)}", params).fetchall()
                for (text_id,) in rows:
                    if text_id <= cursor:  # another open proposal of a text already taken
                        continue
                    cursor = int(text_id)
                    sql, params = text_labels_query(labels, annotator, now, overlap, cursor)
                    open_labels = {str(r[0]) for r in self.db.conn.execute(sql, params)}
                    for label in sorted(open_labels, key=rank.__getitem__):
                        if (cursor, label) not in held:
                            taken.append((cursor, label))
                    if len(taken) >= n:
                        break
                if len(rows) < batch and len(taken) < n:
                    exhausted = True
                    break
            if not overlap:
                self.db.conn.executemany(
                    UPSERT_LEASE,
                    [(t, label, annotator, now + lease_seconds) for t, label in taken],
                )
        return TextClaim(taken, cursor, exhausted)

    def claim_texts_plan(
        self, labels: Sequence[str], *, overlap: bool = False, after: int = 0, below: int = 10
    ) -> str:
        """SQLite's plan for the text-first walk (tests check it seeks an index)."""
        sql, params = text_walk_query(list(labels), "x", 0.0, overlap, after, below)
        rows = self.db.conn.execute("EXPLAIN QUERY PLAN " + sql + " LIMIT 32", params).fetchall()
        return "\n".join(str(r[3]) for r in rows)

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

    # -- one task's questions ------------------------------------------------------------------

    def open_proposals(
        self, text_id: int, label: str, annotator: str | None = None
    ) -> list[Proposal]:
        """The proposals of one task that have no live answer (by `annotator`, if given).
        Never a human one: a span an annotator marked and then took back (undo) is withdrawn,
        not a question to ask."""
        params: list[Any] = [text_id, label]
        if annotator is not None:
            params.append(annotator)
        rows = self.query(
            "SELECT p.* FROM proposals p WHERE p.text_id = ? AND p.label = ? "
            "AND p.source != 'human' "
            f'AND NOT {answered_sql(annotator is not None)} ORDER BY p.start, p."end", p.id',
            params,
        )
        return [proposal_from_row(r) for r in rows]

    # -- proposer coverage ---------------------------------------------------------------------

    def uncovered_texts(
        self, label: str, source: Source, *, after_id: int, n: int, skip: Collection[int] = ()
    ) -> list[int]:
        """Pool texts after `after_id` that `source` has not yet been run over for `label`,
        leaving out the texts in `skip`."""
        sql = (
            "SELECT t.id FROM texts t WHERE t.split = 'pool' AND t.id > ? AND NOT EXISTS ("
            "SELECT 1 FROM proposer_coverage c WHERE c.label = ? AND c.source = ?"
            " AND c.text_id = t.id)"
        )
        params: list[Any] = [after_id, label, source]
        if skip:
            # One parameter however many: a long session may skip more than SQLite's limit.
            sql += " AND t.id NOT IN (SELECT value FROM json_each(?))"
            params.append(dumps(sorted(skip)))
        rows = self.db.conn.execute(sql + " ORDER BY t.id LIMIT ?", [*params, n]).fetchall()
        return [int(r[0]) for r in rows]

    def last_answered_text(self) -> int:
        """The highest text id with an answer (0 without answers): how far review has got."""
        return int(
            self.scalar(
                "SELECT coalesce(max(p.text_id), 0) FROM answers a "
                "CROSS JOIN proposals p ON p.id = a.proposal_id"
            )
        )

    def last_text_id(self) -> int:
        """The highest text id (0 without texts): nothing lies beyond it to cover."""
        return int(self.scalar("SELECT coalesce(max(id), 0) FROM texts"))

    def mark_covered(self, label: str, source: Source, text_ids: Iterable[int]) -> None:
        with self.write():
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO proposer_coverage (label, source, text_id) VALUES (?, ?, ?)",
                [(label, source, t) for t in text_ids],
            )

    def clear_coverage(self, label: str, source: Source) -> None:
        """Forget which texts `source` covered for `label` (its rules changed: run them again)."""
        with self.write():
            self.db.conn.execute(
                "DELETE FROM proposer_coverage WHERE label = ? AND source = ?", (label, source)
            )

    def count_covered(self, label: str, source: Source) -> int:
        return int(
            self.scalar(
                "SELECT count(*) FROM proposer_coverage WHERE label = ? AND source = ?",
                [label, source],
            )
        )

    # -- progress ------------------------------------------------------------------------------

    def pass_progress(self, label: str, annotator: str | None = None) -> tuple[int, int]:
        """(answered, total) proposals of `label` on pool texts; answered by anyone, or by
        `annotator` when given (overlap projects count each annotator's own answers)."""
        total = int(self.scalar("SELECT count(*) FROM proposals WHERE label = ?", [label]))
        # Gold texts are few: subtract their proposals rather than join 2M rows to texts.
        total -= int(
            self.scalar(
                # CROSS JOIN fixes the loop order: the few gold texts outside, never a walk
                # over every proposal of the label.
                "SELECT count(*) FROM texts t CROSS JOIN proposals p ON p.text_id = t.id "
                "WHERE t.split = 'gold' AND p.label = ?",
                [label],
            )
        )
        params: list[Any] = [label]
        mine = ""
        if annotator is not None:
            mine = " AND a.annotator = ?"
            params.append(annotator)
        answered = int(
            self.scalar(
                # Answers outside (far fewer than proposals), for the same reason. A proposal
                # counts as answered when its question (task_hash) has a live answer through
                # any source's proposal, as in the claim (see _ANSWERED).
                "SELECT count(DISTINCT q.id) FROM answers a "
                "CROSS JOIN proposals p ON p.id = a.proposal_id "
                "CROSS JOIN texts t ON t.id = p.text_id "
                "CROSS JOIN proposals q ON q.task_hash = p.task_hash "
                "WHERE p.label = ? AND t.split = 'pool' AND a.answer != 'undo' "
                f"AND NOT EXISTS (SELECT 1 FROM answers u WHERE u.undoes = a.id){mine}",
                params,
            )
        )
        return answered, total

    # -- gold work list ------------------------------------------------------------------------

    def gold_done(self, *, limit: int = 10_000) -> list[int]:
        """Gold texts somebody has marked done, in id order (to reopen and correct)."""
        rows = self.db.conn.execute(
            "SELECT t.id FROM texts t WHERE t.split = 'gold' AND EXISTS (SELECT 1 FROM gold g"
            " WHERE g.text_id = t.id AND g.done) ORDER BY t.id LIMIT ?",
            (limit,),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def gold_todo(self, *, limit: int = 10_000) -> list[int]:
        """Gold texts nobody has marked done yet, in id order."""
        rows = self.db.conn.execute(
            "SELECT t.id FROM texts t WHERE t.split = 'gold' AND NOT EXISTS (SELECT 1 FROM gold g"
            " WHERE g.text_id = t.id AND g.done) ORDER BY t.id LIMIT ?",
            (limit,),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def pool_text_without_answers(self, after_id: int = 0, *, now: float = 0.0) -> int | None:
        """A pool text after `after_id` that nobody has answered anything on, and that nobody
        holds a lease on at `now` (it may be on an annotator's screen): a fresh candidate for
        the gold set (texts already answered would leak into training and evaluation)."""
        row = self.db.conn.execute(
            "SELECT t.id FROM texts t WHERE t.split = 'pool' AND t.id > ? AND NOT EXISTS ("
            "SELECT 1 FROM proposals p JOIN answers a ON a.proposal_id = p.id"
            " WHERE p.text_id = t.id) AND NOT EXISTS (SELECT 1 FROM leases l"
            " WHERE l.text_id = t.id AND l.expires > ?) ORDER BY t.id LIMIT 1",
            (after_id, now),
        ).fetchone()
        return None if row is None else int(row[0])

    # -- bulk loading (benchmarks, large imports) ------------------------------------------------

    @contextmanager
    def _big_cache(self, mib: int = 512) -> Iterator[None]:
        # Millions of inserts into indexes keyed by hashes touch pages all over the file; with
        # SQLite's default 2 MB page cache each insert rereads pages from disk.
        conn = self.db.conn
        before = conn.execute("PRAGMA cache_size").fetchone()[0]
        conn.execute(f"PRAGMA cache_size = {-mib * 1024}")
        try:
            yield
        finally:
            conn.execute(f"PRAGMA cache_size = {int(before)}")

    def bulk_add_texts(self, texts: Iterable[str], *, split: Split = "pool") -> int:
        """Insert many texts in one transaction (duplicates skipped); returns how many were new."""
        with self._big_cache(), self.write():
            before = self.db.conn.total_changes
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO texts (input_hash, text, meta, split) VALUES (?, ?, ?, ?)",
                ((input_hash(t), t, dumps({}), split) for t in texts),
            )
            return self.db.conn.total_changes - before

    def bulk_add_proposals(self, proposals: Iterable[tuple[NewProposal, int]]) -> int:
        """Insert many proposals, each given with its text's input_hash, in one transaction."""
        with self._big_cache(), self.write():
            before = self.db.conn.total_changes
            self.db.conn.executemany(INSERT_PROPOSAL, (proposal_row(p, h) for p, h in proposals))
            return self.db.conn.total_changes - before
