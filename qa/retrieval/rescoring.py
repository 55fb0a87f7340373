"""Second stage: sentence-level rescoring and near-duplicate removal of the top candidates.

No cross-encoder can be had offline, so the second stage asks a cheaper question of each of
the top candidates: does one *sentence* of it hold the question's terms together? A passage
whose best sentence covers the question's names and content words is more likely to answer
than one that scatters them over 200 tokens. The coverage is IDF-weighted (BM25's IDF, so a
name counts more than "năm") and combined with the fused score.

Near duplicates (the same wire story in several outlets) would otherwise fill the top-k
with one fact; a candidate whose word shingles overlap a better-ranked one's by more than
``DUPLICATE_JACCARD`` is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from corpus.normalize import fold_diacritics

__all__ = ["SENTENCE_DENSE_WEIGHT", "sentence_coverage", "query_units", "sentence_units", "coverage", "shingles",
           "drop_near_duplicates", "SENTENCE_WEIGHT", "DUPLICATE_JACCARD"]

#: Weight of the best sentence's coverage (in [0, 1]) added to the fused score (in [0, 1]).
#: 0.25: enough to reorder candidates whose fused scores are within a quarter of the scale,
#: never enough to lift a passage the channels both ranked low (see BENCHMARKS.md sweep).
SENTENCE_WEIGHT = 0.25
#: Weight of the best sentence's embedding similarity (min-max scaled over the candidates).
#: A question usually targets one sentence, and the passage vector averages that sentence
#: with its neighbours; cross-lingual questions gain most. Swept on the MLQA-vi dev set
#: (0.5-1.2 all help; 0.8 is best for both languages, see BENCHMARKS.md).
SENTENCE_DENSE_WEIGHT = {"vi": 0.8, "en": 0.8}
#: Word-trigram Jaccard above which two passages count as the same text. Re-edited copies of
#: one wire story share 80-95% of trigrams; distinct articles on one event stay under 30%.
DUPLICATE_JACCARD = 0.7

_SYL = re.compile(r"\w+", re.U)


def _units(term: str) -> list[str]:
    """Folded syllables a query term stands for (compounds split, aliases kept whole)."""
    if term.startswith("@"):
        return [term]
    return [fold_diacritics(s) for s in term.lstrip("~").split("_") if s]


def query_units(query_terms: list[str], idf: dict[str, float]) -> dict[str, float]:
    """Folded units of the query's lexical terms with their IDF weights.

    Units that occur nowhere in the index are left out: they cannot match any sentence and
    would only shrink every coverage (an English question's untranslated words).
    """
    units = dict.fromkeys(u for t in query_terms for u in _units(t))
    return {u: idf[u] for u in units if u in idf}


def sentence_units(text: str, alias_tokens: list[str]) -> set[str]:
    """What a sentence offers to match: its folded syllables and alias tokens."""
    return set(_SYL.findall(fold_diacritics(text))) | set(alias_tokens)


def coverage(weights: dict[str, float], units: set[str]) -> float:
    """IDF-weighted share of the query units present in one sentence, in [0, 1]."""
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    return sum(w for u, w in weights.items() if u in units) / total


def sentence_coverage(query_terms: list[str], sentences: list[set[str]], idf: dict[str, float]) -> float:
    """Best :func:`coverage` over a passage's sentences (their :func:`sentence_units`)."""
    weights = query_units(query_terms, idf)
    if not weights:
        return 0.0
    return max((coverage(weights, units) for units in sentences), default=0.0)


def shingles(text: str, n: int = 3) -> set[tuple[str, ...]]:
    words = _SYL.findall(fold_diacritics(text))
    return {tuple(words[i:i + n]) for i in range(max(1, len(words) - n + 1))}


def drop_near_duplicates(items: list, shingles_of: Callable[[object], set], threshold: float = DUPLICATE_JACCARD) -> list:
    """Keep the first of every group of near-identical texts (order preserved).

    ``shingles_of(item)`` gives the item's :func:`shingles` (callers cache them).
    """
    kept, kept_sh = [], []
    for it in items:
        sh = shingles_of(it)
        if any(len(sh & o) / max(1, len(sh | o)) > threshold for o in kept_sh):
            continue
        kept.append(it)
        kept_sh.append(sh)
    return kept
