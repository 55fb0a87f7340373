"""The default answerer: extractive and grounded, no language model.

It picks the few sentences of the retrieved passages that answer the question and cites each
with [n]. Nothing is written that is not in a source: the answer is source sentences, in
document order, plus a short frame in the question's language.

A sentence's score combines four signals (the naive baseline, embedding similarity alone,
picks the wrong sentence of the right passage ~30% of the time):

* ``dense``: cosine of the E5 query vector and the sentence's passage-prompt vector, relative
  to the best sentence of this question (absolute E5 cosines sit in a narrow band);
* ``lexical``: IDF-weighted share of the question's lexical terms the sentence contains
  (folded syllables and name aliases, so tone-less queries and transliterated names count;
  for English questions only names, numbers and aliases, which cross languages);
* ``type``: the sentence holds the kind of thing asked for (number, date, name, place);
* ``passage``: the retrieval rank of the sentence's passage.

Sentences that answer nothing (an ellipsis, a photo credit "(Nguồn: NBC)", fewer than three
words: :func:`qa.text.analysis.is_citable`) are never candidates.

The answer is the best sentence, plus the runner-up only when it comes from the same passage
(citation precision: a runner-up from another passage is wrong far more often than it adds
the answer, BENCHMARKS.md). For a who / when / where / how-many question the short answer
(a name, date, place or number found in the chosen sentence, see
:func:`~qa.answering.question_type.answer_span`) leads in bold. Vietnamese questions get the
sentences as they are; English questions get an English frame with each Vietnamese sentence
quoted and cited (``According to [1]: “…”``): no machine translation is available offline.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from embeddings.encoder import Encoder

from ..retrieval.base import Query
from ..retrieval.lexical import LexicalChannel, terms_of
from ..retrieval.rescoring import coverage, query_units, sentence_units
from ..text.analysis import is_citable
from ..types import Answer, Citation, Passage
from .base import Answerer
from .question_type import answer_span, answer_type, type_match
from .relevance import NOT_FOUND

__all__ = ["ExtractiveAnswerer", "ScoredSentence", "SentenceWeights", "compose"]

@dataclass(frozen=True)
class SentenceWeights:
    """Weights of the sentence score, swept on the MLQA-vi dev set (BENCHMARKS.md).

    ``dense`` multiplies a cosine difference (typically 0-0.1), hence its size; the others
    multiply values in [0, 1] (a grid over them and a fitted listwise model gained < 2 points
    of top-1 accuracy on held-out halves of the dev set, so they stay). ``second_margin`` is
    how close (in score units) the runner-up must come to the best sentence to be added, and
    it is only added from the best sentence's own passage: 1.0 (vs 0.35) adds ~2 points of
    containment and of citation precision (vi) for ~6 more words; the median answer stays
    at ~40 words (BENCHMARKS.md, "Sentence selection").
    """

    dense: float = 10.0
    lexical: float = 0.5
    type: float = 0.6
    passage: float = 0.6
    second_margin: float = 1.0


@dataclass
class ScoredSentence:
    passage: Passage
    start: int
    end: int
    text: str
    score: float
    parts: dict[str, float]


class ExtractiveAnswerer(Answerer):
    """Selects and cites source sentences. ``run()`` is the component's one entry point."""

    name = "extractive"

    def __init__(self, encoder: Encoder, lexical: LexicalChannel, max_sentences: int = 2,
                 weights: SentenceWeights = SentenceWeights(), sentence_vectors: dict | None = None) -> None:
        self.encoder = encoder
        self.lexical = lexical
        #: passage id -> stored sentence vectors (see FaissStore); sentences of passages
        #: without them are embedded at question time
        self.sentence_vectors = sentence_vectors if sentence_vectors is not None else {}
        self.max_sentences = max_sentences
        self.weights = weights

    def score_sentences(self, query: Query, passages: list[Passage]) -> list[ScoredSentence]:
        """Every distinct sentence of ``passages``, scored, best first."""
        seen: set[tuple[str, int, int]] = set()
        cands: list[tuple[Passage, int, int, str]] = []
        stored: list[np.ndarray | None] = []
        for p in passages:
            sv = self.sentence_vectors.get(p.id)
            for i, (s, e, text) in enumerate(p.sentence_texts()):
                key = (p.doc_id, s, e)
                if key not in seen and is_citable(text):  # no ellipses or photo credits as answers
                    seen.add(key)
                    cands.append((p, s, e, text))
                    stored.append(sv[i] if sv is not None else None)
        if not cands:
            return []
        w = self.weights
        missing = [i for i, v in enumerate(stored) if v is None]
        if missing:
            fresh = self.encoder.encode_passages([cands[i][3] for i in missing])
            for i, v in zip(missing, fresh):
                stored[i] = v
        dense = np.vstack(stored).astype(np.float32) @ query.vector
        terms = terms_of(query, self.lexical.aliases)
        weights = query_units(terms, self.lexical.idf)
        kind = answer_type(query.text)
        out = []
        best_dense = float(dense.max())
        for (p, s, e, text), d in zip(cands, dense):
            lex = coverage(weights, sentence_units(text, self.lexical.aliases.tokens(text, normalized=True)))
            typ = type_match(kind, text, query.text)
            prior = 1.0 / math.sqrt(p.rank or 1)
            parts = {"dense": float(d) - best_dense, "lexical": lex, "type": typ, "passage": prior}
            score = w.dense * parts["dense"] + w.lexical * lex + w.type * typ + w.passage * prior
            out.append(ScoredSentence(p, s, e, text, score, parts))
        out.sort(key=lambda x: -x.score)
        return out

    def select(self, scored: list[ScoredSentence]) -> list[ScoredSentence]:
        """The best sentence, plus runners-up (up to ``max_sentences``) that score within
        ``second_margin`` of it and come from its passage."""
        if not scored:
            return []
        chosen = [scored[0]]
        for s in scored[1:self.max_sentences]:
            if s.score >= scored[0].score - self.weights.second_margin and s.passage.id == scored[0].passage.id:
                chosen.append(s)
        return chosen

    def choose(self, query: Query, passages: list[Passage]) -> tuple[list[ScoredSentence], str | None]:
        """The sentences to cite (:meth:`select`) and the rule-based short answer in the first
        (:func:`~qa.answering.question_type.answer_span`; None when there is none)."""
        chosen = self.select(self.score_sentences(query, passages))
        return chosen, self.rule_lead(query, chosen)

    @staticmethod
    def rule_lead(query: Query, chosen: list[ScoredSentence]) -> str | None:
        """The rule-based short answer in the first of ``chosen``
        (:func:`~qa.answering.question_type.answer_span`; None when there is none)."""
        return answer_span(answer_type(query.text), chosen[0].text, query.text) if chosen else None

    def run(self, query: Query, passages: list[Passage]) -> Answer:
        """Answer ``query`` from ``passages`` (already retrieved and judged relevant)."""
        chosen, lead = self.choose(query, passages)
        return compose(query.text, query.language, chosen, passages, answerer=self.name, lead=lead)


_END = re.compile(r"([.!?…]+[\"'”’»)]*)\s*$")


def _mark(sentence: str, n: int) -> str:
    """Put the citation marker before the sentence's final punctuation: "… ở Moskva [1]."."""
    sentence = sentence.strip()
    m = _END.search(sentence)
    if m and not m.group(1).startswith(("”", "\"", "'")):
        return f"{sentence[:m.start()]} [{n}]{m.group(1)}"
    return f"{sentence} [{n}]"


_INNER_QUOTES = str.maketrans({"“": "‘", "”": "’"})


def _quote(sentence: str, n: int) -> str:
    """An English-framed citation of a Vietnamese sentence: ``[1]: “…”``; quotation marks
    inside the sentence become single ones (‘…’), so the frame's quotes stay unambiguous."""
    return f"[{n}]: “{sentence.strip().translate(_INNER_QUOTES)}”"


def compose(question: str, language: str, chosen: list[ScoredSentence], passages: list[Passage],
            answerer: str, lead: str | None = None, lead_source: str | None = None,
            confidence: float | None = None) -> Answer:
    """Order the chosen sentences readably, number their sources, and frame the answer.

    ``lead`` (the short answer, from the first chosen sentence) goes first, in bold.
    Vietnamese: ``**lead** – sentence [1]. sentence [2].``; English: ``**lead** – according
    to [1]: “sentence” and [2]: “sentence”`` (quotes are the Vietnamese source sentences).
    ``lead_source``: the lead as the sentence writes it, when ``lead`` renders it otherwise
    (English); ``confidence``: the answerer's own score (see :class:`~qa.types.Answer`), kept on
    refusals too.
    """
    if not chosen:
        return Answer(question=question, text=NOT_FOUND[language], language=language, citations=[],
                      passages=passages, timings={}, answerer=answerer, found=False, confidence=confidence)
    # Readable order: the document of the best sentence first, sentences in document order.
    doc_rank: dict[str, int] = {}
    for s in sorted(chosen, key=lambda s: -s.score):
        doc_rank.setdefault(s.passage.doc_id, len(doc_rank))
    ordered = sorted(chosen, key=lambda s: (doc_rank[s.passage.doc_id], s.start))
    citations: list[Citation] = []
    pieces = []
    for s in ordered:
        c = Citation(n=len(citations) + 1, doc_id=s.passage.doc_id, title=s.passage.title,
                     source=s.passage.source, url=s.passage.url, passage_id=s.passage.id,
                     passage_text=s.passage.text, start=s.start, end=s.end, sentence=s.text.strip(),
                     score=round(s.score, 4))
        citations.append(c)
        pieces.append(_mark(s.text, c.n) if language == "vi" else _quote(s.text, c.n))
    if language == "vi":
        text = " ".join(pieces)
    else:
        text = "According to " + " and ".join(pieces)
    if lead:
        if language == "vi":
            text = f"**{lead}** – {text}"
        else:
            text = f"**{lead}** – a{text[1:]}"
    return Answer(question=question, text=text, language=language, citations=citations, passages=passages,
                  timings={}, answerer=answerer, found=True, lead=lead or None,
                  lead_source=(lead_source or lead) if lead else None, confidence=confidence)
