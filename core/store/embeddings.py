"""Text vectors for few-shot retrieval (the accepted examples they are searched among are read
in answered.py).

Vectors are float32 BLOBs in `embeddings` (text_id, model, dim, vector), one per text and
embedder. Searching needs all vectors of one embedder as one numpy matrix; reading a million
BLOBs takes seconds, so the matrix is cached on the store and refreshed incrementally: rows are
read in rowid order and a re-embedded text (INSERT OR REPLACE gives it a new rowid) overwrites its
old row in place.

The cache lives in the process, keyed by database file and embedder, not on one `Store`: the
LLM proposer opens a Store of its own in each worker thread, and reading a large matrix again
for every batch of proposals would cost more than the search.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from nerloop.core.records import StoredText
from nerloop.core.store.base import StoreBase
from nerloop.core.store.texts import _text_row


@dataclass
class VectorMatrix:
    """All vectors of one embedder: `matrix[i]` is the vector of text `ids[i]`."""

    model: str
    dim: int
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    last_rowid: int = 0
    row_of: dict[int, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.row_of)

    def _append(self, new_ids: np.ndarray, new_rows: np.ndarray) -> None:
        n = len(self.row_of)
        need = n + len(new_ids)
        if need > len(self.ids):
            # Grow geometrically so many small refreshes cost O(n) copying in all, not O(n^2).
            cap = max(need, int(len(self.ids) * 1.5) + 1024)
            ids = np.zeros(cap, dtype=np.int64)
            mat = np.zeros((cap, self.dim), dtype=np.float32)
            if n:
                ids[:n] = self.ids[:n]
                mat[:n] = self.matrix[:n]
            self.ids, self.matrix = ids, mat
        self.ids[n:need] = new_ids
        self.matrix[n:need] = new_rows
        for offset, text_id in enumerate(new_ids.tolist()):
            self.row_of[text_id] = n + offset

    def update(self, text_ids: list[int], rows: np.ndarray) -> None:
        """Add vectors of new texts, overwrite those of texts already present."""
        fresh: list[int] = []
        for i, text_id in enumerate(text_ids):
            at = self.row_of.get(text_id)
            if at is None:
                fresh.append(i)
            else:
                self.matrix[at] = rows[i]
        if fresh:
            self._append(np.asarray(text_ids, dtype=np.int64)[fresh], rows[fresh])

    def view(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, matrix) without the spare capacity; views, not copies."""
        n = len(self.row_of)
        return self.ids[:n], self.matrix[:n]


# (database file and inode, embedder) -> its matrix.
_MATRICES: dict[tuple[str, str], VectorMatrix] = {}
_MATRICES_LOCK = threading.Lock()


class EmbeddingsMixin(StoreBase):
    def save_embeddings(self, model: str, text_ids: Iterable[int], vectors: np.ndarray) -> int:
        """Store one vector per text for embedder `model` (replacing older ones); returns the
        number stored. `vectors` is (n, dim) and is stored as float32."""
        ids = list(text_ids)
        mat = np.ascontiguousarray(vectors, dtype=np.float32)
        if mat.ndim != 2 or mat.shape[0] != len(ids):
            raise ValueError(f"need one row per text: {len(ids)} ids, matrix {mat.shape}")
        dim = int(mat.shape[1])
        with self.write():
            # The rowid is set to max + 1 explicitly so that a re-embedded text always lands above
            # every rowid the incremental refresh has seen. SQLite picks max + 1 for an implicit
            # rowid too, but documents that only as its "usual" algorithm.
            self.db.conn.executemany(
                "INSERT OR REPLACE INTO embeddings (rowid, text_id, model, dim, vector) VALUES "
                "((SELECT coalesce(max(rowid), 0) + 1 FROM embeddings), ?, ?, ?, ?)",
                [(tid, model, dim, mat[i].tobytes()) for i, tid in enumerate(ids)],
            )
        return len(ids)

    def count_embeddings(self, model: str) -> int:
        return int(self.scalar("SELECT count(*) FROM embeddings WHERE model = ?", [model]))

    def embedding_of(self, text_id: int, model: str) -> np.ndarray | None:
        """The stored vector of one text, or None."""
        row = self.db.conn.execute(
            "SELECT vector FROM embeddings WHERE text_id = ? AND model = ?", (text_id, model)
        ).fetchone()
        return None if row is None else np.frombuffer(row[0], dtype=np.float32).copy()

    def count_texts_without_embedding(self, model: str) -> int:
        return int(
            self.scalar(
                "SELECT count(*) FROM texts t WHERE NOT EXISTS "
                "(SELECT 1 FROM embeddings e WHERE e.text_id = t.id AND e.model = ?)",
                [model],
            )
        )

    def iter_texts_without_embedding(self, model: str, batch: int = 256) -> Iterator[StoredText]:
        """Texts with no vector of `model`, in id order, read in batches."""
        last = 0
        while True:
            rows = self.query(
                "SELECT * FROM texts t WHERE t.id > ? AND NOT EXISTS "
                "(SELECT 1 FROM embeddings e WHERE e.text_id = t.id AND e.model = ?) "
                f"ORDER BY t.id LIMIT {int(batch)}",
                [last, model],
            )
            if not rows:
                return
            for row in rows:
                yield _text_row(row)
            last = rows[-1]["id"]

    def vector_matrix(self, model: str) -> VectorMatrix | None:
        """All vectors of `model` as one matrix, read incrementally since the last call.

        Returns None when the store has no vector of `model`. The matrix is shared: callers must
        not write to it.
        """
        # An in-memory database lives and dies with its Store: its matrices are kept on it.
        matrices = _MATRICES if self.path is not None else self.__dict__.setdefault("_mats", {})
        # The inode tells a database file from a new one created at the same path.
        where = f"{self.path.resolve()}@{self.path.stat().st_ino}" if self.path is not None else ""
        key = (where, model)
        with _MATRICES_LOCK:
            vm: VectorMatrix | None = matrices.get(key)
            top = int(self.scalar("SELECT coalesce(max(rowid), 0) FROM embeddings"))
            if vm is not None and top < vm.last_rowid:
                # Fewer rows than we have seen: the file was replaced. Read it afresh.
                vm = None
                del matrices[key]
            if vm is not None and top == vm.last_rowid:
                return vm
            cur = self.db.conn.execute(
                "SELECT rowid, text_id, dim, vector FROM embeddings WHERE model = ? AND rowid > ?"
                " ORDER BY rowid",
                (model, vm.last_rowid if vm else 0),
            )
            while True:
                chunk = cur.fetchmany(50_000)
                if not chunk:
                    break
                dims = {r[2] for r in chunk}
                if vm is None:
                    vm = VectorMatrix(model=model, dim=int(chunk[0][2]))
                    matrices[key] = vm
                if dims != {vm.dim}:
                    raise ValueError(
                        f"embeddings of {model!r} have mixed dimensions {sorted(dims)}"
                    )
                rows = np.frombuffer(b"".join(r[3] for r in chunk), dtype=np.float32)
                vm.update([int(r[1]) for r in chunk], rows.reshape(len(chunk), vm.dim))
                vm.last_rowid = int(chunk[-1][0])
            if vm is not None:
                vm.last_rowid = max(vm.last_rowid, top)
        return vm
