"""Bulk loading for benchmarks and large imports: many rows in one transaction, with a big
page cache while they go in."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from nerloop.core.records import NewProposal, Split, input_hash
from nerloop.core.store.annotations import INSERT_PROPOSAL, proposal_row
from nerloop.core.store.base import StoreBase, dumps


class BulkLoadMixin(StoreBase):
    @contextmanager
    def _big_cache(self, mib: int = 512) -> Iterator[None]:
        # Millions of inserts into indexes keyed by hashes touch pages all over the file; with
        # SQLite's default 2 MB page cache each insert rereads pages from disk.
        conn = self.db.conn
        before = conn.execute("PRAGMA cache_size").fetchone()[0]
        conn.execute(f"PRAGMA cache_size = {-mib * 1024}")
        try:
            yield
        finally:
            conn.execute(f"PRAGMA cache_size = {int(before)}")

    def bulk_add_texts(self, texts: Iterable[str], *, split: Split = "pool") -> int:
        """Insert many texts in one transaction (duplicates skipped); returns how many were new."""
        with self._big_cache(), self.write():
            before = self.db.conn.total_changes
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO texts (input_hash, text, meta, split) VALUES (?, ?, ?, ?)",
                ((input_hash(t), t, dumps({}), split) for t in texts),
            )
            return self.db.conn.total_changes - before

    def bulk_add_proposals(self, proposals: Iterable[tuple[NewProposal, int]]) -> int:
        """Insert many proposals, each given with its text's input_hash, in one transaction."""
        with self._big_cache(), self.write():
            before = self.db.conn.total_changes
            self.db.conn.executemany(INSERT_PROPOSAL, (proposal_row(p, h) for p, h in proposals))
            return self.db.conn.total_changes - before
