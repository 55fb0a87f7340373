"""Fusion of the dense and lexical channels, chosen by what the scores can say.

* ``rrf``: reciprocal rank fusion, ``sum 1 / (RRF_K + rank)``. It needs only ranks, so it is
  the method for channels whose scores are not comparable; kept as the "plain RRF" peer.
* ``weighted`` (the product's): both channels here give scores — a cosine in [-1, 1] and a
  BM25 score that we scale by the best candidate's — so a convex combination keeps the
  information RRF throws away (how much better the first candidate is than the tenth), and
  its lexical weight depends on the question's language (:func:`lexical_weight`).
"""

from __future__ import annotations

import numpy as np

from .base import Ranking

__all__ = ["rrf", "weighted", "minmax", "lexical_weight", "RRF_K", "VI_LEXICAL_WEIGHT", "EN_LEXICAL_WEIGHT"]

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
