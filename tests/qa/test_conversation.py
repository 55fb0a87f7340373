"""Follow-up questions and streaming of extractive answers, on the bundled articles."""

from __future__ import annotations

import pytest

from qa.conversation import (
    contextual_query,
    history_query,
    is_follow_up,
    new_names,
    previous_quotes,
    refers_back,
    validate_history,
)

Q1 = "Ông Kerry gặp ai ở Moskva?"


@pytest.mark.parametrize("question,expected", [
    ("Còn ông Lavrov nói gì?", True),
    ("When was that?", True),
    ("Ông ấy nói gì về Syria sau cuộc gặp?", True),
    ("What about Lavrov?", True),
    ("Khi nào?", True),
    ("Ông Kerry gặp ông Putin ở đâu trong tháng 12?", False),
    ("Where did Kerry meet Lavrov to discuss a ceasefire?", False),
])
def test_is_follow_up(question, expected):
    assert is_follow_up(question) is expected


def test_history_query_carries_names_of_earlier_turns():
    history = [{"role": "user", "content": Q1}, {"role": "assistant", "content": "… hôm 15/12 ở Moskva [1]."}]
    assert history_query("When was that?", history) == "When was that? Kerry Moskva"
    # a new subject ("Lavrov", which no earlier question named) carries nothing of the old one
    assert new_names("Còn ông Lavrov nói gì?", history) == ["Lavrov"]
    assert history_query("Còn ông Lavrov nói gì?", history) == "Còn ông Lavrov nói gì?"
    assert refers_back("When was that?") and refers_back("Khi nào vậy?") and not refers_back("Còn ông Lavrov nói gì?")
    standalone = "Ông Kerry gặp ông Putin ở đâu trong tháng 12?"
    assert history_query(standalone, history) == standalone  # a new topic is not polluted
    assert history_query("When was that?", []) == "When was that?"


def test_contextual_query_prefers_a_plausible_rewrite():
    history = [{"role": "user", "content": Q1}, {"role": "assistant", "content": "Putin [1]."}]
    ctx = contextual_query("When was that?", history, lambda q, h: '"When did Kerry meet Putin in Moscow?"\n')
    assert (ctx.text, ctx.method) == ("When did Kerry meet Putin in Moscow?", "rewrite")

    def broken(q, h):
        raise RuntimeError("server down")

    for rewriter in (broken, lambda q, h: "", lambda q, h: "x" * 1000):
        ctx = contextual_query("When was that?", history, rewriter)
        assert (ctx.text, ctx.method) == ("When was that? Kerry Moskva", "history")
    assert contextual_query("When was that?", None).method == "none"


def test_bad_history_is_a_clear_error():
    with pytest.raises(ValueError, match="history"):
        validate_history("Ông Kerry gặp ai?")
    with pytest.raises(ValueError, match=r"history\[1\]"):
        validate_history([{"role": "user", "content": "a"}, {"role": "robot", "content": "b"}])
    # Gradio may send non-text content (files): ignored
    assert validate_history([{"role": "user", "content": {"path": "x.png"}}]) == []


def test_previous_quotes_strip_markers_and_framing():
    answer = "According to the (Vietnamese) sources: Tổng thống Nga Vladimir Putin bắt tay ông Kerry ở Moskva [1]. Ngắn [2]."
    assert previous_quotes([{"role": "assistant", "content": answer}]) == [
        "Tổng thống Nga Vladimir Putin bắt tay ông Kerry ở Moskva."]


@pytest.fixture(scope="module")
def first_turn(bundled_pipeline):
    a = bundled_pipeline.ask(Q1)
    assert a.found
    return [{"role": "user", "content": Q1}, {"role": "assistant", "content": a.text}]


def test_follow_up_about_lavrov(bundled_pipeline, bundled_docs, first_turn):
    a = bundled_pipeline.ask("Còn ông Lavrov nói gì?", history=first_turn)
    assert a.question == "Còn ông Lavrov nói gì?" and a.retrieval_query == "Còn ông Lavrov nói gì?"
    assert a.found and a.language == "vi"
    first = a.citations[0]
    # Lavrov's words after the Moscow talks, from the Moscow article the conversation is about
    assert first.doc_id == bundled_docs["000"].id
    assert "Lavrov" in first.sentence


def _conversation(pipe, questions):
    history, answer = [], None
    for q in questions:
        answer = pipe.ask(q, history=history)
        history += [{"role": "user", "content": q}, {"role": "assistant", "content": answer.text}]
    return answer


@pytest.mark.parametrize("first", ["Who is the spokesman of the Russian Defence Ministry?",
                                   "Ai là người phát ngôn Bộ Quốc phòng Nga?", "Ông Kerry gặp ông Putin ở đâu?"])
def test_a_change_of_subject_answers_about_the_new_name(bundled_pipeline, first):
    """"Còn ông Lavrov nói gì?" after a question about someone else asks what *Lavrov* said: the
    answer used to come back to the first subject (the spokesman's article, or Kerry speaking)."""
    a = _conversation(bundled_pipeline, [first, "Còn ông Lavrov nói gì?"])
    assert a.found and a.citations
    assert all("Lavrov" in c.sentence for c in a.citations)
    assert "Konashenkov" not in a.text and not a.citations[0].sentence.startswith(("Ông Kerry", "Ông thừa nhận"))


@pytest.mark.parametrize("questions", [
    ["Ông Kerry gặp ông Putin ở đâu?", "When was that?"],
    ["Where did Kerry meet Putin in December?", "When was that?"],
    ["Ông Kerry gặp ông Putin ở đâu?", "Còn ông Lavrov nói gì?", "When was that?"],
])
def test_when_was_that_is_the_date_of_the_meeting(bundled_pipeline, bundled_docs, questions):
    """"When was that?" is the date of the Moscow meeting (15/12), not of the New York meeting
    (18/12) that the same article, and Lavrov's quoted words, also name."""
    a = _conversation(bundled_pipeline, questions)
    assert a.found and a.citations[0].doc_id == bundled_docs["000"].id
    assert "15/12" in a.citations[0].sentence
    lead = a.text.split(" – ")[0] if a.text.startswith("**") else ""
    assert "18" not in lead


def test_follow_up_when_was_that(bundled_pipeline, bundled_docs, first_turn):
    a = bundled_pipeline.ask("When was that?", history=first_turn)
    assert a.found and a.language == "en" and "according to [1]: “" in a.text.lower()
    assert a.citations[0].doc_id == bundled_docs["000"].id
    assert "15/12" in a.citations[0].sentence  # the date of the Moscow meeting


def test_extractive_answer_streams_sentence_by_sentence(bundled_pipeline):
    parts = list(bundled_pipeline.ask_stream(Q1))
    final = parts[-1]
    assert not final.partial and all(p.partial for p in parts[:-1])
    assert final.text == bundled_pipeline.ask(Q1).text
    assert len(final.citations) == len(parts)  # here: one sentence, one citation per step
    for i, p in enumerate(parts[:-1], 1):
        assert final.text.startswith(p.text) and p.text.endswith(".")
        assert [c.n for c in p.citations] == list(range(1, i + 1))


def test_names_are_carried_even_when_they_fold_to_function_words():
    # "Nội" folds to "noi" like "nói", "Nam" to "nam" like "năm": names all the same
    history = [{"role": "user", "content": "Giá xăng ở Hà Nội và Việt Nam tăng khi nào?"},
               {"role": "assistant", "content": "…"}]
    q = history_query("Còn giá điện thì sao?", history)
    assert q.startswith("Còn giá điện thì sao? ")
    carried = q[len("Còn giá điện thì sao? "):].split()
    assert {"Hà", "Nội", "Việt", "Nam"} <= set(carried)
    assert not {"ở", "và", "khi", "nào"} & set(carried)  # function words stay behind
