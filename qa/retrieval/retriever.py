"""The retrieval component: channels → fusion → second stage → passages, with one ``run()``.

Thread safety: the Gradio app answers several questions at once (worker threads) while
documents may be added. Searching and answering happen under :meth:`Retriever.reading` (many at
a time); changing the index and rebuilding the channels under :meth:`Retriever.writing` (alone),
so a search never sees a half-added document or a channel built for another set of passages.
The lazy first build of the channels' matrices is serialized too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from embeddings.stores import MergeReport, VectorStore

from ..config import RETRIEVAL_METHODS
from ..types import Passage
from . import fusion
from .aliases import AliasTable, load_aliases
from .base import Query, Ranking
from .dense import DenseChannel, SentenceChannel
from .lexical import LexicalChannel
from .rescoring import (
    sentence_units,
    shingles,
)
from .store_channels import StoreLexicalChannel, StoreSentenceChannel

__all__ = ["ReadWriteLock", "Retriever"]


class ReadWriteLock:
    """Many readers or one writer; a waiting writer goes first (questions keep coming in a busy
    app, and must not keep an upload waiting forever). A thread that already reads may read
    again (nested) without waiting, and the writer may write again (nested). Thirty lines on
    :class:`threading.Condition` rather than a dependency (``readerwriterlock`` on PyPI does the
    same, without the nesting)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._owner: int | None = None  # the writing thread
        self._depth = 0  # its nesting
        self._writers_waiting = 0
        self._local = threading.local()

    @contextmanager
    def read(self) -> Iterator[None]:
        nested = getattr(self._local, "depth", 0)
        with self._cond:
            while self._writer or (self._writers_waiting and not nested):
                self._cond.wait()
            self._readers += 1
        self._local.depth = nested + 1
        try:
            yield
        finally:
            self._local.depth = nested
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            if self._writer and self._owner == me:  # nested write of the same thread
                self._depth += 1
            else:
                self._writers_waiting += 1
                while self._writer or self._readers:
                    self._cond.wait()
                self._writers_waiting -= 1
                self._writer, self._owner, self._depth = True, me, 1
        try:
            yield
        finally:
            with self._cond:
                self._depth -= 1
                if not self._depth:
                    self._writer, self._owner = False, None
                    self._cond.notify_all()


class Retriever:
    """Ranks the passages of ``index`` for a query.

    ``method``: "dense" (FAISS only), "bm25" (lexical only), "rrf" (plain reciprocal rank fusion
    of the two) or "hybrid" (language-aware weighted fusion, sentence-level rescoring and
    near-duplicate removal: the product's default).

    A store that keeps nothing per passage in the process (``index.in_memory`` False: Milvus)
    gets the channels of :mod:`qa.retrieval.store_channels`, which search in the store, and
    bounded per-passage caches; the fusion is the same.
    """

    #: Per-passage cache entries kept for a store that is not in memory (a question touches ~150).
    REMOTE_CACHE = 20_000

    def __init__(self, index: VectorStore, method: str = "hybrid", candidates: int = 50,
                 aliases: AliasTable | None = None, lexical: LexicalChannel | None = None) -> None:
        if method not in RETRIEVAL_METHODS:
            raise ValueError(f"unknown retrieval method {method!r}; choose one of {', '.join(RETRIEVAL_METHODS)}")
        self.index = index
        self.method = method
        self.candidates = candidates
        self.dense = DenseChannel(index)
        if index.in_memory:
            self.sentences = SentenceChannel(index)
            self.lexical = lexical or LexicalChannel(index, aliases or load_aliases())
        else:
            self.sentences = StoreSentenceChannel(index)
            self.lexical = lexical or StoreLexicalChannel(index, aliases or load_aliases())
        # per passage, computed on first use: sentence match units, word-trigram shingles
        self._sentence_cache: dict[int, list[set[str]]] = {}
        self._shingle_cache: dict[int, set] = {}
        self.lock = ReadWriteLock()
        self._warm_lock = threading.Lock()
        self._warm_size = -1  # passages the channels were last built for
        # another writer's commit merged by the store (VectorStore.sync / commit) changes the
        # passages: under the write lock, and the channels follow at once
        index.change_guard = self._guarded_change

    def _guarded_change(self, apply: Callable[[], MergeReport]) -> MergeReport:
        with self.writing():
            report = apply()
            if report.changed:
                self.refresh()
            return report

    def refresh(self, full: bool = False) -> None:
        """Called after the index changed (under :meth:`writing`). Incremental: the lexical
        channel adds the new passages' terms and recomputes its BM25 weights (the same scores
        as a rebuild), the sentence channel appends their sentence vectors; ``full=True``
        rebuilds both from every stored passage (what every change cost before: 33-52 s at
        100,000 passages depending on the machine's load, BENCHMARKS.md)."""
        self.lexical.refresh(full=full)
        self.sentences.refresh(full=full)
        if not self.index.in_memory:  # nothing to rebuild; ids of removed passages are never reused
            return
        if full:
            self._sentence_cache.clear()
            self._shingle_cache.clear()
        else:  # passage ids are never reused: only removed passages' entries go
            passages = self.index.passages
            for cache in (self._sentence_cache, self._shingle_cache):
                for pid in [p for p in cache if p not in passages]:
                    del cache[pid]
        self._warm_size = len(self.index.passages)

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Hold while searching and answering: the index and channels do not change meanwhile."""
        with self.lock.read():
            self._warm()
            yield

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold while changing the index (and calling :meth:`refresh`): no search runs meanwhile."""
        with self.lock.write():
            yield

    def _warm(self) -> None:
        """Build stale channel matrices once, before any reader uses them (they are otherwise
        built lazily on first use, which concurrent readers would do at the same time). Passage
        ids are never reused, so the per-passage caches stay valid when passages are added."""
        if not self.index.in_memory:
            return  # the store's channels build nothing here
        n = len(self.index.passages)
        if self._warm_size == n:
            return
        with self._warm_lock:
            if self._warm_size != n:
                self.lexical.ids  # noqa: B018 - the property rebuilds a stale BM25 matrix
                if self.sentences._version != n:
                    self.sentences.refresh()
                self._warm_size = n

    # ------------------------------------------------------------------ ranking
    def rank(self, query: Query, k: int) -> Ranking:
        """Passage ids and final scores, best first (at most ``k``), among the passages that
        pass ``query.filters`` when it is set (the store filters the dense search): the
        method's strategy (:data:`qa.retrieval.fusion.STRATEGIES`)."""
        return fusion.STRATEGIES[self.method](self, query, k)

    def lexical_ranking(self, query: Query, k: int) -> Ranking:
        """The lexical channel's top ``k``, among the passages passing ``query.filters``."""
        if not self.index.in_memory:
            return self.lexical.search(query, k)  # filtered in the store
        allowed = self.index.filter_ids(query.filters)
        if allowed is None:
            return self.lexical.search(query, k)
        s = self.lexical.scores(query).copy()
        ids = self.lexical.ids
        s[~np.isin(ids, np.fromiter(allowed, dtype=np.int64, count=len(allowed)))] = 0.0
        top = np.argsort(-s, kind="stable")[:k]
        return [(int(ids[i]), float(s[i])) for i in top if s[i] > 0]

    def sentence_units(self, pid: int) -> list[set[str]]:
        """Match units (folded syllables, alias tokens) of each sentence of a passage, cached."""
        cached = self._sentence_cache.get(pid)
        if cached is None:
            p = self.index.get_passages([pid], extra=False)[pid]
            cached = []
            for s, e in p.sentences:
                text = p.text[s - p.start:e - p.start]
                cached.append(sentence_units(text, self.lexical.aliases.tokens(text, normalized=True)))
            self._remember(self._sentence_cache, pid, cached)
        return cached

    def _remember(self, cache: dict, pid: int, value: object) -> None:
        if not self.index.in_memory and len(cache) >= self.REMOTE_CACHE:
            del cache[next(iter(cache))]  # the oldest entry (dicts keep insertion order)
        cache[pid] = value

    def shingles(self, pid: int) -> set:
        """Word-trigram shingles of a passage (near-duplicate removal), cached."""
        sh = self._shingle_cache.get(pid)
        if sh is None:
            sh = shingles(self.index.get_passages([pid], extra=False)[pid].text)
            self._remember(self._shingle_cache, pid, sh)
        return sh

    # ------------------------------------------------------------------ output
    def run(self, query: Query, top_k: int) -> list[Passage]:
        """The ``top_k`` best passages as :class:`~qa.types.Passage` objects."""
        ranking = self.rank(query, max(top_k, self.candidates))[:top_k]
        dense = query.dense_scores
        out = []
        self.index.get_passages([pid for pid, _ in ranking], extra=False)  # one read for a remote store
        for rank, (pid, score) in enumerate(ranking, 1):
            scores = {self.method: score}
            if query.vector is not None:  # the relevance gate reads the cosine, whatever the method
                cos = dense.get(pid)
                if cos is None:
                    cos = float(self.index.vectors([pid])[0] @ query.vector)
                scores["dense"] = cos
            out.append(self.to_passage(pid, score, rank, scores))
        return out

    def to_passage(self, pid: int, score: float, rank: int, scores: dict | None = None) -> Passage:
        p = self.index.get_passages([pid], extra=False)[pid]
        doc = self.index.get_documents([p.doc_id], text=False)[p.doc_id]
        return Passage(id=pid, doc_id=p.doc_id, title=doc.title, source=doc.source, url=doc.url, text=p.text,
                       start=p.start, end=p.end, sentences=[tuple(s) for s in p.sentences], score=score,
                       rank=rank, scores=scores or {self.method: score})
