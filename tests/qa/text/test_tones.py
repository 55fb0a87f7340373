"""Restoring the diacritics of questions typed without them, from the bundled articles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpus.normalize import fold_diacritics
from qa.text.tones import is_unmarked_vietnamese, restore_marks

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def articles(bundled_docs) -> list[str]:
    return [d.text for d in bundled_docs.values()]


def test_only_questions_typed_without_any_mark_count_as_unmarked():
    assert is_unmarked_vietnamese("ong Kerry gap ong Putin o dau")
    assert not is_unmarked_vietnamese("Ông Kerry gặp ông Putin ở đâu?")
    assert not is_unmarked_vietnamese("Ông Kerry gap ong Putin o dau")  # one mark: typed with marks
    assert not is_unmarked_vietnamese("Đi đâu")
    assert not is_unmarked_vietnamese("2016")
    assert not is_unmarked_vietnamese("Who is the spokesman of the Russian Defence Ministry?")


def test_marked_questions_are_left_as_typed(articles):
    for q in ("Ông Kerry gặp ông Putin ở đâu?", "Who met Putin in Moscow?", "Ai la nguoi phat ngôn?",
              "How long did the talks in Geneva last?", "Where did Kerry and Lavrov meet?"):
        assert restore_marks(q, articles) == q


def test_the_bundled_unmarked_questions_get_back_their_marks(articles):
    rows = [json.loads(x) for x in (ROOT / "evaluation/evalsets/answerable-bundled.jsonl").read_text().splitlines()]
    pairs = [(r["question_vi_notone"], r["question_vi"]) for r in rows if r.get("question_vi_notone")]
    assert len(pairs) >= 10
    exact = 0
    for typed, written in pairs:
        restored = restore_marks(typed, articles)
        assert fold_diacritics(restored) == fold_diacritics(typed)  # only marks change, never words
        exact += restored == written
    # the questions' content words are the articles' words; a few differ (the article's "diễn đàm")
    assert exact >= len(pairs) - 2, exact


def test_question_words_beat_a_lone_passage_syllable_but_not_a_passage_phrase():
    ctx = ["Đầu tháng này, cuộc họp bắt đầu lúc 3 giờ ở Moskva."]
    assert restore_marks("ong Kerry o dau", ctx) == "ông Kerry ở đâu"  # đâu, not the passage's đầu
    assert restore_marks("cuoc hop bat dau luc may gio", ctx) == "cuộc họp bắt đầu lúc mấy giờ"
    assert restore_marks("Ai o Moskva?", ctx) == "Ai ở Moskva?"


def test_a_name_keeps_the_passages_capitals_a_sentence_start_does_not():
    ctx = ["Phát biểu tại Hà Nội, ông nói.", "Ông ấy phát biểu ở Hà Nội hôm qua.", "Bà phát biểu."]
    assert restore_marks("ai phat bieu o ha noi", ctx) == "ai phát biểu ở Hà Nội"
