"""Brute-force nearest neighbours: the most similar rows of a matrix of unit vectors.

Every vector is a unit-length float32 row, so similarities are one matrix-vector product and
the top k an `argpartition`; exact, with nothing to build, persist or keep in step with the
store. Its cost is reading the matrix, so it is bound by memory bandwidth, and wall-clock time
grows with what else the machine runs (bench/retrieval.py; figures under "Retrieval" in
bench/RESULTS.md). An index (sqlite-vec, HNSW) would pay in the millions of vectors.
"""

from __future__ import annotations

import numpy as np


def similarities(matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
    """`matrix @ query` on one thread.

    einsum, not BLAS: OpenBLAS splits a matrix-vector product over its threads, and on a busy
    machine (2 cores shared with training and the UI) waking the second thread costs far more
    than the product itself on one (bench/retrieval.py measures both). The product is bound by
    memory bandwidth anyway, which a second thread does not add.
    """
    return np.einsum("ij,j->i", matrix, query)


def best_of(
    sims: np.ndarray, k: int, min_similarity: float = -1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the `k` largest of `sims` that are >= `min_similarity`, best first, and their
    values. `argpartition` finds them in O(n); only those k are sorted."""
    n = sims.shape[0]
    if n == 0 or k <= 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=sims.dtype)
    idx = np.argpartition(-sims, k - 1)[:k] if k < n else np.arange(n)
    idx = idx[np.argsort(-sims[idx], kind="stable")]
    top = sims[idx]
    keep = top >= min_similarity
    return idx[keep], top[keep]


def top_k(
    matrix: np.ndarray, query: np.ndarray, k: int, min_similarity: float = -1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of `matrix` most similar to `query` (both unit length): (row indices, similarities),
    best first, at most `k`, only those with similarity >= `min_similarity`."""
    if matrix.shape[0] == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.float32)
    return best_of(similarities(matrix, query), k, min_similarity)
