"""Fusion of the dense and lexical channels, chosen by what the scores can say; one strategy per
retrieval method (:data:`STRATEGIES`, keyed by :data:`qa.config.RETRIEVAL_METHODS`).

* ``rrf``: reciprocal rank fusion, ``sum 1 / (RRF_K + rank)``. It needs only ranks, so it is
  the method for channels whose scores are not comparable; kept as the "plain RRF" peer.
* ``weighted`` (the product's): both channels here give scores — a cosine in [-1, 1] and a
  BM25 score that we scale by the best candidate's — so a convex combination keeps the
  information RRF throws away (how much better the first candidate is than the tenth), and
  its lexical weight depends on the question's language (:func:`lexical_weight`). The
  product's ``hybrid`` adds the best sentence's cosine and, for the top candidates, its lexical
  coverage (qa/retrieval/rescoring.py), and drops near duplicates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..config import RETRIEVAL_METHODS
from ..text.analysis import content_terms
from .base import Query, Ranking
from .rescoring import (
    SENTENCE_DENSE_WEIGHT,
    SENTENCE_WEIGHT,
    drop_near_duplicates,
    sentence_coverage,
)

if TYPE_CHECKING:  # pragma: no cover
    from .retriever import Retriever

__all__ = ["rrf", "weighted", "minmax", "lexical_weight", "RRF_K", "VI_LEXICAL_WEIGHT", "EN_LEXICAL_WEIGHT",
           "RESCORE_DEPTH", "STRATEGIES", "Strategy"]

#: The constant of Cormack et al. (2009): 60 damps the head of each list so that a passage
#: ranked well by both channels beats one ranked first by a single channel; the original paper
#: found it robust across collections, and it is the usual default (Elasticsearch, Haystack).
RRF_K = 60

#: Lexical share for Vietnamese questions. On the MLQA-vi dev set BM25 alone is about as good
#: as dense alone for Vietnamese questions (R@5 0.838 vs 0.832) and the two err on different
#: questions, so they share the score almost equally (see BENCHMARKS.md for the sweep).
VI_LEXICAL_WEIGHT = 0.45
#: Lexical share for English questions over Vietnamese text, applied only when the question
#: has terms that cross languages (names, numbers, aliases) and scaled by their share of
#: the question: BM25 on English words is noise (R@5 0.366), but a shared name is evidence.
EN_LEXICAL_WEIGHT = 0.3
#: Candidates rescored at sentence level: the answerer reads 5, recall@20 is reported; 30
#: leaves room for duplicates removed after rescoring.
RESCORE_DEPTH = 30


def rrf(rankings: list[Ranking], k: int = RRF_K) -> Ranking:
    """Reciprocal rank fusion of several rankings."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, (pid, _) in enumerate(ranking, 1):
            scores[pid] = scores.get(pid, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda x: -x[1])


def lexical_weight(language: str, crossing_terms: int, all_terms: int) -> float:
    """How much the lexical channel counts for this question (see the constants above)."""
    if language == "vi":
        return VI_LEXICAL_WEIGHT
    if all_terms == 0 or crossing_terms == 0:
        return 0.0
    return EN_LEXICAL_WEIGHT * min(1.0, crossing_terms / max(1, all_terms) * 2)


def minmax(scores: dict[int, float]) -> dict[int, float]:
    """Scale scores to [0, 1] over the candidates (all 1.0 when they are equal)."""
    if not scores:
        return {}
    lo, hi = min(scores.values()), max(scores.values())
    if hi <= lo:
        return {k: 1.0 for k in scores}
    return {k: (v - lo) / (hi - lo) for k, v in scores.items()}


def weighted(dense: dict[int, float], lexical: dict[int, float], w_lex: float) -> Ranking:
    """Convex combination of min-max scaled dense cosines and max-scaled BM25 scores.

    ``dense`` and ``lexical`` hold each candidate's score in that channel (0 where the
    channel did not score it).
    """
    ids = list(dense.keys() | lexical.keys())
    if not ids:
        return []
    scaled = minmax({i: dense.get(i, 0.0) for i in ids})
    d = np.array([scaled[i] for i in ids], dtype=np.float64)
    lex = np.array([lexical.get(i, 0.0) for i in ids], dtype=np.float64)
    top = lex.max()
    lex = lex / top if top > 0 else lex
    s = (1 - w_lex) * d + w_lex * lex
    order = np.argsort(-s, kind="stable")
    return [(ids[i], float(s[i])) for i in order]


# ------------------------------------------------------------------------------- strategies
#: How one retrieval method ranks: (retriever, query, k) -> the ``k`` best (passage id, score).
Strategy = Callable[["Retriever", Query, int], Ranking]


def dense_only(r: Retriever, query: Query, k: int) -> Ranking:
    """``dense``: the passage vectors alone (the store's search, filters applied there)."""
    return r.dense.search(query, k)


def lexical_only(r: Retriever, query: Query, k: int) -> Ranking:
    """``bm25``: the lexical channel alone."""
    return r.lexical_ranking(query, k)


def plain_rrf(r: Retriever, query: Query, k: int) -> Ranking:
    """``rrf``: reciprocal rank fusion of the dense and lexical candidates (the plain peer)."""
    return rrf([r.dense.search(query, r.candidates), r.lexical_ranking(query, r.candidates)])[:k]


def hybrid(r: Retriever, query: Query, k: int) -> Ranking:
    """``hybrid`` (the product's): see :func:`_hybrid_fusion`."""
    return _hybrid_fusion(r, query, r.dense.search(query, r.candidates), r.lexical_ranking(query, r.candidates), k)


def _hybrid_fusion(r: Retriever, query: Query, dense: Ranking, lexical: Ranking, k: int) -> Ranking:
    """Language-aware fusion of passage, sentence and lexical evidence, then rescoring.

    Candidates: the top of the dense, lexical and best-sentence rankings. Fused score:
    ``(1 - w_lex) * dense + w_lex * bm25`` (both scaled to [0, 1] over the candidates,
    ``w_lex`` from :func:`lexical_weight`), plus the best sentence's cosine (scaled)
    times :data:`SENTENCE_DENSE_WEIGHT` for the question's language, plus, for the top
    :data:`RESCORE_DEPTH`, the best sentence's lexical coverage times
    :data:`SENTENCE_WEIGHT`. Near duplicates are dropped.
    """
    top_sentence = r.sentences.search(query, r.candidates)
    allowed = r.index.filter_ids(query.filters) if r.index.in_memory else None  # else: filtered in the store
    if allowed is not None:
        top_sentence = [(pid, sc) for pid, sc in top_sentence if pid in allowed]
    d = dict(dense)
    lex = dict(lexical)
    pool = set(d) | set(lex) | {pid for pid, _ in top_sentence}
    missing = [pid for pid in pool if pid not in d]
    if missing:  # exact cosines for candidates the dense channel did not return
        vecs = r.index.vectors(missing)
        d.update(zip(missing, (vecs @ query.vector).tolist()))
    terms = query.lexical_terms or []
    crossing = len({t for t in terms if t in r.lexical.vocab})
    w_lex = lexical_weight(query.language, crossing, len(content_terms(query.text, query.language)))
    fused = dict(weighted(d, lex if w_lex > 0 else {}, w_lex))
    query.dense_scores = d
    # A passage indexed without sentence vectors (an index from an older version) is
    # judged by its passage cosine, not pushed to the bottom.
    best_sentence = r.sentences.best(query, list(fused))
    sent = minmax({pid: best_sentence.get(pid, d[pid]) for pid in fused})
    w_sent = SENTENCE_DENSE_WEIGHT[query.language]
    scored = sorted(((pid, s + w_sent * sent[pid]) for pid, s in fused.items()), key=lambda x: -x[1])
    head = scored[:RESCORE_DEPTH]
    rescored = []
    for pid, score in head:
        cov = sentence_coverage(terms, r.sentence_units(pid), r.lexical.idf) if terms and w_lex > 0 else 0.0
        rescored.append((pid, score + SENTENCE_WEIGHT * cov))
    rescored.sort(key=lambda x: -x[1])
    rescored = drop_near_duplicates(rescored, lambda x: r.shingles(x[0]))
    return (rescored + scored[RESCORE_DEPTH:])[:k]


STRATEGIES: dict[str, Strategy] = {"hybrid": hybrid, "dense": dense_only, "bm25": lexical_only, "rrf": plain_rrf}
assert set(STRATEGIES) == set(RETRIEVAL_METHODS)
