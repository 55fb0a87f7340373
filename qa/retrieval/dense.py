"""Dense channels: passage vectors in FAISS, and the stored sentence vectors."""

from __future__ import annotations

import numpy as np

from embeddings.vector_index import VectorIndex

from .base import Query, Ranking

__all__ = ["DenseChannel", "SentenceChannel"]

#: Sentences fetched per passage wanted when the sentence channel searches its IVF index:
#: passages hold ~5 sentences and a relevant passage often has several near the question,
#: so 4 x k sentences yield k distinct passages in practice.
SENTENCE_HITS = 4


class DenseChannel:
    """Nearest passages to the query vector (cross-lingual by construction)."""

    name = "dense"

    def __init__(self, index: VectorIndex):
        self.index = index

    def search(self, query: Query, k: int) -> Ranking:
        if query.vector is None:
            raise ValueError("the dense channel needs query.vector")
        return self.index.search(query.vector, k)[0]


class SentenceChannel:
    """Passages ranked by their best-matching sentence (max over stored sentence vectors).

    A question usually targets one sentence; a passage vector averages that sentence with its
    neighbours, so the answer-bearing passage can rank low on the passage vector while its
    sentence matches well.

    Ranking: one matrix product over all sentences, a per-passage max and a partial sort —
    while the index holds fewer than :data:`embeddings.ann.ANN_THRESHOLD` sentences. Beyond
    that (100,000 passages hold ~500,000 sentences: a 770 MB float32 scan per question, ~100
    ms here) an IVF index over the sentences returns the nearest :data:`SENTENCE_HITS` x k
    sentences and the first k distinct passages among them are the ranking (approximate, like
    the passage search at that size; see BENCHMARKS.md "ask() latency by index size").
    :meth:`best` always computes exact best-sentence cosines, for the given passages only.
    """

    name = "sentence"

    def __init__(self, index: VectorIndex):
        self.index = index
        self._matrix: np.ndarray | None = None
        self._starts = np.zeros(0, dtype=np.int64)
        self._sizes = np.zeros(0, dtype=np.int64)
        self._pids = np.zeros(0, dtype=np.int64)
        self._slot: dict[int, int] = {}
        self._owner = np.zeros(0, dtype=np.int64)
        self._ann = None
        self._version = -1

    def refresh(self) -> None:
        from embeddings import ann

        stored = self.index.sentence_vectors
        pids = [pid for pid in self.index.passages if len(stored.get(pid, ()))]
        self._ann = None
        if pids:
            self._matrix = np.ascontiguousarray(np.concatenate([stored[p] for p in pids]).astype(np.float32))
            self._sizes = np.array([len(stored[p]) for p in pids], dtype=np.int64)
            self._starts = np.concatenate([[0], np.cumsum(self._sizes)[:-1]])
            self._owner = np.repeat(np.asarray(pids, dtype=np.int64), self._sizes)
            if ann.use_ann(len(self._matrix)):
                self._ann = ann.build(self._matrix, np.arange(len(self._matrix)))
        else:
            self._matrix = None
            self._starts = self._sizes = self._owner = np.zeros(0, dtype=np.int64)
        self._pids = np.asarray(pids, dtype=np.int64)
        self._slot = {pid: i for i, pid in enumerate(pids)}
        self._version = len(self.index.passages)

    def _ensure(self) -> None:
        if self._version != len(self.index.passages):
            self.refresh()

    def best(self, query: Query, pids=None) -> dict[int, float]:
        """Exact best sentence cosine of ``pids`` (default: every passage) that have sentence vectors."""
        self._ensure()
        if self._matrix is None:
            return {}
        q = query.vector.astype(np.float32)
        if pids is None:
            return dict(zip(self._pids.tolist(), np.maximum.reduceat(self._matrix @ q, self._starts).tolist()))
        slots = np.array([self._slot[p] for p in pids if p in self._slot], dtype=np.int64)
        if not len(slots):
            return {}
        rows = np.concatenate([np.arange(a, a + n) for a, n in zip(self._starts[slots], self._sizes[slots])])
        offsets = np.concatenate([[0], np.cumsum(self._sizes[slots])[:-1]])
        best = np.maximum.reduceat(self._matrix[rows] @ q, offsets)
        return dict(zip(self._pids[slots].tolist(), best.tolist()))

    def search(self, query: Query, k: int) -> Ranking:
        self._ensure()
        if self._matrix is None or k <= 0:
            return []
        q = query.vector.astype(np.float32)
        if self._ann is not None:
            sims, rows = self._ann.search(q[None, :], min(len(self._matrix), SENTENCE_HITS * k))
            out, seen = [], set()
            for r, s in zip(rows[0].tolist(), sims[0].tolist()):
                pid = int(self._owner[r]) if r >= 0 else None
                if pid is not None and pid not in seen:
                    seen.add(pid)
                    out.append((pid, float(s)))
                    if len(out) == k:
                        break
            return out
        best = np.maximum.reduceat(self._matrix @ q, self._starts)
        k = min(k, len(best))
        top = np.argpartition(-best, k - 1)[:k]
        top = top[np.argsort(-best[top], kind="stable")]
        return [(int(self._pids[i]), float(best[i])) for i in top]
