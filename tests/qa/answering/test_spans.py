"""The reader's span arithmetic (qa/answering/spans.py) on crafted logits and the bundled articles."""

from __future__ import annotations

import numpy as np

from qa.answering.spans import _within, best_span, sentence_windows


def test_best_span_stays_in_the_passage_and_respects_the_length():
    # [CLS] q q [SEP] c c c c c [SEP]: the question's tokens have the highest logits, never chosen
    context = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 0], dtype=bool)
    start = np.array([0, 9, 9, 0, 1, 0, 5, 0, 0, 9], dtype=float)
    end = np.array([0, 9, 9, 0, 4, 0, 0, 0, 6, 9], dtype=float)
    span = best_span(start, end, context, max_answer_tokens=30)
    assert (span.start, span.end, span.score) == (6, 8, 11.0)  # end before start (8, 4) is never valid
    assert span.null == 0.0 and span.margin == 11.0
    short = best_span(start, end, context, max_answer_tokens=2)  # 6..8 is three tokens long
    assert short.end - short.start + 1 <= 2 and context[short.start] and context[short.end]
    assert (short.start, short.end, short.score) == (7, 8, 6.0)
    one = best_span(start, end, context, max_answer_tokens=1)
    assert one.start == one.end


def test_best_span_null_score_wins_when_it_should():
    context = np.array([0, 0, 0, 1, 1, 1, 0], dtype=bool)
    start = np.array([6, 0, 0, 1, 2, 0, 0], dtype=float)
    end = np.array([5, 0, 0, 0, 2, 1, 0], dtype=float)
    span = best_span(start, end, context, max_answer_tokens=30)
    assert span.score == 4.0 and span.null == 11.0 and span.margin < 0
    assert best_span(start, end, np.zeros(7, dtype=bool), 30) is None  # no passage token at all


def test_within_masks_the_tokens_inside_the_ranges():
    offsets = [(0, 0), (0, 3), (4, 9), (10, 13), (13, 20)]
    assert _within(offsets, [(4, 13)]).tolist() == [False, False, True, True, False]
    assert _within(offsets, [(0, 3), (13, 20)]).tolist() == [True, True, False, False, True]


def test_sentence_windows_merge_the_neighbourhoods_of_one_passage(bundled_pipeline):
    pipe = bundled_pipeline
    q = pipe.query("Ông Kerry gặp ông Putin ở đâu?")
    passages = pipe.retrieve(q)
    scored = pipe.answerer.score_sentences(q, passages)[:4]
    windows = sentence_windows(scored, 4, 1)
    for s in scored:  # every read sentence lies whole in exactly one window of its passage
        homes = [w for w in windows if w.id == s.passage.id and w.start <= s.start and s.end <= w.end]
        assert len(homes) == 1
        assert homes[0].text[s.start - homes[0].start:s.end - homes[0].start] == s.text
    for w in windows:  # windows are slices of their passage with its sentences
        p = next(p for p in passages if p.id == w.id)
        assert p.text[w.start - p.start:w.end - p.start] == w.text and set(w.sentences) <= set(p.sentences)
    ids = [w.id for w in windows]
    for pid in set(ids):  # windows of one passage do not overlap
        spans = sorted((w.start, w.end) for w in windows if w.id == pid)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
