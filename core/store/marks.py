"""Marks on whole texts (`text_marks`): an annotator's word that a pool text is complete (its
missed spans marked by hand) or that something is missing there. Append-only: an undo is a new
row naming the mark it takes back, and the latest live mark of a text is the one that counts."""

from __future__ import annotations

from typing import Literal

from nerloop.core.store.base import StoreBase

Mark = Literal["complete", "flagged"]

# The marks that count: not an undo row, and not taken back by one.
LIVE_MARKS = (
    "SELECT m.* FROM text_marks m WHERE m.mark != 'undo' "
    "AND NOT EXISTS (SELECT 1 FROM text_marks u WHERE u.undoes = m.id)"
)


class MarksMixin(StoreBase):
    def add_mark(self, text_id: int, mark: Mark, annotator: str, *, session: str = "") -> int:
        """Append a mark on a text (committed before returning); returns its id."""
        if mark not in ("complete", "flagged"):
            raise ValueError(f"mark must be complete or flagged, not {mark!r}")
        values = {"text_id": text_id, "annotator": annotator, "mark": mark, "session": session}
        return self.insert_row("text_marks", values)

    def undo_mark(self, mark_id: int, annotator: str, *, session: str = "") -> int:
        """Take a mark back by appending an undo row; nothing is deleted."""
        return self.append_undo("text_marks", mark_id, annotator, session)

    def text_mark(self, text_id: int) -> Mark | None:
        """The latest live mark of a text, or None."""
        row = self.db.conn.execute(
            f"SELECT mark FROM ({LIVE_MARKS}) WHERE text_id = ? ORDER BY id DESC LIMIT 1",
            (text_id,),
        ).fetchone()
        return None if row is None else row[0]

    def pool_marks(self) -> dict[int, Mark]:
        """The latest live mark of every marked pool text (a text moved to gold since is
        evaluation data, never training data)."""
        rows = self.db.conn.execute(
            f"SELECT m.text_id, m.mark FROM ({LIVE_MARKS}) m JOIN texts t ON t.id = m.text_id "
            "WHERE t.split = 'pool' ORDER BY m.id"
        ).fetchall()
        return {int(text_id): mark for text_id, mark in rows}  # later rows win
