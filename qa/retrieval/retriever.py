"""The retrieval component: channels → fusion → second stage → passages, with one ``run()``."""

from __future__ import annotations


from embeddings.vector_index import VectorIndex

from ..analysis import content_terms
from ..types import Passage
from . import fusion
from .aliases import AliasTable, load_aliases
from .base import Query, Ranking
from .dense import DenseChannel, SentenceChannel
from .lexical import LexicalChannel
from .rescoring import (SENTENCE_DENSE_WEIGHT, SENTENCE_WEIGHT, drop_near_duplicates, sentence_coverage,
                        sentence_units, shingles)

__all__ = ["Retriever", "METHODS"]

METHODS = ("hybrid", "dense", "bm25", "rrf")
#: Candidates rescored at sentence level: the answerer reads 5, recall@20 is reported; 30
#: leaves room for duplicates removed after rescoring.
RESCORE_DEPTH = 30


class Retriever:
    """Ranks the passages of ``index`` for a query.

    ``method``: "dense" (FAISS only), "bm25" (lexical only), "rrf" (plain reciprocal rank fusion
    of the two) or "hybrid" (language-aware weighted fusion, sentence-level rescoring and
    near-duplicate removal: the product's default).
    """

    def __init__(self, index: VectorIndex, method: str = "hybrid", candidates: int = 50,
                 aliases: AliasTable | None = None, lexical: LexicalChannel | None = None):
        if method not in METHODS:
            raise ValueError(f"unknown retrieval method {method!r}; choose one of {', '.join(METHODS)}")
        self.index = index
        self.method = method
        self.candidates = candidates
        self.dense = DenseChannel(index)
        self.sentences = SentenceChannel(index)
        self.lexical = lexical or LexicalChannel(index, aliases or load_aliases())
        # per passage, computed on first use: sentence match units, word-trigram shingles
        self._sentence_cache: dict[int, list[set[str]]] = {}
        self._shingle_cache: dict[int, set] = {}

    def refresh(self) -> None:
        """Called after the index changed: the lexical channel rebuilds its matrix."""
        self.lexical.refresh()
        self.sentences.refresh()
        self._sentence_cache.clear()
        self._shingle_cache.clear()

    # ------------------------------------------------------------------ ranking
    def rank(self, query: Query, k: int) -> Ranking:
        """Passage ids and final scores, best first (at most ``k``)."""
        if self.method == "dense":
            return self.dense.search(query, k)
        if self.method == "bm25":
            return self.lexical.search(query, k)
        dense = self.dense.search(query, self.candidates)
        lexical = self.lexical.search(query, self.candidates)
        if self.method == "rrf":
            return fusion.rrf([dense, lexical])[:k]
        return self._hybrid(query, dense, lexical, k)

    def _hybrid(self, query: Query, dense: Ranking, lexical: Ranking, k: int) -> Ranking:
        """Language-aware fusion of passage, sentence and lexical evidence, then rescoring.

        Candidates: the top of the dense, lexical and best-sentence rankings. Fused score:
        ``(1 - w_lex) * dense + w_lex * bm25`` (both scaled to [0, 1] over the candidates,
        ``w_lex`` from :func:`fusion.lexical_weight`), plus the best sentence's cosine (scaled)
        times :data:`SENTENCE_DENSE_WEIGHT` for the question's language, plus, for the top
        :data:`RESCORE_DEPTH`, the best sentence's lexical coverage times
        :data:`SENTENCE_WEIGHT`. Near duplicates are dropped.
        """
        top_sentence = self.sentences.search(query, self.candidates)
        d = dict(dense)
        lex = dict(lexical)
        pool = set(d) | set(lex) | {pid for pid, _ in top_sentence}
        missing = [pid for pid in pool if pid not in d]
        if missing:  # exact cosines for candidates the dense channel did not return
            vecs = self.index.vectors(missing)
            d.update(zip(missing, (vecs @ query.vector).tolist()))
        terms = query.terms.get("lexical", [])
        crossing = len({t for t in terms if t in self.lexical.vocab})
        w_lex = fusion.lexical_weight(query.language, crossing, len(content_terms(query.text, query.language)))
        fused = dict(fusion.weighted(d, lex if w_lex > 0 else {}, w_lex))
        query.terms["dense"] = d
        # A passage indexed without sentence vectors (an index from an older version) is
        # judged by its passage cosine, not pushed to the bottom.
        best_sentence = self.sentences.best(query, list(fused))
        sent = fusion.minmax({pid: best_sentence.get(pid, d[pid]) for pid in fused})
        w_sent = SENTENCE_DENSE_WEIGHT[query.language]
        scored = sorted(((pid, s + w_sent * sent[pid]) for pid, s in fused.items()), key=lambda x: -x[1])
        head = scored[:RESCORE_DEPTH]
        rescored = []
        for pid, score in head:
            cov = sentence_coverage(terms, self._sentences(pid), self.lexical.idf) if terms and w_lex > 0 else 0.0
            rescored.append((pid, score + SENTENCE_WEIGHT * cov))
        rescored.sort(key=lambda x: -x[1])
        rescored = drop_near_duplicates(rescored, lambda x: self._shingles(x[0]))
        return (rescored + scored[RESCORE_DEPTH:])[:k]

    def _sentences(self, pid: int) -> list[set[str]]:
        """Match units (folded syllables, alias tokens) of each sentence of a passage, cached."""
        cached = self._sentence_cache.get(pid)
        if cached is None:
            p = self.index.passages[pid]
            cached = []
            for s, e in p.sentences:
                text = p.text[s - p.start:e - p.start]
                cached.append(sentence_units(text, self.lexical.aliases.tokens(text, normalized=True)))
            self._sentence_cache[pid] = cached
        return cached

    def _shingles(self, pid: int) -> set:
        sh = self._shingle_cache.get(pid)
        if sh is None:
            sh = self._shingle_cache[pid] = shingles(self.index.passages[pid].text)
        return sh

    # ------------------------------------------------------------------ output
    def run(self, query: Query, top_k: int) -> list[Passage]:
        """The ``top_k`` best passages as :class:`~qa.types.Passage` objects."""
        ranking = self.rank(query, max(top_k, self.candidates))[:top_k]
        dense = query.terms.get("dense", {})
        out = []
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
        p = self.index.passages[pid]
        doc = self.index.documents[p.doc_id]
        return Passage(id=pid, doc_id=p.doc_id, title=doc.title, source=doc.source, url=doc.url, text=p.text,
                       start=p.start, end=p.end, sentences=[tuple(s) for s in p.sentences], score=score,
                       rank=rank, scores=scores or {self.method: score})
