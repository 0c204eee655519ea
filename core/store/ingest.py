"""Bulk import of texts, imported annotations and gold (export reads in answered.py and gold.py).

An import runs in ONE write transaction (the caller holds `with store.write():`) and calls
`ingest_batch` once per chunk of a few thousand records: each chunk is a handful of executemany
statements, so a million-line file costs a few hundred statements, not a million savepoints.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from nerloop.core.records import AnswerKind, Span, Split, input_hash, task_hash
from nerloop.core.store.annotations import LIVE_ANSWERS
from nerloop.core.store.base import StoreBase, dumps

# Bound parameters per IN (...) query: far below SQLite's limit, large enough to be cheap.
IN_CHUNK = 500


@dataclass(frozen=True, slots=True)
class IngestItem:
    """One validated record to store.

    Pool items: each span becomes a proposal with source 'import', answered `answer` by
    `annotator` (no answer: the proposals are stored unanswered). Gold items: the spans are the
    text's full annotation by `annotator`.
    """

    text: str
    meta: dict[str, Any]
    split: Split
    spans: Sequence[Span] = ()
    answer: AnswerKind | None = None
    annotator: str = "import"
    line: int = 0
    """Where the record starts in its file, for messages about it."""


@dataclass(frozen=True, slots=True)
class LabelConflict:
    """The same characters of one text accepted under two labels, one of them by this import."""

    line: int
    start: int
    end: int
    labels: tuple[str, ...]
    surface: str

    def message(self) -> str:
        return (
            f"characters {self.start}-{self.end} ({self.surface!r}) are accepted as both "
            f"{' and '.join(self.labels)}; a text's characters take one label"
        )


@dataclass(slots=True)
class IngestCounts:
    added: int = 0
    duplicates: int = 0
    moved_to_gold: int = 0
    proposals: int = 0
    answers: int = 0
    gold: int = 0

    def add(self, other: IngestCounts) -> None:
        # The counts' own fields: a subclass (the import job's summary) has others besides.
        for f in fields(IngestCounts):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass(slots=True)
class ImportState:
    """What one import remembers across its batches: the gold annotations it wrote (a second
    record for the same text and annotator adds its spans instead of replacing them)."""

    gold_written: set[tuple[int, str]] = field(default_factory=set)
    answers_before: int | None = None
    """The highest answer id before the import: later ones are this import's."""


@dataclass(frozen=True, slots=True)
class _Batch:
    """A chunk of records being stored: the items, their input hashes, the stored text id of
    each hash that needs one, and what storing them counted."""

    items: Sequence[IngestItem]
    hashes: Sequence[int]
    ids: dict[int, int]
    counts: IngestCounts

    def pairs(self) -> Iterator[tuple[IngestItem, int]]:
        return zip(self.items, self.hashes, strict=True)


def _chunks(values: Sequence[Any], size: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _span_key(s: Span) -> tuple[int, int, str]:
    return (s.start, s.end, s.label)


class IngestMixin(StoreBase):
    def _texts_by_hash(self, hashes: Iterable[int]) -> dict[int, tuple[int, str]]:
        found: dict[int, tuple[int, str]] = {}
        conn = self.db.conn
        for chunk in _chunks(list(set(hashes))):
            marks = ",".join("?" * len(chunk))
            for h, tid, split in conn.execute(
                f"SELECT input_hash, id, split FROM texts WHERE input_hash IN ({marks})", chunk
            ):
                found[h] = (tid, split)
        return found

    def ingest_batch(
        self, items: Sequence[IngestItem], *, source: str, state: ImportState
    ) -> IngestCounts:
        """Store a chunk of records: texts (deduplicated by input hash), proposals and answers
        of pool items, gold annotations of gold items. Identical answers already stored (same
        proposal, annotator and answer) are not stored again, so re-importing a file is a no-op.
        """
        counts = IngestCounts()
        conn = self.db.conn
        with self.write():
            hashes = [input_hash(it.text) for it in items]
            existing = self._texts_by_hash(hashes)
            new_rows: list[tuple[Any, ...]] = []
            fresh: set[int] = set()
            for it, h in zip(items, hashes, strict=True):
                if h in existing or h in fresh:
                    counts.duplicates += 1
                    continue
                fresh.add(h)
                new_rows.append((h, it.text, dumps(it.meta), source, it.split))
            conn.executemany(
                "INSERT OR IGNORE INTO texts (input_hash, text, meta, source, split) "
                "VALUES (?, ?, ?, ?, ?)",
                new_rows,
            )
            counts.added = len(new_rows)
            need = [
                h for it, h in zip(items, hashes, strict=True) if it.spans or it.split == "gold"
            ]
            if not need:
                return counts
            ids = {h: tid for h, (tid, _) in self._texts_by_hash(need).items()}
            if state.answers_before is None:
                state.answers_before = int(self.scalar("SELECT coalesce(max(id), 0) FROM answers"))
            batch = _Batch(items, hashes, ids, counts)
            self._ingest_gold(batch, state)
            self._ingest_answers(batch, source)
        return counts

    def label_conflicts(
        self, items: Sequence[IngestItem], state: ImportState
    ) -> list[LabelConflict]:
        """Spans of these (stored) pool items whose characters are also accepted under another
        label, one of the two accepts being this import's: a file cannot say both."""
        by_hash = {input_hash(it.text): it for it in items if it.split == "pool" and it.spans}
        if not by_hash or state.answers_before is None:
            return []
        ids = {tid: h for h, (tid, _) in self._texts_by_hash(by_hash).items()}
        found: list[LabelConflict] = []
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            for tid, start, end, labels in self.db.conn.execute(
                f'SELECT p.text_id, p.start, p."end", json_group_array(DISTINCT p.label) '
                f"FROM proposals p JOIN ({LIVE_ANSWERS}) a ON a.proposal_id = p.id "
                f"WHERE a.answer = 'accept' AND p.text_id IN ({marks}) "
                f'GROUP BY p.text_id, p.start, p."end" '
                f"HAVING count(DISTINCT p.label) > 1 AND max(a.id) > ?",
                [*chunk, state.answers_before],
            ):
                item = by_hash[ids[tid]]
                found.append(
                    LabelConflict(
                        item.line,
                        start,
                        end,
                        tuple(sorted(json.loads(labels))),
                        item.text[start:end],
                    )
                )
        return found

    def _ingest_gold(self, batch: _Batch, state: ImportState) -> None:
        conn, ids, counts = self.db.conn, batch.ids, batch.counts
        for it, h in batch.pairs():
            if it.split != "gold":
                continue
            tid = ids[h]
            moved = conn.execute(
                "UPDATE texts SET split = 'gold' WHERE id = ? AND split != 'gold'", (tid,)
            )
            counts.moved_to_gold += moved.rowcount
            key = (tid, it.annotator)
            spans = list(it.spans)
            if key in state.gold_written:
                row = conn.execute(
                    "SELECT spans FROM gold WHERE text_id = ? AND annotator = ?", key
                ).fetchone()
                have = {_span_key(s): s for s in (Span(**d) for d in json.loads(row[0]))}
                for s in spans:
                    have.setdefault(_span_key(s), s)
                spans = list(have.values())
            else:
                state.gold_written.add(key)
                counts.gold += 1
            payload = dumps([s.as_dict() for s in sorted(spans, key=_span_key)])
            conn.execute(
                "INSERT INTO gold (text_id, annotator, spans, done) VALUES (?, ?, ?, 1) "
                "ON CONFLICT (text_id, annotator) DO UPDATE SET spans = excluded.spans, "
                "done = 1, updated = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                (tid, it.annotator, payload),
            )

    def _ingest_answers(self, batch: _Batch, source: str) -> None:
        conn, ids, counts = self.db.conn, batch.ids, batch.counts
        rows: list[tuple[Any, ...]] = []
        wanted: list[tuple[int, str, AnswerKind]] = []  # (task_hash, annotator, answer)
        for it, h in batch.pairs():
            if it.split != "pool":
                continue
            for s in it.spans:
                th = task_hash(h, s.label, s.start, s.end)
                rows.append(
                    (ids[h], s.label, s.start, s.end, s.token_start, s.token_end, source, th)
                )
                if it.answer is not None:
                    wanted.append((th, it.annotator, it.answer))
        if wanted:
            # The same judgement already stored through another source (an export of llm or
            # model answers, read back in another format) is not stored a second time.
            known = self._live_judgements(
                {ids[h] for it, h in batch.pairs() if it.answer and it.spans}
            )
            # A file that names no annotator ("import") repeats anybody's same judgement.
            anybody = {(th, answer) for th, _, answer in known}
            repeated = {
                w for w in wanted if w in known or (w[1] == "import" and (w[0], w[2]) in anybody)
            }
            if repeated:
                wanted = [w for w in wanted if w not in repeated]
                keep = {th for th, _, _ in wanted}
                answered = {th for th, _, _ in repeated} - keep
                rows = [r for r in rows if r[-1] not in answered]
        if not rows:
            return
        before = conn.total_changes
        conn.executemany(
            'INSERT OR IGNORE INTO proposals (text_id, label, start, "end", token_start,'
            " token_end, source, source_detail, task_hash)"
            " VALUES (?, ?, ?, ?, ?, ?, 'import', ?, ?)",
            rows,
        )
        counts.proposals += conn.total_changes - before
        if not wanted:
            return
        pids: dict[int, int] = {}
        for chunk in _chunks(list({th for th, _, _ in wanted})):
            marks = ",".join("?" * len(chunk))
            for pid, th in conn.execute(
                f"SELECT id, task_hash FROM proposals WHERE source = 'import' "
                f"AND task_hash IN ({marks})",
                chunk,
            ):
                pids[th] = pid
        have: set[tuple[int, str, str]] = set()
        for chunk in _chunks(list(set(pids.values()))):
            marks = ",".join("?" * len(chunk))
            for pid, annotator, answer in conn.execute(
                f"SELECT proposal_id, annotator, answer FROM ({LIVE_ANSWERS}) "
                f"WHERE proposal_id IN ({marks})",
                chunk,
            ):
                have.add((pid, annotator, answer))
        new: list[tuple[int, str, str]] = []
        for th, annotator, answer in wanted:
            key = (pids[th], annotator, answer)
            if key not in have:
                have.add(key)
                new.append(key)
        conn.executemany(
            "INSERT INTO answers (proposal_id, annotator, answer, session) "
            "VALUES (?, ?, ?, 'import')",
            new,
        )
        counts.answers += len(new)

    def _live_judgements(self, text_ids: set[int]) -> set[tuple[int, str, str]]:
        """(task_hash, annotator, answer) of the live answers on these texts, from any source;
        an answer that moved a boundary counts for the span it gave."""
        found: set[tuple[int, str, str]] = set()
        for chunk in _chunks(list(text_ids)):
            marks = ",".join("?" * len(chunk))
            for h, label, start, end, annotator, answer in self.db.conn.execute(
                f'SELECT t.input_hash, p.label, coalesce(a.start, p.start), coalesce(a."end", '
                f'p."end"), a.annotator, a.answer FROM proposals p '
                f"JOIN texts t ON t.id = p.text_id "
                f"JOIN ({LIVE_ANSWERS}) a ON a.proposal_id = p.id WHERE p.text_id IN ({marks})",
                chunk,
            ):
                found.add((task_hash(h, label, start, end), annotator, answer))
        return found
