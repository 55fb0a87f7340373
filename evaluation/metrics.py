"""The numbers the harness reports: retrieval ranks, answer containment, citation precision,
refusal and false-answer rates, percentiles (interpolated, numpy's default: the one definition the
benchmarks use too)."""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

from corpus.normalize import normalize_text
from qa.answering.citations import strip_markers

__all__ = ["answer_em", "answer_f1", "normalize_answer",
           "answer_key", "answer_rate", "citation_precision", "contains_answer", "context_rank", "mean", "mrr_at_k",
           "percentile", "recall_at_k", "strip_citation_markers", "word_count"]


def answer_rate(found: Sequence[bool]) -> float | None:
    """Share of questions that got an answer rather than a refusal; None for no questions.

    On answerable questions ``1 - answer_rate`` is the refusal rate; on unanswerable ones
    ``answer_rate`` is the false-answer rate."""
    return sum(map(bool, found)) / len(found) if found else None


def recall_at_k(ranks: Sequence[int | None], k: int) -> float:
    """Share of questions whose gold rank (1-based; None = not retrieved) is at most ``k``."""
    if not ranks:
        return 0.0
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks)


def mrr_at_k(ranks: Sequence[int | None], k: int) -> float:
    """Mean reciprocal rank, counting ranks beyond ``k`` (or None) as 0."""
    if not ranks:
        return 0.0
    return sum(1.0 / r for r in ranks if r is not None and r <= k) / len(ranks)


def context_rank(ranked_contexts: Iterable[str], gold: str | Iterable[str]) -> int | None:
    """1-based rank of ``gold`` among the distinct contexts of a passage ranking.

    ``ranked_contexts`` holds the context of each ranked passage, best first; a context takes
    the rank of its first passage, later passages of an already seen context are skipped.
    ``gold`` may be one context or several equivalent ones. None when it never appears.
    """
    golds = {gold} if isinstance(gold, str) else set(gold)
    seen: set[str] = set()
    for c in ranked_contexts:
        if c in seen:
            continue
        seen.add(c)
        if c in golds:
            return len(seen)
    return None


_SPACES = re.compile(r"\s+")


def answer_key(text: str) -> str:
    """Comparison form: NFC + tone placement, casefolded, whitespace collapsed."""
    folded = unicodedata.normalize("NFC", normalize_text(text).casefold())
    return _SPACES.sub(" ", folded).strip()


def contains_answer(text: str, answers: Iterable[str]) -> bool:
    """True when some (non-empty) gold answer occurs in ``text``, compared via :func:`answer_key`."""
    key = answer_key(text)
    return any(a and a in key for a in (answer_key(x) for x in answers))


def strip_citation_markers(text: str) -> str:
    """Remove citation markers (``[1]``, ``[1, 2]``: those the product writes and parses, see
    :func:`qa.answering.citations.strip_markers`) so they cannot split an answer span."""
    return strip_markers(text)


def citation_precision(cited_passages: Sequence[Sequence[str]], answers: Sequence[Iterable[str]]) -> float | None:
    """Share of all citations (over all questions) whose passage text contains a gold answer.

    ``cited_passages[i]`` are the passage texts cited for question ``i`` (possibly none),
    ``answers[i]`` its gold answers. Micro-averaged: questions with no citations add nothing.
    None when there are no citations at all.
    """
    if len(cited_passages) != len(answers):
        raise ValueError("cited_passages and answers must have one entry per question")
    total = supported = 0
    for passages, gold in zip(cited_passages, answers):
        gold = list(gold)
        for p in passages:
            total += 1
            supported += contains_answer(p, gold)
    return supported / total if total else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) with linear interpolation (numpy's default); None if empty."""
    if not 0 <= q <= 100:
        raise ValueError("q must be between 0 and 100")
    xs = sorted(values)
    if not xs:
        return None
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def word_count(text: str) -> int:
    """Words of an answer, citation markers not counted."""
    return len(strip_citation_markers(text).split())


def mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


# ---------------------------------------------------------------- MLQA's answer F1 / exact match
_PUNCT = set(string.punctuation)
_ARTICLES = {"en": re.compile(r"\b(a|an|the)\b"),
             "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b")}  # MLQA's own lists


def normalize_answer(text: str, lang: str = "vi") -> str:
    """MLQA's answer normalization (its official evaluation script): lower case, punctuation
    deleted (every Unicode P* character and ASCII punctuation), the language's articles
    removed (en: a/an/the; vi: của/là/cái/chiếc/những), whitespace collapsed."""
    t = normalize_text(text).lower()
    t = "".join(ch for ch in t if ch not in _PUNCT and not unicodedata.category(ch).startswith("P"))
    if lang in _ARTICLES:
        t = _ARTICLES[lang].sub(" ", t)
    return " ".join(t.split())


def answer_f1(prediction: str, golds: Sequence[str], lang: str = "vi") -> float:
    """Token F1 of ``prediction`` against its best gold answer (0 for an empty prediction)."""
    p = normalize_answer(prediction, lang).split()
    best = 0.0
    for g in golds:
        gt = normalize_answer(g, lang).split()
        common = sum((Counter(p) & Counter(gt)).values())
        if not p or not gt or common == 0:
            continue
        prec, rec = common / len(p), common / len(gt)
        best = max(best, 2 * prec * rec / (prec + rec))
    return best


def answer_em(prediction: str, golds: Sequence[str], lang: str = "vi") -> float:
    """1.0 when ``prediction`` equals a gold answer after :func:`normalize_answer`, else 0.0."""
    p = normalize_answer(prediction, lang)
    return float(bool(p) and any(p == normalize_answer(g, lang) for g in golds))
