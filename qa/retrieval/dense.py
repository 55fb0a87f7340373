"""Dense channels: passage vectors in FAISS, and the stored sentence vectors."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from embeddings.stores import VectorStore

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
    passages are the ranking. Exact (flat) below :data:`embeddings.stores.ann.ANN_THRESHOLD`
    sentences, IVF beyond (100,000 passages hold ~400,000 sentences: a 600 MB float32 scan
    per question, 60-100 ms here). FAISS runs on one thread (see :func:`embeddings.stores.faiss.load_faiss`): a
    NumPy product over the same matrix fans out to two BLAS threads and took 0.2-35 ms for
    4,000 sentences on the busy machine. :meth:`best` gives exact best-sentence cosines for
    the passages asked about, from the stored float16 vectors.
    """

    name = "sentence"

    def __init__(self, index: VectorStore):
        self.index = index
        self._search_index = None
        #: FAISS id -> passage id; -1 for sentences removed from the IVF index. Flat: ids are
        #: rows (a removal rebuilds); IVF: ids are never reused until the next rebuild.
        self._owner = np.zeros(0, dtype=np.int64)
        #: passage id -> (first FAISS id, sentence count) of every passage read (count 0: none)
        self._slots: dict[int, tuple[int, int]] = {}
        self._live = 0  # sentences searchable now
        self._ivf = False  # whether _search_index is the IVF one
        self._version = -1

    def refresh(self, full: bool = False) -> None:
        """Follow the index: append the sentence vectors of added passages to the FAISS index
        (flat: ``add``; IVF: ``add_with_ids`` into the trained lists); drop removed passages
        (flat: rebuild, which keeps the rows in passage order; IVF: ``remove_ids``). Rebuilt
        from scratch (``full=True`` too) when the index is empty, when the collection crosses
        :data:`embeddings.stores.ann.ANN_THRESHOLD` either way, or when it has grown
        :data:`embeddings.stores.ann.RETRAIN_GROWTH` (4) times past the size the IVF was trained
        for (the same rule as the passage index: its lists were sized, 4 x sqrt(n), and
        trained for that n; at 4 x n they hold 4 times as many vectors each, so a query
        scans ~2x the vectors of a retrained index at similar recall, and retraining costs
        ~25 s at 390,000 sentences, BENCHMARKS.md). The flat index after additions equals
        the rebuilt one row for row, so exact searches return the same results."""
        from embeddings.stores import ann

        passages = self.index.passages
        stored = self.index.sentence_vectors
        if full or self._search_index is None:
            return self._rebuild()
        removed = [pid for pid in self._slots if pid not in passages]
        added = [pid for pid in passages if pid not in self._slots]
        gone = [np.arange(a, a + c) for a, c in (self._slots[p] for p in removed) if c]
        if gone and not self._ivf:
            return self._rebuild()
        for pid in removed:
            del self._slots[pid]
        if gone:
            gone_ids = np.concatenate(gone).astype(np.int64)
            self._search_index.remove_ids(gone_ids)
            self._owner[gone_ids] = -1
            self._live -= len(gone_ids)
        with_vectors = [pid for pid in added if len(stored.get(pid, ()))]
        live = self._live + sum(len(stored[p]) for p in with_vectors)
        if ann.use_ann(live) != self._ivf or (self._ivf and ann.needs_rebuild(self._search_index, live)):
            return self._rebuild()
        if with_vectors:
            matrix = np.ascontiguousarray(np.concatenate([stored[p] for p in with_vectors]).astype(np.float32))
            first = len(self._owner)
            if self._ivf:
                self._search_index.add_with_ids(matrix, np.arange(first, first + len(matrix), dtype=np.int64))
            else:
                self._search_index.add(matrix)
            sizes = [len(stored[p]) for p in with_vectors]
            self._owner = np.concatenate([self._owner, np.repeat(np.asarray(with_vectors, dtype=np.int64), sizes)])
            starts = first + np.concatenate([[0], np.cumsum(sizes)[:-1]])
            self._slots.update(zip(with_vectors, zip(starts.tolist(), sizes)))
            self._live = live
        self._slots.update((pid, (len(self._owner), 0)) for pid in added if not len(stored.get(pid, ())))
        self._version = len(passages)

    def _rebuild(self) -> None:
        """The search index over every stored sentence vector, in passage order."""
        from embeddings.stores import ann
        from embeddings.stores.faiss import load_faiss

        stored = self.index.sentence_vectors
        pids = [pid for pid in self.index.passages if len(stored.get(pid, ()))]
        self._search_index = None
        self._owner = np.zeros(0, dtype=np.int64)
        self._slots = dict.fromkeys(self.index.passages, (0, 0))
        self._live = 0
        self._ivf = False
        if pids:
            sizes = [len(stored[p]) for p in pids]
            matrix = np.ascontiguousarray(np.concatenate([stored[p] for p in pids]).astype(np.float32))
            self._owner = np.repeat(np.asarray(pids, dtype=np.int64), sizes)
            starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
            self._slots.update(zip(pids, zip(starts.tolist(), sizes)))
            self._live = len(matrix)
            self._ivf = ann.use_ann(len(matrix))
            if self._ivf:
                self._search_index = ann.build(matrix, np.arange(len(matrix)))
            else:
                self._search_index = load_faiss().IndexFlatIP(matrix.shape[1])
                self._search_index.add(matrix)
        self._version = len(self.index.passages)

    def _ensure(self) -> None:
        if self._version != len(self.index.passages):
            self.refresh()

    def best(self, query: Query, pids: Iterable[int]) -> dict[int, float]:
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
