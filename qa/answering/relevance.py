"""The refusal gate: can the retrieved passages answer the question at all?

A question the articles cannot answer ("Ai vô địch World Cup 2018?") still retrieves *some*
passages; the gate decides from their similarity to the question whether to answer or to
say that nothing relevant was found. Two signals are available without a model at question
time:

* ``passage``: the best dense cosine of the question and a retrieved passage;
* ``sentence``: the best cosine of the question and one stored sentence vector of those
  passages (a question usually targets one sentence; its cosine is less diluted).

Which signal and which threshold per language was calibrated on data (see
:func:`calibrate` and BENCHMARKS.md, "Knowing when not to answer"): answerable questions
(MLQA-vi dev, 511 per language, plus the bundled-article questions of tests/qa/test_ask.py)
against the unanswerable set ``evaluation/evalsets/unanswerable-vnnews.jsonl`` (42 per language).
Rule: the threshold is the 4th percentile of the answerable questions' scores (so ≤ 5% of
answerable questions are refused, the issue's bound, with a point of slack), and per
language the signal with the lower false-answer rate at that bound wins; a 2-fold split by
question gave the same choice. Vietnamese: ``sentence`` ≥ 0.842 (false answers 57% vs 67%
for ``passage``); English: ``passage`` ≥ 0.768 (74% vs 86%). A logistic regression over both
cosines plus lexical evidence (IDF-weighted question coverage of the best sentence and
passage, share of question words unknown to the index, answer-type match) did no better on
held-out folds, so the gate stays one threshold per language.

The false-answer rate stays far above the 10% target: questions about absent topics are
refused more often (vi 70%, en 50%), but near misses (the same people and places, a fact the
articles do not give: "Ngoại trưởng Lavrov sinh năm nào?") score like answerable questions
on every signal we have. Telling them apart needs reading comprehension (a QA or NLI model),
which the offline default does not have.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..retrieval.base import Query
from ..types import Answer, Passage

__all__ = ["NOT_FOUND", "RelevanceEvidence", "evidence", "is_relevant", "calibrate", "refusal", "SIGNALS"]

#: The refusal, in the question's language: what every answerer says when the passages cannot
#: answer (the gate below declined, the extractive answerer found no sentence, the reader no span,
#: or a language model wrote this sentence; qa.answering.prompt asks it for exactly this text).
NOT_FOUND = {
    "vi": "Tôi không tìm thấy thông tin liên quan đến câu hỏi này trong các bài báo hiện có.",
    "en": "I could not find information relevant to this question in the available articles.",
}

#: The signal each language's threshold applies to (see the module docstring for why).
SIGNALS = {"vi": "sentence", "en": "passage"}


@dataclass(frozen=True)
class RelevanceEvidence:
    """The gate's inputs for one question."""

    passage: float  # best dense cosine, question vs retrieved passage
    sentence: float  # best cosine, question vs a stored sentence of the retrieved passages

    def get(self, signal: str) -> float:
        return getattr(self, signal)


def evidence(query: Query, passages: Sequence[Passage],
             sentence_vectors: Mapping[int, np.ndarray] | None = None) -> RelevanceEvidence:
    """Cosines of ``query`` with the best passage and the best stored sentence.

    Passages without stored sentence vectors contribute their passage cosine to ``sentence``
    (no embedding happens here).
    """
    dense = [p.scores.get("dense", p.score) for p in passages]
    best_passage = max(dense) if dense else float("-inf")
    best_sentence = float("-inf")
    for p, d in zip(passages, dense):
        sv = sentence_vectors.get(p.id) if sentence_vectors is not None and query.vector is not None else None
        if sv is not None and len(sv):
            best_sentence = max(best_sentence, float(np.max(np.asarray(sv, dtype=np.float32) @ query.vector)))
        else:
            best_sentence = max(best_sentence, d)
    return RelevanceEvidence(passage=float(best_passage), sentence=float(best_sentence))


def is_relevant(query: Query, passages: Sequence[Passage], thresholds: Mapping[str, float],
                sentence_vectors: Mapping[int, np.ndarray] | None = None) -> bool:
    """Whether to answer: the language's signal (:data:`SIGNALS`) reaches its threshold."""
    if not passages:
        return False
    signal = SIGNALS.get(query.language, "passage")
    return evidence(query, passages, sentence_vectors).get(signal) >= thresholds[query.language]


def refusal(query: Query, passages: list[Passage], answerer: str) -> Answer:
    """The answer that says nothing relevant was found (``found=False``), with the passages that
    were retrieved (the app shows them)."""
    return Answer(question=query.text, text=NOT_FOUND[query.language], language=query.language, citations=[],
                  passages=passages, timings={}, answerer=answerer, found=False)


def calibrate(answerable: Sequence[float], unanswerable: Sequence[float],
              max_refusal: float = 0.04) -> dict:
    """Threshold for one signal and language: the ``max_refusal`` quantile of the answerable
    scores (numpy's linear interpolation), with the refusal and false-answer rates it gives.

    ``answerable`` / ``unanswerable``: the signal's values on questions that should / should
    not be answered. Raises ValueError when ``answerable`` is empty.
    """
    a = np.asarray(answerable, dtype=float)
    u = np.asarray(unanswerable, dtype=float)
    if a.size == 0:
        raise ValueError("need at least one answerable score")
    t = float(np.quantile(a, max_refusal))
    return {"threshold": t, "refusal_rate": float(np.mean(a < t)),
            "false_answer_rate": float(np.mean(u >= t)) if u.size else None}
