"""The SQL behind the annotation queue: claiming tasks with leases, coverage, pass progress.

A task is one text and one label: all of the text's unanswered proposals for the label, asked
together. Claiming walks an index in the order the queue wants (by id, or by informativeness
for scored sources) and leases what it takes inside one BEGIN IMMEDIATE transaction, so two
processes can never claim the same task.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from nerloop.core.records import NewProposal, Proposal, Source, Split, input_hash, task_hash
from nerloop.core.store.annotations import proposal_from_row
from nerloop.core.store.base import StoreBase, dumps

# Sources whose proposals are asked in informativeness order (score nearest 0.5 first); the
# expression must match the proposals_informative index (migration 0002) exactly.
INFORMATIVE_KEY = "abs(p.score - 0.5)"
INFORMATIVE_SOURCES: frozenset[str] = frozenset({"model"})

# "This proposal has a live answer" (by anyone, or by one annotator with `?` appended).
_ANSWERED = (
    "EXISTS (SELECT 1 FROM answers a WHERE a.proposal_id = p.id AND a.answer != 'undo'"
    " AND NOT EXISTS (SELECT 1 FROM answers u WHERE u.undoes = a.id){mine})"
)

_UPSERT_LEASE = (
    "INSERT INTO leases (text_id, label, annotator, expires) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (text_id, label, annotator) DO UPDATE SET expires = excluded.expires"
)


def _answered(per_annotator: bool) -> str:
    return _ANSWERED.format(mine=" AND a.annotator = ?" if per_annotator else "")


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a walk over one (label, source) index stopped: the sort key and the proposal id."""

    key: float | None
    id: int


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of one claim: the text ids leased, and where each source's walk stopped."""

    text_ids: list[int]
    cursors: dict[str, Cursor | None]
    exhausted: bool
    """True when every source's walk reached the end of its index."""


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
                    _UPSERT_LEASE,
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
            sql, params = _claim_query(label, source, annotator, now, overlap, cursor, batch)
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
        sql, params = _claim_query(label, source, "x", 0.0, overlap, cursor, 32)
        rows = self.db.conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
        return "\n".join(str(r[3]) for r in rows)

    def release_lease(self, text_id: int, label: str, annotator: str) -> None:
        with self.write():
            self.db.conn.execute(
                "DELETE FROM leases WHERE text_id = ? AND label = ? AND annotator = ?",
                (text_id, label, annotator),
            )

    def lease(self, text_id: int, label: str, annotator: str, expires: float) -> None:
        """Take (or extend) a lease on one task, e.g. when an undo brings it back."""
        with self.write():
            self.db.conn.execute(
                _UPSERT_LEASE,
                (text_id, label, annotator, expires),
            )

    def renew_leases(self, annotator: str, expires: float) -> int:
        """Push back the expiry of every lease `annotator` holds; returns how many."""
        with self.write():
            cur = self.db.conn.execute(
                "UPDATE leases SET expires = ? WHERE annotator = ?", (expires, annotator)
            )
            return cur.rowcount

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
        """The proposals of one task that have no live answer (by `annotator`, if given)."""
        params: list[Any] = [text_id, label]
        if annotator is not None:
            params.append(annotator)
        rows = self.query(
            "SELECT p.* FROM proposals p WHERE p.text_id = ? AND p.label = ? "
            f'AND NOT {_answered(annotator is not None)} ORDER BY p.start, p."end", p.id',
            params,
        )
        return [proposal_from_row(r) for r in rows]

    # -- proposer coverage ---------------------------------------------------------------------

    def uncovered_texts(self, label: str, source: Source, *, after_id: int, n: int) -> list[int]:
        """Pool texts after `after_id` that `source` has not yet been run over for `label`."""
        rows = self.db.conn.execute(
            "SELECT t.id FROM texts t WHERE t.split = 'pool' AND t.id > ? AND NOT EXISTS ("
            "SELECT 1 FROM proposer_coverage c WHERE c.label = ? AND c.source = ?"
            " AND c.text_id = t.id) ORDER BY t.id LIMIT ?",
            (after_id, label, source, n),
        ).fetchall()
        return [int(r[0]) for r in rows]

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
                # Answers outside (far fewer than proposals), for the same reason.
                "SELECT count(DISTINCT a.proposal_id) FROM answers a "
                "CROSS JOIN proposals p ON p.id = a.proposal_id "
                "CROSS JOIN texts t ON t.id = p.text_id "
                "WHERE p.label = ? AND t.split = 'pool' AND a.answer != 'undo' "
                f"AND NOT EXISTS (SELECT 1 FROM answers u WHERE u.undoes = a.id){mine}",
                params,
            )
        )
        return answered, total

    # -- gold work list ------------------------------------------------------------------------

    def gold_todo(self, *, limit: int = 10_000) -> list[int]:
        """Gold texts nobody has marked done yet, in id order."""
        rows = self.db.conn.execute(
            "SELECT t.id FROM texts t WHERE t.split = 'gold' AND NOT EXISTS (SELECT 1 FROM gold g"
            " WHERE g.text_id = t.id AND g.done) ORDER BY t.id LIMIT ?",
            (limit,),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def pool_text_without_answers(self, after_id: int = 0) -> int | None:
        """A pool text after `after_id` that nobody has answered anything on: a fresh candidate
        for the gold set (texts already answered would leak into training and evaluation)."""
        row = self.db.conn.execute(
            "SELECT t.id FROM texts t WHERE t.split = 'pool' AND t.id > ? AND NOT EXISTS ("
            "SELECT 1 FROM proposals p JOIN answers a ON a.proposal_id = p.id"
            " WHERE p.text_id = t.id) ORDER BY t.id LIMIT 1",
            (after_id,),
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
            self.db.conn.executemany(
                'INSERT OR IGNORE INTO proposals (text_id, label, start, "end", token_start,'
                " token_end, source, source_detail, score, context, task_hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    (
                        p.text_id,
                        p.label,
                        p.start,
                        p.end,
                        p.token_start,
                        p.token_end,
                        p.source,
                        p.source_detail,
                        p.score,
                        p.context,
                        task_hash(h, p.label, p.start, p.end),
                    )
                    for p, h in proposals
                ),
            )
            return self.db.conn.total_changes - before


def _claim_query(
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
        f"AND NOT {_answered(overlap)} "
    )
    params: list[Any] = [label, source]
    if overlap:
        params.append(annotator)
    else:
        sql += (
            "AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.text_id = p.text_id"
            " AND l.label = p.label AND l.annotator != ? AND l.expires > ?) "
        )
        params += [annotator, now]
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
