"""The SQL text of the annotation queue's claims, kept apart from the mixin that runs it.

Query builders return (sql, params); core/store/queue.py runs them inside its transactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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

UPSERT_LEASE = (
    "INSERT INTO leases (text_id, label, annotator, expires) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (text_id, label, annotator) DO UPDATE SET expires = excluded.expires"
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
        f"AND NOT {answered_sql(overlap)} "
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


def _open_task_filter(
    labels: Sequence[str], annotator: str, now: float, overlap: bool
) -> tuple[str, list[Any]]:
    """WHERE terms (after the text_id ones) for an open proposal of a pass label on a pool
    text, not leased to another annotator (unless overlap)."""
    marks = ", ".join("?" * len(labels))
    sql = f"AND p.label IN ({marks}) AND t.split = 'pool' AND NOT {answered_sql(overlap)} "
    params: list[Any] = list(labels)
    if overlap:
        params.append(annotator)
    else:
        sql += (
            "AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.text_id = p.text_id"
            " AND l.label = p.label AND l.annotator != ? AND l.expires > ?) "
        )
        params += [annotator, now]
    return sql, params


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
