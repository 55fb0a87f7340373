"""Answer spans from a reader's logits, and the sentence windows it reads.

The arithmetic of :mod:`qa.answering.reader`, apart from its model plumbing: the best span of
one window against its no-answer score (:func:`best_span`), a span widened to whole words
(:func:`_widen`), the token mask of character ranges (:func:`_within`), and the windows around
the best sentences that the reader reads (:func:`sentence_windows`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..types import Passage
from .extractive import ScoredSentence

__all__ = ["Span", "best_span", "sentence_windows"]


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


def sentence_windows(scored: list[ScoredSentence], windows: int, context_sentences: int) -> list[Passage]:
    """Windows around the ``windows`` best of ``scored`` sentences: each best sentence with
    ``context_sentences`` sentences on either side in its passage, overlapping windows of one
    passage merged, best first. A window is a :class:`Passage` (a slice of its passage, with its
    sentences and document offsets, the passage's id)."""
    spans: dict[int, list[tuple[int, int]]] = {}  # passage id -> [(first, last) sentence index]
    passages: dict[int, Passage] = {}
    order: list[int] = []
    for s in scored[:windows]:
        p = s.passage
        idx = next((k for k, (a, b) in enumerate(p.sentences) if (a, b) == (s.start, s.end)), None)
        if idx is None:
            continue
        lo, hi = max(0, idx - context_sentences), min(len(p.sentences) - 1, idx + context_sentences)
        passages[p.id] = p
        if p.id not in spans:
            order.append(p.id)
        spans.setdefault(p.id, []).append((lo, hi))
    out = []
    for pid in order:
        p = passages[pid]
        merged: list[list[int]] = []
        for lo, hi in sorted(spans[pid]):
            if merged and lo <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        for lo, hi in merged:
            sents = p.sentences[lo:hi + 1]
            a, b = sents[0][0] - p.start, sents[-1][1] - p.start
            out.append(replace(p, text=p.text[a:b], start=p.start + a, end=p.start + b, sentences=list(sents)))
    return out


def _within(offsets: list, ranges: list[tuple[int, int]]) -> np.ndarray:
    """Mask of the tokens (character ``offsets``) that lie inside one of ``ranges``."""
    return np.array([any(lo <= a and b <= hi for lo, hi in ranges) for a, b in offsets])
