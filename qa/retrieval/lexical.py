"""Lexical channel: BM25 (bm25s) over Vietnamese-aware terms.

Why bm25s: a maintained, pure-Python/NumPy BM25 on sparse matrices (scores 10k passages in
well under a millisecond per query, no JVM, no pickled state); we feed it our own terms.

Terms of a passage (see :func:`passage_terms`):

* exact syllables, lower-cased (``ngoại``, ``trưởng``);
* compound words from ``underthesea.word_tokenize`` (more accurate than pyvi on news text, and
  already our sentence splitter), joined with ``_`` (``ngoại_trưởng``) — a compound match is
  stronger evidence than two syllables that happen to co-occur;
* folded syllables prefixed ``~`` (``~ngoai``) so a question typed without diacritics matches;
* alias-group tokens (``@john_kerry``, see :mod:`qa.retrieval.aliases`).

Query terms depend on the question (see :func:`query_terms`): a Vietnamese question with
diacritics uses exact syllables, compounds and aliases; one typed without diacritics uses
folded syllables and aliases; an English question uses only what crosses languages — names
(capitalised words), numbers and aliases — since its other words never occur in Vietnamese
text except by accident ("an", "to", "con").
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import lru_cache

import numpy as np

from corpus.normalize import fold_diacritics
from embeddings.vector_index import VectorIndex

from ..analysis import EN_STOP, VI_STOP
from .aliases import AliasTable
from .base import Query, Ranking

__all__ = ["LexicalChannel", "passage_terms", "query_terms", "has_diacritics"]

_SYL = re.compile(r"\w+", re.U)
_NAME = re.compile(r"\b[A-ZĐ][\w'-]*|\b\w*\d\w*", re.U)
#: BM25 parameters: k1=1.2, b=0.75 are the Lucene/Robertson defaults; short news passages
#: of similar length leave little to gain from tuning b.
K1, B = 1.2, 0.75


def has_diacritics(text: str) -> bool:
    return fold_diacritics(text) != text.lower()


@lru_cache(maxsize=1)
def _word_tokenize():
    from underthesea import word_tokenize

    return word_tokenize


def passage_terms(text: str, aliases: AliasTable) -> list[str]:
    """All index terms of a passage (its title included by the caller)."""
    lower = text.lower()
    syl = _SYL.findall(lower)
    terms = list(syl)
    terms += ["~" + fold_diacritics(s) for s in syl]
    for w in _word_tokenize()(text):
        parts = _SYL.findall(w.lower())
        if len(parts) > 1:
            terms.append("_".join(parts))
    terms += aliases.tokens(text)
    return terms


def query_terms(query: Query, aliases: AliasTable) -> list[str]:
    """The terms a question is searched with (see module docstring)."""
    text = query.text
    alias = aliases.tokens(text)
    if query.language == "en":
        words = [m.group(0) for m in _NAME.finditer(text)]
        words = [w for w in words if w.lower() not in EN_STOP]
        out: list[str] = []
        for w in words:
            out += ["~" + fold_diacritics(s) for s in _SYL.findall(w.lower())]
        return out + alias
    syl = [s for s in _SYL.findall(text.lower()) if fold_diacritics(s) not in VI_STOP]
    if not has_diacritics(text):
        return ["~" + fold_diacritics(s) for s in syl] + alias
    compounds = ["_".join(p) for p in (_SYL.findall(w.lower()) for w in _word_tokenize()(text)) if len(p) > 1]
    compounds = [c for c in compounds if not all(fold_diacritics(p) in VI_STOP for p in c.split("_"))]
    return syl + compounds + alias


class LexicalChannel:
    """BM25 over the terms stored with each passage (``StoredPassage.extra["terms"]``)."""

    name = "bm25"

    def __init__(self, index: VectorIndex, aliases: AliasTable):
        self.index = index
        self.aliases = aliases
        self._bm25 = None
        self._ids: np.ndarray = np.zeros(0, dtype=np.int64)
        self._row: dict[int, int] = {}
        self._idf: dict[str, float] = {}

    def refresh(self) -> None:
        """Rebuild the BM25 matrix from the stored terms (computing any that are missing)."""
        import bm25s

        ids, corpus = [], []
        for pid, p in self.index.passages.items():
            terms = p.extra.get("terms")
            if terms is None:
                title = self.index.documents[p.doc_id].title
                terms = p.extra["terms"] = passage_terms(f"{title}\n{p.text}" if title else p.text, self.aliases)
            ids.append(pid)
            corpus.append(terms)
        df: Counter[str] = Counter()
        for terms in corpus:
            df.update({t.lstrip("~") for t in terms if t[:1] in ("~", "@")})
        n = max(1, len(corpus))
        # BM25's (Lucene) IDF of folded syllables and alias tokens, for sentence-level rescoring
        self._idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        self._ids = np.asarray(ids, dtype=np.int64)
        self._row = {pid: i for i, pid in enumerate(ids)}
        if corpus:
            bm25 = bm25s.BM25(k1=K1, b=B)
            bm25.index(corpus, show_progress=False)
            self._bm25 = bm25
        else:
            self._bm25 = None

    def _ensure(self) -> None:
        if self._bm25 is None or len(self._ids) != len(self.index.passages):
            self.refresh()

    def scores(self, query: Query) -> np.ndarray:
        """BM25 score of every passage (aligned with :attr:`ids`)."""
        self._ensure()
        terms = query.terms.get("lexical")
        if terms is None:
            terms = query.terms["lexical"] = query_terms(query, self.aliases)
        if self._bm25 is None or not terms:
            return np.zeros(len(self._ids), dtype=np.float32)
        vocab = self._bm25.vocab_dict
        known = [t for t in terms if t in vocab]
        if not known:
            return np.zeros(len(self._ids), dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)

    @property
    def idf(self) -> dict[str, float]:
        """IDF of folded syllables (without ``~``) and alias tokens over the passages."""
        self._ensure()
        return self._idf

    @property
    def vocab(self) -> dict:
        """BM25 vocabulary (term -> column); empty for an empty index."""
        self._ensure()
        return self._bm25.vocab_dict if self._bm25 is not None else {}

    @property
    def ids(self) -> np.ndarray:
        self._ensure()
        return self._ids

    def search(self, query: Query, k: int) -> Ranking:
        s = self.scores(query)
        if not len(s):
            return []
        k = min(k, len(s))
        top = np.argpartition(-s, k - 1)[:k]
        top = top[np.argsort(-s[top], kind="stable")]
        return [(int(self._ids[i]), float(s[i])) for i in top if s[i] > 0]
