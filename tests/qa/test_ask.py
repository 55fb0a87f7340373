"""End-to-end questions over the bundled articles, in Vietnamese and English.

Each question was written from one article; the answer must cite that article first, and
the cited sentence must contain the answer (any of the listed forms: transliterations differ).
"""

from __future__ import annotations

import pytest

#: English questions whose answer sentence the extractive answerer ranks second today: the
#: passage holding it comes second in retrieval and the cross-lingual cosine of the right
#: sentence is below a plausible distractor's ("53 người dân ... Syria" for the humanitarian
#: workers). Strict, so fixing them turns these into failures to remove the mark.
KNOWN_MISS = pytest.mark.xfail(strict=True, reason="cross-lingual answer sentence ranked second")

# (question, article number, forms of the answer)
QUESTIONS = [
    ("Ông Kerry gặp ông Putin ở đâu?", "000", ["Moskva", "Moscow"]),
    ("Where did Kerry meet Putin in December?", "000", ["Moskva", "Moscow"]),
    ("ong Kerry gap ong Putin o dau", "000", ["Moskva", "Moscow"]),
    ("Where did Kerry and Lavrov meet in August 2016?", "003", ["Giơ-ne-vơ"]),
    ("Ngoại trưởng Kerry và Lavrov hội đàm ở đâu vào tháng 8?", "003", ["Giơ-ne-vơ"]),
    ("Cuộc họp giữa Putin và Kerry ở Moscow kéo dài bao lâu?", "000", ["3 giờ"]),
    ("How long did the meeting between Putin and Kerry in Moscow last?", "000", ["3 giờ"]),
    ("Ai là người phát ngôn Bộ Quốc phòng Nga?", "004", ["Konashenkov"]),
    pytest.param("Who is the spokesman of the Russian Defence Ministry?", "004", ["Konashenkov"], marks=KNOWN_MISS),
    ("Bộ trưởng Quốc phòng Mỹ Ash Carter đã điện đàm với ai?", "002", ["Shoygu"]),
    ("Who did US Defense Secretary Ash Carter talk to by phone?", "002", ["Shoygu"]),
    ("Tình báo Mỹ ước tính có bao nhiêu người Nga chiến đấu cho IS?", "001", ["500"]),
    ("How many Russians are fighting for IS according to US intelligence?", "001", ["500"]),
    ("Có bao nhiêu người làm nhiệm vụ nhân đạo tại Xy-ri đã thiệt mạng?", "003", ["130"]),
    pytest.param("How many humanitarian workers have been killed in Syria?", "003", ["130"], marks=KNOWN_MISS),
    ("Các cuộc không kích ở Raqqa và Aleppo đã giết chết bao nhiêu người?", "002", ["53"]),
    ("How many people were killed by air strikes in Raqqa and Aleppo?", "002", ["53"]),
]


@pytest.mark.parametrize("question,article,answers", QUESTIONS,
                         ids=[(q.values if hasattr(q, "values") else q)[0][:40] for q in QUESTIONS])
def test_answer_cites_the_right_sentence(bundled_pipeline, bundled_docs, question, article, answers):
    a = bundled_pipeline.ask(question)
    expected_lang = "vi" if any(ord(c) > 127 for c in question) or question.startswith("ong ") else "en"
    assert a.language == expected_lang
    assert a.found and a.citations, a.text
    doc = bundled_docs[article]
    assert a.citations[0].doc_id == doc.id, (a.text, [c.title for c in a.citations])
    cited = [c for c in a.citations if c.doc_id == doc.id]
    assert any(any(ans in c.sentence for ans in answers) for c in cited), a.text
    assert any(ans in a.text for ans in answers)
    for c in a.citations:
        # the [n] marker is in the text and the span is the exact sentence of the cleaned document
        assert f"[{c.n}]" in a.text
        source_doc = bundled_pipeline.index.documents[c.doc_id]
        assert source_doc.text[c.start:c.end] == c.sentence
        assert c.sentence in c.passage_text
    if a.language == "en":  # English frame (after the bold lead, if any), Vietnamese quotes
        assert "according to [1]: “" in a.text.lower()


@pytest.mark.parametrize("question,lang", [
    ("Giá vàng hôm nay bao nhiêu?", "vi"),
    ("What is the capital of Australia?", "en"),
    ("Ai vô địch World Cup 2022?", "vi"),
])
def test_unrelated_question_says_nothing_found(bundled_pipeline, question, lang):
    a = bundled_pipeline.ask(question)
    assert a.language == lang
    assert not a.found and a.citations == []
    assert ("không tìm thấy" in a.text) if lang == "vi" else ("could not find" in a.text)


def test_answer_is_short_and_only_source_sentences(bundled_pipeline):
    a = bundled_pipeline.ask("Nga đã triển khai những lực lượng nào đến Syria?")
    assert 1 <= len(a.citations) <= bundled_pipeline.config.max_answer_sentences
    stripped = a.text
    for c in a.citations:
        stripped = stripped.replace(f" [{c.n}]", "")
    for c in a.citations:
        assert c.sentence.rstrip(".") in stripped
    assert set(a.timings) >= {"embed_query", "retrieve", "answer", "total"}
    assert len(a.passages) == bundled_pipeline.config.top_k


def test_empty_question_is_an_error(bundled_pipeline):
    with pytest.raises(ValueError):
        bundled_pipeline.ask("   ")
