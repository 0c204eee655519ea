"""Reads over the live answers that whole features are made from: the exports, the training
data (and the silver data beside it), and the accepted examples few-shot retrieval searches.

Each is one query over answers, proposals and texts (and the proposer coverage and text marks
where they decide), so a feature gets its rows without knowing the tables."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from nerloop.core.records import Span, Split
from nerloop.core.store.annotations import LIVE_ANSWERS
from nerloop.core.store.base import StoreBase
from nerloop.core.store.marks import LIVE_MARKS


class AnsweredMixin(StoreBase):
    # -- for export ----------------------------------------------------------------------------

    def iter_answered(self, split: Split | None = "pool") -> Iterator[dict[str, Any]]:
        """Every live answer joined with its proposal and text, in answer order.

        Each row: answer_id, answer, annotator, session, created, edited start/end/token span
        (`a_start`... or None), the proposal's fields and text_id, text, input_hash, meta (JSON),
        split.
        """
        return self._live_answer_rows(split, "a.id")

    def iter_answers_by_text(self, split: Split | None = "pool") -> Iterator[dict[str, Any]]:
        """Every live answer with its proposal and text, ordered by text, then answer.

        Rows as `iter_answered`, grouped so that a text's answers are adjacent and can be
        folded without holding the others.
        """
        return self._live_answer_rows(split, "t.id, a.id")

    def _live_answer_rows(self, split: Split | None, order: str) -> Iterator[dict[str, Any]]:
        sql = (
            "SELECT a.id AS answer_id, a.answer, a.annotator, a.session, a.created,"
            ' a.start AS a_start, a."end" AS a_end, a.token_start AS a_token_start,'
            ' a.token_end AS a_token_end, p.id AS proposal_id, p.label, p.start, p."end",'
            " p.token_start, p.token_end, p.source, p.source_detail, p.score, p.task_hash,"
            " t.id AS text_id, t.text, t.input_hash, t.meta, t.split"
            f" FROM ({LIVE_ANSWERS}) a JOIN proposals p ON p.id = a.proposal_id"
            " JOIN texts t ON t.id = p.text_id"
        )
        params: list[Any] = []
        if split is not None:
            sql += " WHERE t.split = ?"
            params.append(split)
        # `order` is one of the two constants above, never input.
        return self.db.query(f"{sql} ORDER BY {order}", params)

    # -- training data -------------------------------------------------------------------------

    def training_rows(self) -> list[dict[str, Any]]:
        """Every proposal on every pool text that has at least one live answer: a row for each
        of its live answers (answer, answer_id and the edited span a_start/a_end/a_token_start/
        a_token_end), or one row with all of those None when it is unanswered; in text, then
        proposal, then answer order. Each row also carries the text (text_id, text,
        input_hash). Every live answer, not only a proposal's latest: core.answer_spans weighs
        them, as it does for the exports."""
        return self.query(
            f"WITH live AS ({LIVE_ANSWERS}), answered_texts AS ("
            " SELECT DISTINCT p.text_id FROM live l JOIN proposals p ON p.id = l.proposal_id"
            " JOIN texts t ON t.id = p.text_id WHERE t.split = 'pool')"
            ' SELECT p.id AS proposal_id, p.label, p.start, p."end", p.token_start, p.token_end,'
            " p.source, p.score, t.id AS text_id, t.text, t.input_hash,"
            ' a.id AS answer_id, a.answer, a.start AS a_start, a."end" AS a_end,'
            " a.token_start AS a_token_start, a.token_end AS a_token_end"
            " FROM answered_texts x JOIN texts t ON t.id = x.text_id"
            " JOIN proposals p ON p.text_id = t.id"
            " LEFT JOIN live a ON a.proposal_id = p.id"
            " ORDER BY t.id, p.id, a.id"
        )

    def coverage_of_answered_texts(self) -> set[tuple[int, str, str]]:
        """(text_id, label, source) of every proposer run recorded over a pool text that has
        answers: a source that ran over a text and found nothing leaves only this trace."""
        rows = self.db.conn.execute(
            f"WITH live AS ({LIVE_ANSWERS}) SELECT c.text_id, c.label, c.source"
            " FROM proposer_coverage c WHERE c.text_id IN ("
            " SELECT DISTINCT p.text_id FROM live l JOIN proposals p ON p.id = l.proposal_id)"
        ).fetchall()
        return {(int(r[0]), str(r[1]), str(r[2])) for r in rows}

    def silver_data(
        self,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], set[tuple[int, str]]]:
        """The texts silver data may use and what the LLM said there (core/training/silver.py):
        pool texts nobody reviewed that the LLM ran over (a proposer_coverage row or a proposal
        of source llm; no live answer on any proposal there and no live mark). Returns the
        texts (text_id, text, input_hash, by id), the LLM's proposals on them (text_id, label,
        start, end) and the (text_id, label) pairs it ran over (coverage rows)."""
        silver = (
            f"WITH live AS ({LIVE_ANSWERS}), llm AS ("
            " SELECT text_id FROM proposer_coverage WHERE source = 'llm'"
            " UNION SELECT text_id FROM proposals WHERE source = 'llm'),"
            " silver AS (SELECT t.id AS text_id FROM llm x JOIN texts t ON t.id = x.text_id"
            " WHERE t.split = 'pool'"
            " AND NOT EXISTS (SELECT 1 FROM proposals p JOIN live a ON a.proposal_id = p.id"
            "  WHERE p.text_id = t.id)"
            f" AND NOT EXISTS (SELECT 1 FROM ({LIVE_MARKS}) m WHERE m.text_id = t.id))"
        )
        texts = self.query(
            f"{silver} SELECT t.id AS text_id, t.text, t.input_hash FROM silver s"
            " JOIN texts t ON t.id = s.text_id ORDER BY t.id"
        )
        proposals = self.query(
            f'{silver} SELECT p.text_id, p.label, p.start, p."end" FROM silver s'
            " JOIN proposals p ON p.text_id = s.text_id WHERE p.source = 'llm'"
            " ORDER BY p.text_id, p.start"
        )
        covered = self.db.conn.execute(
            f"{silver} SELECT c.text_id, c.label FROM silver s"
            " JOIN proposer_coverage c ON c.text_id = s.text_id WHERE c.source = 'llm'"
        ).fetchall()
        return texts, proposals, {(int(r[0]), str(r[1])) for r in covered}

    # -- few-shot examples ---------------------------------------------------------------------

    def accepted_examples(self, label: str) -> dict[int, list[Span]]:
        """Pool texts with accepted spans of `label`: text_id -> spans in text order (the edited
        span where the annotator moved a boundary).

        A proposal's latest accept or reject decides (an ignore overturns nothing; an undone
        answer does not count). The same span proposed by two sources is listed once.
        """
        rows = self.db.conn.execute(
            "WITH latest AS ("
            " SELECT a.proposal_id AS pid, max(a.id) AS aid"
            f" FROM ({LIVE_ANSWERS}) a JOIN proposals p ON p.id = a.proposal_id"
            " WHERE p.label = ? AND a.answer IN ('accept', 'reject') GROUP BY a.proposal_id)"
            ' SELECT p.text_id, coalesce(a.start, p.start), coalesce(a."end", p."end"),'
            " coalesce(a.token_start, p.token_start), coalesce(a.token_end, p.token_end)"
            " FROM latest l JOIN answers a ON a.id = l.aid JOIN proposals p ON p.id = l.pid"
            " JOIN texts t ON t.id = p.text_id"
            " WHERE a.answer = 'accept' AND t.split = 'pool' ORDER BY 1, 2, 3",
            (label,),
        )
        out: dict[int, list[Span]] = {}
        last: tuple[int, int, int] | None = None
        for text_id, start, end, tok_start, tok_end in rows:
            if (text_id, start, end) == last:
                continue
            last = (text_id, start, end)
            out.setdefault(text_id, []).append(Span(start, end, label, tok_start, tok_end))
        return out

    def answers_since(self, label: str, after_id: int) -> int:
        """How many answers (undo rows included) to proposals of `label` have an id above
        `after_id`: zero means the label's accepted examples are as they were."""
        return int(
            self.scalar(
                "SELECT count(*) FROM answers a JOIN proposals p ON p.id = a.proposal_id"
                " WHERE a.id > ? AND p.label = ?",
                [after_id, label],
            )
        )
