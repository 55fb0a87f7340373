"""Dense channels: passage vectors in FAISS, and the stored sentence vectors."""

from __future__ import annotations

import numpy as np

from embeddings.store import VectorStore

from .base import Query, Ranking

__all__ = ["DenseChannel", "SentenceChannel"]

#: Sentences fetched per passage wanted when the sentence channel searches its IVF index:
#: passages hold ~5 sentences and a relevant passage often has several near the question,
#: so 4 x k sentences yield k distinct passages in practice.
SENTENCE_HITS = 4


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
    sentence matches well.

    Ranking: a FAISS search for the nearest :data:`SENTENCE_HITS` x k sentences (repeated
    with more hits in the rare case they hold fewer than k passages); the first k distinct
    passages are the ranking. Exact (flat) below :data:`embeddings.ann.ANN_THRESHOLD`
    sentences, IVF beyond (100,000 passages hold ~400,000 sentences: a 600 MB float32 scan
    per question, 60-100 ms here). FAISS runs on one thread (see ``vector_index._faiss``): a
    NumPy product over the same matrix fans out to two BLAS threads and took 0.2-35 ms for
    4,000 sentences on the busy machine. :meth:`best` gives exact best-sentence cosines for
    the passages asked about, from the stored float16 vectors.
    """

    name = "sentence"

    def __init__(self, index: VectorStore):
        self.index = index
        self._search_index = None
        self._owner = np.zeros(0, dtype=np.int64)
        self._version = -1

    def refresh(self) -> None:
        from embeddings import ann
        from embeddings.vector_index import _faiss

        stored = self.index.sentence_vectors
        pids = [pid for pid in self.index.passages if len(stored.get(pid, ()))]
        self._search_index = None
        self._owner = np.zeros(0, dtype=np.int64)
        if pids:
            matrix = np.ascontiguousarray(np.concatenate([stored[p] for p in pids]).astype(np.float32))
            self._owner = np.repeat(np.asarray(pids, dtype=np.int64), [len(stored[p]) for p in pids])
            if ann.use_ann(len(matrix)):
                self._search_index = ann.build(matrix, np.arange(len(matrix)))
            else:
                self._search_index = _faiss().IndexFlatIP(matrix.shape[1])
                self._search_index.add(matrix)
        self._version = len(self.index.passages)

    def _ensure(self) -> None:
        if self._version != len(self.index.passages):
            self.refresh()

    def best(self, query: Query, pids) -> dict[int, float]:
        """Exact best sentence cosine of each of ``pids`` that has sentence vectors."""
        stored = self.index.sentence_vectors
        pids = [p for p in pids if len(stored.get(p, ()))]
        if not pids:
            return {}
        sizes = [len(stored[p]) for p in pids]
        sims = np.einsum("ij,j->i", np.concatenate([stored[p] for p in pids]).astype(np.float32),
                         query.vector.astype(np.float32))  # einsum: no BLAS threads (see above)
        best = np.maximum.reduceat(sims, np.concatenate([[0], np.cumsum(sizes)[:-1]]))
        return dict(zip(pids, best.tolist()))

    def search(self, query: Query, k: int) -> Ranking:
        self._ensure()
        if self._search_index is None or k <= 0:
            return []
        q = np.ascontiguousarray(query.vector[None, :], dtype=np.float32)
        total = self._search_index.ntotal
        hits = min(total, SENTENCE_HITS * k)
        while True:
            sims, rows = self._search_index.search(q, hits)
            out, seen = [], set()
            for r, s in zip(rows[0].tolist(), sims[0].tolist()):
                if r < 0:
                    continue
                pid = int(self._owner[r])
                if pid not in seen:
                    seen.add(pid)
                    out.append((pid, float(s)))
                    if len(out) == k:
                        return out
            if hits >= total:
                return out
            hits = min(total, hits * 4)
