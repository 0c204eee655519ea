"""Queries for the A/B comparison of model and LLM (the per-label "LLM off" switch it feeds
is in llm.py)."""

from __future__ import annotations

from collections import defaultdict

from nerloop.core.records import Span, batch_labels
from nerloop.core.store.annotations import LIVE_ANSWERS
from nerloop.core.store.base import StoreBase


class ABStatsMixin(StoreBase):
    # -- live accept rates ---------------------------------------------------------------------

    def accept_rates(self, last_n: int = 200) -> dict[str, dict[str, tuple[int, int]]]:
        """Per label and source: (accepted, answered) over the last `last_n` accept/reject answers
        (ignores do not count: they say nothing about the proposal's quality)."""
        rows = self.query(
            "SELECT label, source, sum(answer = 'accept') AS acc, count(*) AS n FROM ("
            " SELECT p.label, p.source, a.answer, row_number() OVER"
            "  (PARTITION BY p.label, p.source ORDER BY a.id DESC) AS rn"
            f" FROM ({LIVE_ANSWERS}) a JOIN proposals p ON p.id = a.proposal_id"
            " WHERE a.answer IN ('accept', 'reject'))"
            " WHERE rn <= ? GROUP BY label, source",
            [int(last_n)],
        )
        out: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
        for r in rows:
            out[r["label"]][r["source"]] = (int(r["acc"]), int(r["n"]))
        return dict(out)

    # -- predictions on gold -------------------------------------------------------------------

    def proposals_on_gold(self, source: str) -> dict[str, dict[int, list[Span]]]:
        """Stored proposals of `source` on gold texts: label -> text_id -> spans."""
        out: dict[str, dict[int, list[Span]]] = defaultdict(dict)
        for r in self.query(
            'SELECT p.text_id, p.label, p.start, p."end", p.token_start, p.token_end'
            " FROM proposals p JOIN texts t ON t.id = p.text_id"
            " WHERE t.split = 'gold' AND p.source = ? ORDER BY p.text_id, p.start",
            [source],
        ):
            span = Span(r["start"], r["end"], r["label"], r["token_start"], r["token_end"])
            out[r["label"]].setdefault(r["text_id"], []).append(span)
        return dict(out)

    def llm_asked_on_gold(self) -> dict[str, set[int]]:
        """label -> gold text ids the LLM answered for that label (a successful call, even one
        that found nothing, or a stored proposal). An empty answer is a prediction ("no span");
        a text never asked is not, and must be left out of the comparison."""
        out: dict[str, set[int]] = defaultdict(set)
        for r in self.query(
            "SELECT DISTINCT c.label, t.id AS text_id FROM llm_calls c"
            " JOIN texts t ON t.input_hash = c.text_hash"
            " WHERE t.split = 'gold' AND c.error IS NULL AND c.response IS NOT NULL"
            " UNION SELECT DISTINCT p.label, p.text_id FROM proposals p"
            " JOIN texts t ON t.id = p.text_id WHERE t.split = 'gold' AND p.source = 'llm'"
        ):
            for name in batch_labels(str(r["label"])):
                out[name].add(int(r["text_id"]))
        return dict(out)
