"""Optional reading-comprehension ("reader") answerer, for users who have an extractive QA model.

The default answerer (:mod:`qa.answering.extractive`) picks whole sentences by heuristic scores;
a reading-comprehension model trained on SQuAD 2.0-style data (e.g.
``deepset/xlm-roberta-base-squad2``, multilingual, with a no-answer score) reads each retrieved
passage with the question and points at the answer span, or says the passage holds none. The
project ships no such model and none can be downloaded here, so this answerer is off by default
and was not evaluated (README, "Reading-comprehension answers").

How an answer is found (the standard start/end-logits method of SQuAD 2.0 readers):

* each retrieved passage is paired with the question (question first, passage second) and cut
  into windows of at most :data:`MAX_SEQ_TOKENS` tokens overlapping by :data:`DOC_STRIDE`
  tokens when it is longer; all windows go through the model in one batch;
* in each window a span (i, j) of passage tokens, ``i <= j < i + max_answer_tokens``, scores
  ``start[i] + end[j]``; the no-answer ("null") score is ``start[cls] + end[cls]`` on the
  first token (:func:`best_span`). Question tokens, special tokens and padding never answer;
* the answer is the span with the largest margin (span score minus its window's null score)
  over all windows. When no margin exceeds ``min_margin`` (``QAConfig.reader_min_margin``,
  0.0 by default: the span must beat "no answer"), the answer is the refusal of
  :mod:`~qa.answering.extractive` (``found=False``). A user calibrates ``min_margin`` on their
  data with ``python -m evaluation --dev DIR --answerer reader``: higher refuses more.

Why not ``transformers.pipeline("question-answering")``: it turns the null score into an empty
answer only when it wins and does not return the margin, which the refusal threshold needs, and
it reads passages one call at a time; the method itself is twenty lines of numpy here.

The answer is the span in bold, then the sentence that contains its start, cited [1]
(:func:`~qa.answering.extractive.compose`, so English questions get the same English frame).
The span is widened to whole words (a token may be the middle of a word) and cut at the end of
its sentence, so it is always a substring of the cited sentence. The citation's ``score`` is the
span's margin over the no-answer score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import QAConfig
from ..retrieval.base import Query
from ..types import Answer, Passage
from .base import Answerer
from .extractive import ScoredSentence, compose
from .local_model import LocalModel

__all__ = ["DOC_STRIDE", "MAX_QUESTION_TOKENS", "MAX_SEQ_TOKENS", "ReaderAnswerer", "Span", "best_span"]

#: Window length in tokens (question + passage + special tokens): 384 is the length SQuAD
#: readers are trained and evaluated with (HF ``run_qa.py``); the pipeline's passages (200 E5
#: tokens) fit in one window with the question. Smaller when the model allows less.
MAX_SEQ_TOKENS = 384
#: Overlap of consecutive windows of a longer passage (tokens): 128, the SQuAD default, so an
#: answer of up to 30 tokens cut by one window lies whole in the next.
DOC_STRIDE = 128
#: Longest question in tokens; a longer one is cut (questions may have 2,000 characters, which
#: would leave no room for the passage). BERT's SQuAD script used 64; 128 keeps follow-up
#: queries that carry words of the conversation whole and leaves 250 tokens of passage a window.
MAX_QUESTION_TOKENS = 128


@dataclass(frozen=True)
class Span:
    """The best answer span of one window: token indices (inclusive), its score and the null score."""

    start: int
    end: int
    score: float
    null: float

    @property
    def margin(self) -> float:
        return self.score - self.null


def best_span(start_logits: np.ndarray, end_logits: np.ndarray, context: np.ndarray, max_answer_tokens: int,
              cls_index: int = 0) -> Span | None:
    """The best span ``start[i] + end[j]`` with ``i <= j < i + max_answer_tokens`` and both i and
    j passage tokens (``context`` is a boolean mask), against the null score
    ``start[cls_index] + end[cls_index]``. None when the window has no passage token."""
    s = np.asarray(start_logits, dtype=np.float64)
    e = np.asarray(end_logits, dtype=np.float64)
    ctx = np.asarray(context, dtype=bool)
    if not ctx.any() or max_answer_tokens < 1:
        return None
    n = len(s)
    i = np.arange(n)[:, None]
    j = np.arange(n)[None, :]
    valid = (j >= i) & (j < i + max_answer_tokens) & ctx[:, None] & ctx[None, :]
    scores = np.where(valid, s[:, None] + e[None, :], -np.inf)
    bi, bj = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return Span(int(bi), int(bj), float(scores[bi, bj]), float(s[cls_index] + e[cls_index]))


def _widen(text: str, a: int, b: int) -> tuple[int, int]:
    """Widen the character span [a, b) of ``text`` to whole words and strip its spaces."""
    if not 0 <= a < b <= len(text):
        return a, a
    while a > 0 and text[a - 1].isalnum() and text[a].isalnum():
        a -= 1
    while b < len(text) and text[b].isalnum() and text[b - 1].isalnum():
        b += 1
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


class ReaderAnswerer(LocalModel, Answerer):
    """Answers with the span a reading-comprehension model finds in the retrieved passages.

    ``model`` is a transformers ``AutoModelForQuestionAnswering`` folder or a Hugging Face id
    already in the local cache: it is loaded on first use with ``local_files_only=True`` unless
    the environment sets ``HF_HUB_OFFLINE=0`` (which allows a download). ``device`` is a torch
    device. ``min_margin`` and ``max_answer_tokens``: see the module docstring and QAConfig.
    """

    name = "reader"
    auto_class = "AutoModelForQuestionAnswering"
    kind = "reader"

    def __init__(self, model: str, device: str | None = "cpu", min_margin: float = 0.0,
                 max_answer_tokens: int = 30):
        if not model:
            raise ValueError("the reader needs a question-answering model id or folder")
        if max_answer_tokens < 1:
            raise ValueError("max_answer_tokens must be at least 1")
        super().__init__(model, device)
        self.min_margin = float(min_margin)
        self.max_answer_tokens = int(max_answer_tokens)

    @classmethod
    def from_config(cls, config: QAConfig) -> ReaderAnswerer:
        if not config.reader_model:
            raise ValueError("answerer='reader' needs reader_model: a question-answering model id or folder "
                             "(e.g. deepset/xlm-roberta-base-squad2)")
        return cls(config.reader_model, device=config.reader_device, min_margin=config.reader_min_margin,
                   max_answer_tokens=config.reader_max_answer_tokens)

    def _check(self, tokenizer: object) -> None:
        if not getattr(tokenizer, "is_fast", False):
            raise RuntimeError(f"reader model {self.model_id!r} needs a fast tokenizer (character offsets)")

    def spans(self, question: str, passages: list[Passage]) -> list[tuple[Passage, int, int, Span]]:
        """The best span of every window of every passage: (passage, char start, char end, span),
        characters in the passage's text."""
        import torch

        tok, model = self._load()
        texts = [p.text for p in passages]
        if not texts:
            return []
        limit = getattr(tok, "model_max_length", MAX_SEQ_TOKENS) or MAX_SEQ_TOKENS
        max_len = min(MAX_SEQ_TOKENS, int(limit))
        q_offsets = tok(question, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        if len(q_offsets) > MAX_QUESTION_TOKENS:
            question = question[:q_offsets[MAX_QUESTION_TOKENS - 1][1]]
        enc = tok([question] * len(texts), texts, truncation="only_second", max_length=max_len,
                  stride=min(DOC_STRIDE, max_len // 2), return_overflowing_tokens=True,
                  return_offsets_mapping=True, padding=True, return_tensors="pt")
        offsets = enc.pop("offset_mapping").tolist()
        owner = enc.pop("overflow_to_sample_mapping").tolist()
        inputs = {k: v.to(self.device) for k, v in enc.items()
                  if k in ("input_ids", "attention_mask", "token_type_ids")}
        with torch.inference_mode():
            out = model(**inputs)
        starts = out.start_logits.float().cpu().numpy()
        ends = out.end_logits.float().cpu().numpy()
        found = []
        for w in range(len(owner)):
            context = np.array([sid == 1 for sid in enc.sequence_ids(w)])
            ids = enc["input_ids"][w].tolist()  # the null answer is the [CLS] / <s> token, wherever padding put it
            cls_index = ids.index(tok.cls_token_id) if tok.cls_token_id in ids else 0
            span = best_span(starts[w], ends[w], context, self.max_answer_tokens, cls_index)
            if span is None:
                continue
            p = passages[owner[w]]
            a, b = offsets[w][span.start][0], offsets[w][span.end][1]
            found.append((p, a, b, span))
        return found

    def run(self, query: Query, passages: list[Passage]) -> Answer:
        """Answer ``query`` from ``passages`` (already retrieved and judged relevant)."""
        candidates = sorted(self.spans(query.text, passages), key=lambda c: -c[3].margin)
        for p, a, b, span in candidates:
            if span.margin <= self.min_margin:
                break
            chosen = self._sentence(p, a, b, span)
            if chosen is not None:
                sentence, lead = chosen
                return compose(query.text, query.language, [sentence], passages, answerer=self.name, lead=lead)
        return compose(query.text, query.language, [], passages, answerer=self.name)

    @staticmethod
    def _sentence(p: Passage, a: int, b: int, span: Span) -> tuple[ScoredSentence, str] | None:
        """The sentence where the span starts (as a ScoredSentence) and the span cut to it."""
        a, b = _widen(p.text, a, b)
        if a >= b:
            return None
        doc_a = p.start + a
        for s, e, text in p.sentence_texts():
            if e <= doc_a or not text.strip():
                continue  # the span starts after this sentence (or in a gap before the next one)
            stripped = text.strip()
            lo = p.start + a - s if doc_a >= s else 0
            lead = text[max(lo, 0):min(p.start + b, e) - s].strip()
            if not lead or lead not in stripped:
                return None
            parts = {"span": span.score, "null": span.null, "margin": span.margin}
            return ScoredSentence(p, s, e, text, span.margin, parts), lead
        return None
