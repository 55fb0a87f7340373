"""Greetings and small talk (qa.text.chitchat): recognised before retrieval and answered with
what the bot can do, never with a cited fragment such as «“(Nguồn: NBC)”»."""

from __future__ import annotations

import pytest

from qa.text.chitchat import ANSWERER, chitchat_reply, detect_chitchat


@pytest.mark.parametrize("text, kind, language", [
    ("Hello", "greeting", "en"), ("hi there!", "greeting", "en"), ("Xin chào", "greeting", "vi"),
    ("chào bạn nhé 👋", "greeting", "vi"), ("Cảm ơn nhiều", "thanks", "vi"), ("thank you!", "thanks", "en"),
    ("Bạn là ai?", "identity", "vi"), ("What can you do?", "identity", "en"), ("bye", "farewell", "en"),
])
def test_phrases(text, kind, language):
    chat = detect_chitchat(text)
    assert chat is not None and (chat.kind, chat.language) == (kind, language)


@pytest.mark.parametrize("text", ["Ông Kerry gặp ông Putin ở đâu?", "Chào bạn, ông Kerry gặp ông Putin ở đâu?",
                                  "Who is the spokesman of the Russian Defence Ministry?", "Putin?", "2016?"])
def test_questions_are_not_small_talk(text):
    known = {"kerry", "putin", "ông", "spokesman", "russian"}
    assert detect_chitchat(text, known_word=lambda w: w.lower() in known) is None


def test_nonsense_only_without_a_conversation():
    assert detect_chitchat("abc xyz?", known_word=lambda w: False).kind == "nonsense"
    assert detect_chitchat("abc xyz?", known_word=lambda w: False, in_conversation=True) is None
    assert detect_chitchat("abc xyz?") is None  # without a vocabulary to check against


def test_the_reply_says_what_the_bot_can_do_in_the_message_language():
    vi = chitchat_reply(detect_chitchat("Xin chào"), articles=5)
    en = chitchat_reply(detect_chitchat("Hello"), articles=5)
    assert "5 bài báo" in vi and "trích dẫn" in vi
    assert "5 news article" in en and "citation" in en
    assert "[1]" not in vi + en and "Nguồn:" not in vi + en


@pytest.mark.parametrize("text", ["Hello", "Xin chào", "abc xyz?"])
def test_the_pipeline_answers_small_talk_without_citations(bundled_pipeline, text):
    a = bundled_pipeline.ask(text)
    assert a.answerer == ANSWERER and not a.found and a.citations == [] and a.passages == []
    assert "“" not in a.text and "(Nguồn" not in a.text
    # a real question right after a greeting is still answered
    q = bundled_pipeline.ask("Chào bạn, ông Kerry gặp ông Putin ở đâu?")
    assert q.found and q.citations and "Moskva" in q.text
