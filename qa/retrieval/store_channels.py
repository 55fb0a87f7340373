"""The sentence and lexical channels for a store that keeps nothing per passage in the process
(:attr:`embeddings.stores.VectorStore.in_memory` False: Milvus).

They answer the same questions as :class:`~qa.retrieval.dense.SentenceChannel` and
:class:`~qa.retrieval.lexical.LexicalChannel`, with the work done by the store: the sentence
search runs over the stored sentence vectors in the engine, the best-sentence cosines read only
the candidates' vectors, BM25 runs in the engine over the same Vietnamese terms (the query's,
from :func:`~qa.retrieval.lexical.query_terms`), and the IDF weights of sentence rescoring and
of the answerers are document frequencies of the question's own terms, asked when needed and
cached by the store. Nothing here grows with the collection, and filters are applied by the
store inside each search (``query.filters``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import numpy as np

from embeddings.stores import VectorStore
from embeddings.stores.base import bm25_idf

from .aliases import AliasTable
from .base import Query, Ranking
from .lexical import terms_of
from .rescoring import _units

__all__ = ["StoreLexicalChannel", "StoreSentenceChannel"]


class StoreSentenceChannel:
    """Passages ranked by their best-matching sentence, searched in the store."""

    name = "sentence"

    def __init__(self, index: VectorStore):
        self.index = index

    def refresh(self, full: bool = False) -> None:
        """Nothing to rebuild: the store searches its own sentence vectors."""

    def search(self, query: Query, k: int) -> Ranking:
        if query.vector is None or k <= 0:
            return []
        return self.index.search_sentences(query.vector, k, filter=query.filters)

    def best(self, query: Query, pids: Iterable[int]) -> dict[int, float]:
        """Exact best sentence cosine of each of ``pids`` that has sentence vectors (one read
        of their vectors)."""
        stored = self.index.get_sentence_vectors(pids)
        pids = [p for p in stored if len(stored[p])]
        if not pids:
            return {}
        sizes = [len(stored[p]) for p in pids]
        sims = np.einsum("ij,j->i", np.concatenate([stored[p] for p in pids]).astype(np.float32),
                         query.vector.astype(np.float32))
        best = np.maximum.reduceat(sims, np.concatenate([[0], np.cumsum(sizes)[:-1]]))
        return dict(zip(pids, best.tolist()))


def _unit_term(unit: str) -> str:
    """The stored term whose document frequency weighs a rescoring unit (the in-memory channel's
    IDF table keys: folded syllables without their ``~``, alias tokens with their ``@``)."""
    return unit if unit.startswith("@") else "~" + unit


class _Idf(Mapping):
    """unit -> BM25 IDF over the store's passages, for the units that occur (see ``_unit_term``)."""

    def __init__(self, index: VectorStore):
        self._index = index

    def _df(self, unit: str) -> tuple[int, int]:
        n, df = self._index.document_frequencies([_unit_term(unit)])
        return n, df.get(_unit_term(unit), 0)

    def __contains__(self, unit: object) -> bool:
        return isinstance(unit, str) and self._df(unit)[1] > 0

    def __getitem__(self, unit: str) -> float:
        n, df = self._df(unit)
        if not df:
            raise KeyError(unit)
        return bm25_idf(df, n)

    def __iter__(self) -> Iterator[str]:  # the vocabulary lives in the store: nothing to list here
        return iter(())

    def __len__(self) -> int:
        return 0


class _Vocab:
    """``term in vocab``: some passage holds the term."""

    def __init__(self, index: VectorStore):
        self._index = index

    def __contains__(self, term: object) -> bool:
        return isinstance(term, str) and self._index.document_frequencies([term])[1].get(term, 0) > 0


class StoreLexicalChannel:
    """BM25 in the store over the terms of :func:`~qa.retrieval.lexical.passage_terms`; the
    same interface as :class:`~qa.retrieval.lexical.LexicalChannel` for fusion and answering
    (``search``, ``idf``, ``vocab``, ``aliases``)."""

    name = "bm25"

    def __init__(self, index: VectorStore, aliases: AliasTable):
        self.index = index
        self.aliases = aliases
        self.idf = _Idf(index)
        self.vocab = _Vocab(index)

    def refresh(self, full: bool = False) -> None:
        """Nothing to rebuild: the store keeps the statistics (and caches what it reads)."""

    def search(self, query: Query, k: int) -> Ranking:
        """The ``k`` best passages passing ``query.filters``; also reads, in one go, the document
        frequencies that fusion and rescoring will ask about (the query's terms and units)."""
        terms = terms_of(query, self.aliases)
        if not terms:
            return []
        units = dict.fromkeys(u for t in terms for u in _units(t))
        self.index.document_frequencies(list(dict.fromkeys(terms + [_unit_term(u) for u in units])))
        return self.index.lexical_search(terms, k, filter=query.filters)

