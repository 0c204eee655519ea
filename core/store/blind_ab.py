"""The SQL of the blind A/B: which texts both sources were run on, and the stored choices.

Choices are append-only (an undo is a new row naming the choice it takes back), one live choice
per (text, label, annotator).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence

from nerloop.core.records import Span
from nerloop.core.store.base import StoreBase

LIVE_AB = (
    "SELECT a.* FROM ab_answers a WHERE a.choice != 'undo'"
    " AND NOT EXISTS (SELECT 1 FROM ab_answers u WHERE u.undoes = a.id)"
)
"""Choices not taken back (the undo rows themselves left out)."""

MODEL_OUTPUT_SCORE = 0.5
"""A stored model proposal counts as the model's output when its beam probability is at least
this: the span is in most of the beam's parses, which is what a decode would most likely pick.
Stored model proposals go down to 0.1 (they are questions, not predictions)."""


def _ran(source: str) -> str:
    # A source "ran" on a text for a label when the queue covered it, or it left a proposal there
    # (`nerloop propose` and imports may store proposals without coverage rows).
    return (
        "(EXISTS (SELECT 1 FROM proposer_coverage c WHERE c.label = :label"
        f" AND c.source = '{source}' AND c.text_id = t.id)"
        " OR EXISTS (SELECT 1 FROM proposals p WHERE p.text_id = t.id AND p.label = :label"
        f" AND p.source = '{source}'))"
    )


UNSEEN = (
    "NOT EXISTS (SELECT 1 FROM proposals q JOIN answers n ON n.proposal_id = q.id"
    " WHERE q.text_id = {text})"
)
"""A text nobody answered anything on: not in any model's training data (training reads the
answers), so the model cannot win there by repeating what it was taught."""


def _spans_json(spans: Sequence[Span]) -> str:
    return json.dumps([s.as_dict() for s in sorted(spans, key=lambda s: (s.start, s.end))])


class BlindABMixin(StoreBase):
    def ab_candidate_texts(
        self,
        label: str,
        annotator: str,
        *,
        after_id: int = 0,
        n: int = 32,
        need_model: bool = True,
    ) -> list[int]:
        """Text ids after `after_id`, in id order, that the LLM was run on for `label` (and the
        model too when `need_model`; without it the caller predicts with the model itself),
        that no model was trained on (no answers: UNSEEN), and that `annotator` has no live A/B
        choice on for `label`."""
        sql = (
            f"SELECT t.id FROM texts t WHERE t.id > :after AND {_ran('llm')}"
            + (f" AND {_ran('model')}" if need_model else "")
            + f" AND {UNSEEN.format(text='t.id')}"
            + f" AND NOT EXISTS (SELECT 1 FROM ({LIVE_AB}) a WHERE a.text_id = t.id"
            " AND a.label = :label AND a.annotator = :annotator)"
            " ORDER BY t.id LIMIT :n"
        )
        params = {"after": after_id, "label": label, "annotator": annotator, "n": n}
        return [int(r[0]) for r in self.db.conn.execute(sql, params).fetchall()]

    def source_proposed(self, source: str, labels: Sequence[str] | None = None) -> bool:
        """Whether `source` left any proposal (of one of `labels`, when given): the Compare
        tab's "nothing to compare" says which side is missing."""
        if labels is not None and not labels:
            return False
        where, params = "source = ?", [source]
        if labels is not None:
            where += f" AND label IN ({','.join('?' * len(labels))})"
            params += list(labels)
        return bool(self.scalar(f"SELECT 1 FROM proposals WHERE {where} LIMIT 1", params))

    def source_spans(
        self, label: str, source: str, text_ids: Sequence[int]
    ) -> dict[int, list[Span]]:
        """The stored output of `source` for `label` on each text (an empty list for none).
        For the model, only proposals scored at least MODEL_OUTPUT_SCORE count."""
        out: dict[int, list[Span]] = {t: [] for t in text_ids}
        if not text_ids:
            return out
        marks = ",".join("?" * len(text_ids))
        cut = " AND (score IS NULL OR score >= ?)" if source == "model" else ""
        params: list[object] = [label, source, *text_ids]
        if cut:
            params.append(MODEL_OUTPUT_SCORE)
        for r in self.query(
            'SELECT DISTINCT text_id, start, "end", token_start, token_end FROM proposals'
            f" WHERE label = ? AND source = ? AND text_id IN ({marks}){cut}"
            ' ORDER BY text_id, start, "end"',
            params,
        ):
            span = Span(r["start"], r["end"], label, r["token_start"], r["token_end"])
            out[int(r["text_id"])].append(span)
        return out

    def add_ab_answer(
        self,
        *,
        text_id: int,
        label: str,
        annotator: str,
        choice: str,
        a_source: str,
        llm_spans: Sequence[Span],
        model_spans: Sequence[Span],
        model_detail: str = "",
        session: str = "",
    ) -> int:
        """Store one A/B choice ('llm', 'model' or 'same') in its own commit; returns its id."""
        if choice not in ("llm", "model", "same"):
            raise ValueError(f"unknown A/B choice {choice!r}: expected llm, model or same")
        with self.write():
            cur = self.db.conn.execute(
                "INSERT INTO ab_answers (text_id, label, annotator, choice, a_source, llm_spans,"
                " model_spans, model_detail, session) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    text_id,
                    label,
                    annotator,
                    choice,
                    a_source,
                    _spans_json(llm_spans),
                    _spans_json(model_spans),
                    model_detail,
                    session,
                ),
            )
            return int(cur.lastrowid or 0)

    def undo_ab_answer(self, answer_id: int, session: str = "") -> int:
        """Take back a choice by appending an undo row; returns the undo's id."""
        with self.write():
            row = self.db.conn.execute(
                "SELECT text_id, label, annotator, a_source FROM ab_answers"
                " WHERE id = ? AND choice != 'undo'",
                (answer_id,),
            ).fetchone()
            if row is None:
                raise KeyError(f"no A/B choice with id {answer_id}")
            cur = self.db.conn.execute(
                "INSERT INTO ab_answers (text_id, label, annotator, choice, a_source, undoes,"
                " session) VALUES (?, ?, ?, 'undo', ?, ?, ?)",
                (row[0], row[1], row[2], row[3], answer_id, session),
            )
            return int(cur.lastrowid or 0)

    def ab_choices(self, label: str | None = None) -> list[dict[str, object]]:
        """Live choices (oldest first), of one label or all."""
        where = " WHERE label = ?" if label is not None else ""
        params = [label] if label is not None else []
        return self.query(f"SELECT * FROM ({LIVE_AB}){where} ORDER BY id", params)

    def ab_tally(self) -> dict[str, dict[str, int]]:
        """label -> {'llm': wins, 'model': wins, 'same': ties} over every annotator's live
        choices on texts no model was trained on."""
        out: dict[str, dict[str, int]] = defaultdict(lambda: {"llm": 0, "model": 0, "same": 0})
        # Choices on texts answered since (now training data) are no evidence about new texts.
        for r in self.query(
            f"SELECT label, choice, count(*) AS n FROM ({LIVE_AB}) v"
            f" WHERE {UNSEEN.format(text='v.text_id')} GROUP BY label, choice"
        ):
            out[r["label"]][r["choice"]] = int(r["n"])
        return dict(out)
