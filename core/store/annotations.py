"""Proposals, the append-only answers log and its counters, and leases on tasks (the reads
that whole features are made from are in answered.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from nerloop.core.records import (
    Answer,
    AnswerKind,
    NewProposal,
    Proposal,
    Source,
    Span,
    task_hash,
)
from nerloop.core.store.base import StoreBase

# The answers that count: not an undo row, and not taken back by one.
LIVE_ANSWERS = (
    "SELECT a.* FROM answers a WHERE a.answer != 'undo' "
    "AND NOT EXISTS (SELECT 1 FROM answers u WHERE u.undoes = a.id)"
)


INSERT_PROPOSAL = (
    'INSERT OR IGNORE INTO proposals (text_id, label, start, "end", token_start, token_end,'
    " source, source_detail, score, context, task_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def proposal_row(p: NewProposal, text_hash: int) -> tuple[Any, ...]:
    """The parameters of INSERT_PROPOSAL for `p` on a text whose input_hash is `text_hash`."""
    return (
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
        task_hash(text_hash, p.label, p.start, p.end),
    )


# Every field of a Proposal is a column of the proposals table, under the same name.
_PROPOSAL_COLUMNS = tuple(f.name for f in dataclasses.fields(Proposal))


def proposal_from_row(row: dict[str, Any]) -> Proposal:
    return Proposal(**{name: row[name] for name in _PROPOSAL_COLUMNS})


def _answer_row(row: dict[str, Any]) -> Answer:
    span = None
    if row["start"] is not None:
        span = Span(
            row["start"], row["end"], row.get("label") or "", row["token_start"], row["token_end"]
        )
    return Answer(
        id=row["id"],
        proposal_id=row["proposal_id"],
        annotator=row["annotator"],
        answer=row["answer"],
        span=span,
        created=row["created"],
    )


class AnnotationsMixin(StoreBase):
    # -- proposals -----------------------------------------------------------------------------

    def add_proposals(self, proposals: Iterable[NewProposal]) -> list[int]:
        """Store proposals in one transaction; a proposal already stored (same text, label, span
        and source) is not stored again. Returns the ids, new or existing, in input order."""
        ids: list[int] = []
        with self.write():
            conn = self.db.conn
            for p in proposals:
                h = self.scalar("SELECT input_hash FROM texts WHERE id = ?", [p.text_id])
                if h is None:
                    raise KeyError(f"no text with id {p.text_id}")
                row = proposal_row(p, int(h))
                conn.execute(INSERT_PROPOSAL, row)
                th = row[-1]
                ids.append(
                    int(
                        self.scalar(
                            "SELECT id FROM proposals WHERE task_hash = ? AND source = ?",
                            [th, p.source],
                        )
                    )
                )
        return ids

    def get_proposal(self, proposal_id: int) -> Proposal:
        rows = self.query("SELECT * FROM proposals WHERE id = ?", [proposal_id])
        if not rows:
            raise KeyError(f"no proposal with id {proposal_id}")
        return proposal_from_row(rows[0])

    def proposals_for(
        self, text_id: int, label: str | None = None, source: Source | None = None
    ) -> list[Proposal]:
        sql = "SELECT * FROM proposals WHERE text_id = ?"
        params: list[Any] = [text_id]
        if label is not None:
            sql += " AND label = ?"
            params.append(label)
        if source is not None:
            sql += " AND source = ?"
            params.append(source)
        return [proposal_from_row(r) for r in self.query(sql + " ORDER BY start, id", params)]

    def has_proposals(self, text_id: int, label: str, source: Source) -> bool:
        """Whether `source` proposed anything of `label` on the text."""
        return self.has_rows("proposals", text_id=text_id, label=label, source=source)

    def count_proposals(self, label: str | None = None) -> int:
        """Proposals stored, of one label or (None) of all, answered or not."""
        return self.count_rows("proposals", label=label)

    # -- answers -------------------------------------------------------------------------------

    def add_answer(
        self,
        proposal_id: int,
        answer: AnswerKind,
        annotator: str,
        *,
        span: Span | None = None,
        session: str = "",
    ) -> int:
        """Append one answer and commit it before returning: a key press is never lost.

        `span` is the edited span when the annotator moved a boundary before accepting.
        """
        if answer not in ("accept", "reject", "ignore"):
            raise ValueError(f"answer must be accept, reject or ignore, not {answer!r}")
        edited = {"start": None, "end": None, "token_start": None, "token_end": None}
        if span is not None:
            edited = {key: getattr(span, key) for key in edited}
        # Answering a task releases this annotator's lease on it once all its proposals are
        # answered; the queue checks that itself, so nothing else to do here.
        return self.insert_row(
            "answers",
            {
                "proposal_id": proposal_id,
                "annotator": annotator,
                "answer": answer,
                **edited,
                "session": session,
            },
        )

    def undo_answer(self, answer_id: int, annotator: str, *, session: str = "") -> int:
        """Take an answer back by appending an undo row; nothing is deleted."""
        return self.append_undo("answers", answer_id, annotator, session)

    def last_answer_of(self, annotator: str, session: str | None = None) -> Answer | None:
        """The most recent live answer of an annotator (of one session): what `u` takes back."""
        sql = f"SELECT * FROM ({LIVE_ANSWERS}) WHERE annotator = ?"
        params: list[Any] = [annotator]
        if session is not None:
            sql += " AND session = ?"
            params.append(session)
        rows = self.query(sql + " ORDER BY id DESC LIMIT 1", params)
        return _answer_row(rows[0]) if rows else None

    def last_question_answered(
        self, annotator: str
    ) -> tuple[int, str, list[tuple[int, int]]] | None:
        """(text id, label, [(answer id, proposal id)]) of the question `annotator` answered
        last, on a pool text, still live: its answers on every proposal of that span (one per
        source, given with one key press, in one session). What `u` takes back once a
        restarted app's own history is spent."""
        row = self.db.conn.execute(
            f"SELECT a.id, a.session, p.task_hash, p.text_id, p.label FROM ({LIVE_ANSWERS}) a "
            "JOIN proposals p ON p.id = a.proposal_id JOIN texts t ON t.id = p.text_id "
            "WHERE a.annotator = ? AND t.split = 'pool' ORDER BY a.id DESC LIMIT 1",
            (annotator,),
        ).fetchone()
        if row is None:
            return None
        _, session, task, text_id, label = row
        ids = [
            (int(r[0]), int(r[1]))
            for r in self.db.conn.execute(
                f"SELECT a.id, a.proposal_id FROM ({LIVE_ANSWERS}) a "
                "JOIN proposals p ON p.id = a.proposal_id "
                "WHERE a.annotator = ? AND a.session = ? AND p.task_hash = ? ORDER BY a.id",
                (annotator, session, task),
            )
        ]
        return int(text_id), str(label), ids

    def answer_rows_of_text(self, text_id: int) -> list[dict[str, Any]]:
        """The live answers on one text as core.answer_spans reads them (answer_id, answer,
        label, start, end, token_start, token_end, the edited a_* span, source)."""
        return self.query(
            'SELECT a.id AS answer_id, a.answer, a.start AS a_start, a."end" AS a_end,'
            " a.token_start AS a_token_start, a.token_end AS a_token_end, p.label, p.start,"
            ' p."end", p.token_start, p.token_end, p.source'
            f" FROM ({LIVE_ANSWERS}) a JOIN proposals p ON p.id = a.proposal_id"
            " WHERE p.text_id = ? ORDER BY a.id",
            [text_id],
        )

    def answers_for_proposal(self, proposal_id: int) -> list[Answer]:
        rows = self.query(
            f"SELECT * FROM ({LIVE_ANSWERS}) WHERE proposal_id = ? ORDER BY id", [proposal_id]
        )
        return [_answer_row(r) for r in rows]

    def answer_counts(self) -> dict[str, int]:
        counts = {"accept": 0, "reject": 0, "ignore": 0}
        # Answers on pool texts: a text that moved to the gold set since is evaluation data,
        # and its answers no longer train (core/training/data.py reads the pool).
        for row in self.query(
            f"SELECT a.answer, count(*) AS n FROM ({LIVE_ANSWERS}) a JOIN proposals p ON "
            "p.id = a.proposal_id JOIN texts t ON t.id = p.text_id WHERE t.split = 'pool' "
            "GROUP BY 1"
        ):
            counts[row["answer"]] = row["n"]
        return counts

    def count_accepted(self) -> int:
        return int(self.scalar(f"SELECT count(*) FROM ({LIVE_ANSWERS}) WHERE answer = 'accept'"))

    def last_answer_id(self) -> int:
        """The id of the latest answer row (answers are append-only: it only grows)."""
        return int(self.scalar("SELECT coalesce(max(id), 0) FROM answers"))

    def last_proposal_id(self) -> int:
        """The id of the latest proposal (proposals are never deleted: it only grows)."""
        return int(self.scalar("SELECT coalesce(max(id), 0) FROM proposals"))

    # -- leases --------------------------------------------------------------------------------

    def release_leases(self, annotator: str) -> None:
        self.db.execute("DELETE FROM leases WHERE annotator = ?", [annotator])
