"""The llm_calls table, which is both the response cache and the cost ledger; and the
per-label switch that turns LLM proposals off (`llm_off` in label_settings).

One row per request the LLM was asked for:
- a call that reached the server: attempts >= 1, the request body (never the API key, which
  travels in a header only), the answer's content, tokens in/out and latency; `error` set when
  it failed for good (after retries) or its answer could not be read;
- a cache hit: attempts = 0, no request, response or tokens. That is how cache hits are
  counted without a schema change: a row with no HTTP attempt was served from the cache.

A successful call (attempts >= 1, error NULL) is what the cache serves, and what tells
`nerloop propose` that a text was already asked for a label.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from nerloop.core.records import LLMCall, NewProposal
from nerloop.core.secrets import redact
from nerloop.core.store.annotations import LIVE_ANSWERS, AnnotationsMixin


class LLMMixin(AnnotationsMixin):
    # -- the per-label switch ------------------------------------------------------------------

    def set_llm_off(self, label: str, off: bool) -> None:
        """Stop (off=True) or resume asking the LLM for `label`; the queue and `nerloop propose`
        honour it."""
        with self.write():
            self.db.conn.execute(
                "INSERT INTO label_settings (label, llm_off) VALUES (?, ?) "
                "ON CONFLICT (label) DO UPDATE SET llm_off = excluded.llm_off",
                (label, int(off)),
            )

    def llm_off(self, label: str) -> bool:
        """Whether the LLM is switched off for `label` (False for a label never switched)."""
        value = self.scalar("SELECT llm_off FROM label_settings WHERE label = ?", [label])
        return bool(value)

    def llm_off_labels(self) -> set[str]:
        """Every label the LLM is switched off for."""
        return {r["label"] for r in self.query("SELECT label FROM label_settings WHERE llm_off")}

    # -- the ledger ----------------------------------------------------------------------------

    def cached_response(self, cache_key: str) -> str | None:
        """The content of the latest successful call with this key, if any."""
        return self.scalar(
            "SELECT response FROM llm_calls WHERE cache_key = ? AND attempts > 0 "
            "AND error IS NULL AND response IS NOT NULL ORDER BY id DESC LIMIT 1",
            [cache_key],
        )

    def record_llm_call(self, call: LLMCall, proposals: Iterable[NewProposal] = ()) -> int:
        """Store a ledger row and the proposals made from its answer in ONE transaction, so an
        interrupted job never has a call on record whose proposals are missing."""
        with self.write():
            cur = self.db.conn.execute(
                "INSERT INTO llm_calls (cache_key, model, prompt_version, text_hash, label, "
                "request, response, tokens_in, tokens_out, latency_ms, attempts, error) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    call.cache_key,
                    call.model,
                    call.prompt_version,
                    call.text_hash,
                    call.label,
                    # A server may echo what it was sent (the Authorization header too).
                    None if call.request is None else redact(call.request),
                    None if call.response is None else redact(call.response),
                    call.tokens_in,
                    call.tokens_out,
                    round(call.latency_ms, 3),
                    call.attempts,
                    None if call.error is None else redact(call.error),
                ),
            )
            self.add_proposals(proposals)
            return int(cur.lastrowid or 0)

    def record_llm_calls(self, items: Iterable[tuple[LLMCall, Sequence[NewProposal]]]) -> None:
        """Several ledger rows with their proposals, in one transaction."""
        with self.write():
            for call, proposals in items:
                self.record_llm_call(call, proposals)

    def llm_done_hashes(self, label: str, model: str, prompt_versions: Sequence[str]) -> set[int]:
        """Hashes of the texts already answered (without error) for `label` (or a batch
        target) by this model and one of `prompt_versions`: what a rerun skips."""
        marks = ", ".join("?" * len(prompt_versions))
        return {
            int(r[0])
            for r in self.db.conn.execute(
                "SELECT DISTINCT text_hash FROM llm_calls WHERE label = ? AND model = ? "
                f"AND prompt_version IN ({marks}) AND error IS NULL",
                (label, model, *prompt_versions),
            )
        }

    def llm_calls(self, *, limit: int = 100) -> list[dict[str, Any]]:
        """The latest ledger rows, newest first."""
        return self.query("SELECT * FROM llm_calls ORDER BY id DESC LIMIT ?", [limit])

    def llm_stats(self, price_in_per_1k: float = 0.0, price_out_per_1k: float = 0.0) -> dict:
        """Calls, cache hits, errors, tokens, latency and, with prices set, the cost and the
        cost per accepted LLM span."""
        row = self.db.conn.execute(
            "SELECT coalesce(sum(attempts > 0), 0), coalesce(sum(attempts = 0), 0),"
            " coalesce(sum(error IS NOT NULL), 0), coalesce(sum(attempts), 0),"
            " coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0),"
            " avg(CASE WHEN attempts > 0 AND error IS NULL THEN latency_ms END)"
            " FROM llm_calls"
        ).fetchone()
        accepted = int(
            self.scalar(
                f"SELECT count(*) FROM ({LIVE_ANSWERS}) a JOIN proposals p ON p.id = a.proposal_id"
                " WHERE a.answer = 'accept' AND p.source = 'llm'"
            )
        )
        tokens_in, tokens_out = int(row[4]), int(row[5])
        priced = price_in_per_1k > 0 or price_out_per_1k > 0
        cost = (
            round(tokens_in / 1000 * price_in_per_1k + tokens_out / 1000 * price_out_per_1k, 6)
            if priced
            else None
        )
        return {
            "calls": int(row[0]),
            "cache_hits": int(row[1]),
            "errors": int(row[2]),
            "attempts": int(row[3]),
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "latency_ms_mean": None if row[6] is None else round(float(row[6]), 1),
            "accepted_spans": accepted,
            "cost": cost,
            "cost_per_accepted_span": (
                round(cost / accepted, 6) if cost is not None and accepted else None
            ),
        }
