"""detect_language: Vietnamese with and without diacritics, English, English about Vietnamese names."""

from __future__ import annotations

import json

import pytest

from corpus.normalize import fold_diacritics
from qa.text.language import detect_language


@pytest.mark.parametrize("text", [
    "Ông Kerry gặp ông Putin ở đâu?",
    "Ai là người phát ngôn Bộ Quốc phòng Nga?",
    "Có bao nhiêu người làm nhiệm vụ nhân đạo tại Xy-ri đã thiệt mạng?",
    "Hà Nội",
    "Giá vàng hôm nay bao nhiêu?",
    "Ai vô địch World Cup 2022?",
    "Nga - Mỹ chỉ trích nhau gay gắt nhưng vẫn hợp tác trong vấn đề Syria",
])
def test_vietnamese_with_diacritics(text):
    assert detect_language(text) == "vi"


@pytest.mark.parametrize("text", [
    "ong Kerry gap ong Putin o dau",
    "hoi dam tai gio ne vo",
    "ai la nguoi phat ngon bo quoc phong nga",
    "co bao nhieu nguoi thiet mang o xy ri",
    "ngoai truong my va nga hoi dam ve lenh ngung ban",
])
def test_vietnamese_without_diacritics(text):
    assert fold_diacritics(text) == text.lower()
    assert detect_language(text) == "vi"


@pytest.mark.parametrize("text", [
    "Where did Kerry meet Putin in December?",
    "How many humanitarian workers have been killed in Syria?",
    "Who is the spokesman of the Russian Defence Ministry?",
    "What is the capital of Australia?",
    "Kerry met Lavrov in Geneva to talk about a ceasefire in Syria.",
])
def test_english(text):
    assert detect_language(text) == "en"


@pytest.mark.parametrize("text", [
    "Where is Đà Nẵng?",
    "How many people live in Hà Nội?",
    "Who is Nguyễn Phú Trọng?",
    "What did Ngoại trưởng Giôn Ke-ri say in Giơ-ne-vơ?",
])
def test_english_question_about_a_vietnamese_name(text):
    assert fold_diacritics(text) != text.lower()  # diacritics pull an n-gram model towards "vi"
    assert detect_language(text) == "en"


def test_empty_text_defaults_to_vietnamese():
    assert detect_language("") == "vi"
    assert detect_language("   \n") == "vi"


@pytest.fixture(scope="module")
def mlqa(dev_set) -> list[dict]:
    rows = [json.loads(line) for line in (dev_set / "questions.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) > 100
    return rows


def _accuracy(texts: list[str], lang: str) -> tuple[float, list[str]]:
    wrong = [t for t in texts if detect_language(t) != lang]
    return 1 - len(wrong) / len(texts), wrong


def test_mlqa_vietnamese_questions(mlqa):
    acc, wrong = _accuracy([r["question_vi"] for r in mlqa], "vi")
    assert acc >= 0.99, wrong


def test_mlqa_english_questions(mlqa):
    acc, wrong = _accuracy([r["question_en"] for r in mlqa], "en")
    assert acc >= 0.99, wrong


def test_mlqa_vietnamese_questions_typed_without_diacritics(mlqa):
    # Harder: the syllable-structure fallback is all there is. Misses are questions made
    # mostly of foreign names ("ai la ashly burch?"); measured 98.8% on the dev set.
    acc, wrong = _accuracy([fold_diacritics(r["question_vi"]) for r in mlqa], "vi")
    assert acc >= 0.98, wrong
