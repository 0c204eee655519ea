"""The texts table (pool and gold splits) and the import log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from nerloop.core.records import Split, StoredText, input_hash
from nerloop.core.store.base import StoreBase, dumps


def _text_row(row: dict[str, Any]) -> StoredText:
    return StoredText(
        id=row["id"],
        input_hash=row["input_hash"],
        text=row["text"],
        meta=json.loads(row["meta"]),
        split=row["split"],
        source=row["source"],
    )


class TextsMixin(StoreBase):
    def add_text(
        self,
        text: str,
        *,
        meta: dict[str, Any] | None = None,
        split: Split = "pool",
        source: str | None = None,
    ) -> tuple[int, bool]:
        """Store a text unless an identical one is there; returns (id, added).

        A text imported into the gold split that is already in the pool moves to gold: gold texts
        must never be trained on.
        """
        h = input_hash(text)
        with self.write():
            cur = self.db.conn.execute(
                "INSERT OR IGNORE INTO texts (input_hash, text, meta, source, split) "
                "VALUES (?, ?, ?, ?, ?)",
                (h, text, dumps(meta or {}), source, split),
            )
            added = cur.rowcount == 1
            row = self.db.conn.execute(
                "SELECT id, split FROM texts WHERE input_hash = ?", (h,)
            ).fetchone()
            if not added and split == "gold" and row[1] != "gold":
                self.db.conn.execute("UPDATE texts SET split = 'gold' WHERE id = ?", (row[0],))
        return int(row[0]), added

    def get_text(self, text_id: int) -> StoredText:
        rows = self.query("SELECT * FROM texts WHERE id = ?", [text_id])
        if not rows:
            raise KeyError(f"no text with id {text_id}")
        return _text_row(rows[0])

    def text_by_hash(self, h: int) -> StoredText | None:
        rows = self.query("SELECT * FROM texts WHERE input_hash = ?", [h])
        return _text_row(rows[0]) if rows else None

    def iter_texts(
        self, split: Split | None = None, *, after_id: int = 0, batch: int = 1000
    ) -> Iterator[StoredText]:
        """All texts (of one split), in id order, read in batches so memory stays flat."""
        last = after_id
        where = "id > ?" + (" AND split = ?" if split else "")
        while True:
            params: list[Any] = [last] + ([split] if split else [])
            rows = self.query(
                f"SELECT * FROM texts WHERE {where} ORDER BY id LIMIT {int(batch)}", params
            )
            if not rows:
                return
            for row in rows:
                yield _text_row(row)
            last = rows[-1]["id"]

    def log_import(
        self,
        *,
        path: str,
        format: str,
        split: Split,
        added: int,
        duplicates: int,
        rejected: int,
        answers: int = 0,
    ) -> None:
        self.db.table("imports").insert(
            {
                "path": path,
                "format": format,
                "split": split,
                "added": added,
                "duplicates": duplicates,
                "rejected": rejected,
                "answers": answers,
            }
        )

    def imports(self) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM imports ORDER BY id")

    def has_texts(self, split: Split) -> bool:
        """Whether the split holds any text."""
        return self.has_rows("texts", split=split)

    def count_texts(self, split: Split | None = None) -> int:
        """Texts of one split or (None) of both."""
        return self.count_rows("texts", split=split)
