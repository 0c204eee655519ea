"""The SQL behind the annotation queue: claiming tasks with leases, coverage, pass progress.

A task is one text and one label: all of the text's unanswered proposals for the label, asked
together. Claiming walks an index in the order the queue wants (by id, or by informativeness
for scored sources) and leases what it takes inside one BEGIN IMMEDIATE transaction, so two
processes can never claim the same task. The all-labels pass claims text first instead
(`claim_texts`): whole texts in id order, every open label of a text together.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from nerloop.core.records import Proposal, Source
from nerloop.core.store.annotations import proposal_from_row
from nerloop.core.store.base import dumps
from nerloop.core.store.leases import GOLD_SET, UPSERT_LEASE, LeasesMixin

__all__ = ["GOLD_SET", "Claim", "Cursor", "QueueMixin", "TextClaim"]

# Sources whose proposals are asked in informativeness order (score nearest 0.5 first); the
# expression must match the proposals_informative index (migration 0002) exactly.
INFORMATIVE_KEY = "abs(p.score - 0.5)"
INFORMATIVE_SOURCES: frozenset[str] = frozenset({"model"})

# "This proposal's question has a live answer" (by anyone, or by one annotator with `?`
# appended). The question is the text, label and char span (the task_hash), not the proposal
# row: when the model proposes a span the annotator already answered through the LLM's proposal,
# that earlier answer answers it too. Nothing new is written (no copied answer rows that an undo
# of the original would leave behind); the queue does not ask it, the pass counts it as answered,
# and training reads the span once, from the answer that exists. Undoing the earlier answer
# reopens both proposals. The task_hash covers the text (its input hash), label and span. The
# join order is pinned (task_hash index, then answers_proposal): left to itself SQLite may walk
# all of an annotator's answers for every candidate proposal.
_ANSWERED = (
    "EXISTS (SELECT 1 FROM proposals s INDEXED BY proposals_task_source"
    " CROSS JOIN answers a ON a.proposal_id = s.id"
    " WHERE s.task_hash = p.task_hash AND a.answer != 'undo'"
    " AND NOT EXISTS (SELECT 1 FROM answers u WHERE u.undoes = a.id){mine})"
)


def answered_sql(per_annotator: bool) -> str:
    """The "already answered" condition on proposal `p` (one `?` for the annotator if asked)."""
    return _ANSWERED.format(mine=" AND a.annotator = ?" if per_annotator else "")


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a walk over one (label, source) index stopped: the sort key and the proposal id."""

    key: float | None
    id: int


def claim_query(
    label: str,
    source: str,
    annotator: str,
    now: float,
    overlap: bool,
    cursor: Cursor | None,
    batch: int,
) -> tuple[str, list[Any]]:
    """The next `batch` open proposals of (label, source) after `cursor`, in queue order."""
    informative = source in INFORMATIVE_SOURCES
    key_sql = INFORMATIVE_KEY if informative else "NULL"
    order = f"{INFORMATIVE_KEY}, p.id" if informative else "p.id"
    sql = (
        f"SELECT p.id, p.text_id, {key_sql} AS k FROM proposals p "
        "JOIN texts t ON t.id = p.text_id "
        "WHERE p.label = ? AND p.source = ? AND t.split = 'pool' "
    )
    open_sql, open_params = _unanswered_unleased(annotator, now, overlap)
    sql += open_sql
    params: list[Any] = [label, source, *open_params]
    if cursor is not None:
        if informative and cursor.key is not None:
            # `key >= ?` alone is what SQLite seeks the index to; the rest filters the ties.
            sql += f"AND {INFORMATIVE_KEY} >= ? AND ({INFORMATIVE_KEY} > ? OR p.id > ?) "
            params += [cursor.key, cursor.key, cursor.id]
        elif informative:
            sql += f"AND ({INFORMATIVE_KEY} IS NOT NULL OR p.id > ?) "
            params.append(cursor.id)
        else:
            sql += "AND p.id > ? "
            params.append(cursor.id)
    return sql + f"ORDER BY {order} LIMIT {int(batch)}", params


def _open_task_filter(
    labels: Sequence[str], annotator: str, now: float, overlap: bool
) -> tuple[str, list[Any]]:
    """WHERE terms (after the text_id ones) for an open proposal of a pass label on a pool
    text, not leased to another annotator (unless overlap)."""
    marks = ", ".join("?" * len(labels))
    open_sql, open_params = _unanswered_unleased(annotator, now, overlap)
    return f"AND p.label IN ({marks}) AND t.split = 'pool' " + open_sql, [*labels, *open_params]


def _unanswered_unleased(annotator: str, now: float, overlap: bool) -> tuple[str, list[Any]]:
    """WHERE terms for proposal `p`: its question has no live answer (by `annotator` with
    overlap) and, without overlap, no other annotator holds a live lease on its task."""
    sql = f"AND NOT {answered_sql(overlap)} "
    if overlap:
        return sql, [annotator]
    sql += (
        "AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.text_id = p.text_id"
        " AND l.label = p.label AND l.annotator != ? AND l.expires > ?) "
    )
    return sql, [annotator, now]


def text_walk_query(
    labels: Sequence[str],
    annotator: str,
    now: float,
    overlap: bool,
    after: int,
    below: int | None,
) -> tuple[str, list[Any]]:
    """Text ids (repeated per open proposal) after `after` with an open task, in id order.
    INDEXED BY and CROSS JOIN pin the (text_id, label) index as the outer loop: SQLite could
    otherwise walk texts_split, or the per-label index, and sort millions of rows."""
    sql = (
        "SELECT p.text_id FROM proposals p INDEXED BY proposals_text_label "
        "CROSS JOIN texts t ON t.id = p.text_id WHERE p.text_id > ? "
    )
    params: list[Any] = [after]
    if below is not None:
        sql += "AND p.text_id < ? "
        params.append(below)
    more, more_params = _open_task_filter(labels, annotator, now, overlap)
    return sql + more + "ORDER BY p.text_id", params + more_params


def text_labels_query(
    labels: Sequence[str], annotator: str, now: float, overlap: bool, text_id: int
) -> tuple[str, list[Any]]:
    """The pass labels with an open task on one text."""
    more, more_params = _open_task_filter(labels, annotator, now, overlap)
    sql = (
        "SELECT DISTINCT p.label FROM proposals p JOIN texts t ON t.id = p.text_id "
        "WHERE p.text_id = ? " + more
    )
    return sql, [text_id, *more_params]


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


class QueueMixin(LeasesMixin):
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
        # A span marked by hand and then undone is a question nobody asks: it leaves the total
        # (the few human proposals of the label, by index), unless answered as `answered` below
        # counts it.
        total -= int(
            self.scalar(
                "SELECT count(*) FROM proposals p WHERE p.label = ? AND p.source = 'human' "
                f"AND NOT {answered_sql(per_annotator=False)}",
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
