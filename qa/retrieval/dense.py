"""Dense channels: passage vectors in FAISS, and the stored sentence vectors."""

from __future__ import annotations

import numpy as np

from embeddings.store import VectorStore

from .base import Query, Ranking

__all__ = ["DenseChannel", "SentenceChannel"]


class DenseChannel:
    """Nearest passages to the query vector (cross-lingual by construction)."""

    name = "dense"

    def __init__(self, index: VectorStore):
        self.index = index

    def search(self, query: Query, k: int) -> Ranking:
        if query.vector is None:
            raise ValueError("the dense channel needs query.vector")
        if query.filters is not None:
            return self.index.search(query.vector, k, filter=query.filters)[0]
        return self.index.search(query.vector, k)[0]


class SentenceChannel:
    """Passages ranked by their best-matching sentence (max over stored sentence vectors).

    A question usually targets one sentence; a passage vector averages that sentence with its
    neighbours, so the answer-bearing passage can rank low on the passage vector while its
    sentence matches well. One matrix product over all sentences (50,000 x 384 for a
    10,000-passage index, ~20 ms... see BENCHMARKS.md) then a per-passage max.
    """

    name = "sentence"

    def __init__(self, index: VectorStore):
        self.index = index
        self._matrix: np.ndarray | None = None
        self._starts = np.zeros(0, dtype=np.int64)
        self._pids = np.zeros(0, dtype=np.int64)
        self._version = -1

    def refresh(self) -> None:
        stored = self.index.sentence_vectors
        pids = [pid for pid in self.index.passages if len(stored.get(pid, ()))]
        if pids:
            self._matrix = np.ascontiguousarray(np.concatenate([stored[p] for p in pids]).astype(np.float32))
            sizes = np.array([len(stored[p]) for p in pids], dtype=np.int64)
            self._starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        else:
            self._matrix = None
            self._starts = np.zeros(0, dtype=np.int64)
        self._pids = np.asarray(pids, dtype=np.int64)
        self._version = len(self.index.passages)

    def best(self, query: Query) -> dict[int, float]:
        """Best sentence cosine of every passage that has sentence vectors."""
        if self._version != len(self.index.passages):
            self.refresh()
        if self._matrix is None:
            return {}
        sims = self._matrix @ query.vector.astype(np.float32)
        best = np.maximum.reduceat(sims, self._starts)
        return dict(zip(self._pids.tolist(), best.tolist()))

    def search(self, query: Query, k: int) -> Ranking:
        best = self.best(query)
        return sorted(best.items(), key=lambda x: -x[1])[:k]
