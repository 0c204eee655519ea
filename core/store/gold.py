"""The gold set: texts annotated fully by hand (every span of every label), per annotator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from nerloop.core.records import Span
from nerloop.core.store.base import StoreBase, dumps


def _spans(raw: str) -> list[Span]:
    return [Span(**s) for s in json.loads(raw)]


class GoldMixin(StoreBase):
    def save_gold(self, text_id: int, annotator: str, spans: list[Span], *, done: bool) -> None:
        """Store (replace) one annotator's full annotation of a gold text."""
        payload = dumps([s.as_dict() for s in sorted(spans, key=lambda s: (s.start, s.end))])
        with self.write():
            self.db.conn.execute("UPDATE texts SET split = 'gold' WHERE id = ?", (text_id,))
            self.db.conn.execute(
                "INSERT INTO gold (text_id, annotator, spans, done) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (text_id, annotator) DO UPDATE SET spans = excluded.spans, "
                "done = excluded.done, updated = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                (text_id, annotator, payload, int(done)),
            )

    def gold_for(self, text_id: int) -> list[dict[str, Any]]:
        rows = self.query("SELECT * FROM gold WHERE text_id = ? ORDER BY updated", [text_id])
        return [{**r, "spans": _spans(r["spans"]), "done": bool(r["done"])} for r in rows]

    def gold_examples(self, *, done_only: bool = True) -> list[tuple[int, str, list[Span]]]:
        """(text_id, text, spans) of every finished gold text; with several annotators of one
        text, the latest finished annotation counts."""
        rows = self.query(
            "SELECT g.text_id, t.text, g.spans FROM gold g JOIN texts t ON t.id = g.text_id "
            "WHERE g.done >= ? ORDER BY g.text_id, g.updated",
            [1 if done_only else 0],
        )
        latest: dict[int, tuple[int, str, list[Span]]] = {}
        for r in rows:
            latest[r["text_id"]] = (r["text_id"], r["text"], _spans(r["spans"]))
        return list(latest.values())

    def finished_gold_by_hash(self, h: int) -> tuple[str, list[Span]] | None:
        """(annotator, spans) of the finished gold annotation that counts for the text with
        input hash `h` (the latest), or None."""
        row = self.db.conn.execute(
            "SELECT g.annotator, g.spans FROM gold g JOIN texts t ON t.id = g.text_id "
            "WHERE t.input_hash = ? AND g.done = 1 ORDER BY g.updated DESC LIMIT 1",
            (h,),
        ).fetchone()
        return None if row is None else (str(row[0]), _spans(row[1]))

    def count_gold(self, *, done_only: bool = True) -> int:
        return int(
            self.scalar(
                "SELECT count(DISTINCT text_id) FROM gold WHERE done >= ?", [1 if done_only else 0]
            )
        )

    def iter_gold_annotations(self, *, done_only: bool = True) -> Iterator[dict[str, Any]]:
        """Every gold annotation (one per text and annotator) with its text, by text id.

        Rows: text_id, text, input_hash, meta (dict), annotator, spans (list[Span]), done,
        updated.
        """
        for row in self.db.query(
            "SELECT g.text_id, t.text, t.input_hash, t.meta, g.annotator, g.spans, g.done,"
            " g.updated FROM gold g JOIN texts t ON t.id = g.text_id WHERE g.done >= ?"
            " ORDER BY g.text_id, g.updated, g.annotator",
            [1 if done_only else 0],
        ):
            yield {
                **row,
                "meta": json.loads(row["meta"]),
                "spans": [Span(**d) for d in json.loads(row["spans"])],
                "done": bool(row["done"]),
            }

    # -- the Gold tab's work list --------------------------------------------------------------

    def gold_done(self, *, limit: int = 10_000) -> list[int]:
        """Gold texts somebody has marked done, in id order (to reopen and correct)."""
        return self._gold_texts(done=True, limit=limit)

    def gold_todo(self, *, limit: int = 10_000) -> list[int]:
        """Gold texts nobody has marked done yet, in id order."""
        return self._gold_texts(done=False, limit=limit)

    def _gold_texts(self, *, done: bool, limit: int) -> list[int]:
        exists = "EXISTS" if done else "NOT EXISTS"
        rows = self.db.conn.execute(
            f"SELECT t.id FROM texts t WHERE t.split = 'gold' AND {exists} (SELECT 1 FROM gold g"
            " WHERE g.text_id = t.id AND g.done) ORDER BY t.id LIMIT ?",
            (limit,),
        ).fetchall()
        return [int(r[0]) for r in rows]
