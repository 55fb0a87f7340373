"""Sentence splitting and token-budgeted chunking, with the real encoder's tokenizer."""

from __future__ import annotations

import random

import pytest

from corpus import Document, load_bundled
from corpus.chunking import ChunkingConfig, chunk_document, split_sentences

CONFIGS = [ChunkingConfig(200, 40), ChunkingConfig(60, 15)]


@pytest.fixture(scope="module")
def docs() -> list[Document]:
    return load_bundled()


@pytest.fixture(scope="module")
def chunked(docs, encoder):
    """{(doc index, config): chunks} for every bundled article and both configurations."""
    return {(i, cfg): chunk_document(d, encoder.count_tokens, cfg,
                                     reserved_tokens=encoder.passage_overhead(d.title))
            for i, d in enumerate(docs) for cfg in CONFIGS}


def _check_chunks(doc: Document, chunks, encoder, cfg: ChunkingConfig) -> None:
    """The invariants every chunking must satisfy."""
    assert chunks, doc.path
    overhead = encoder.passage_overhead(doc.title)
    covered = bytearray(len(doc.text))
    for n, c in enumerate(chunks):
        assert c.doc_id == doc.id and c.index == n
        assert c.text == doc.text[c.start:c.end]
        assert c.text == c.text.strip() and c.text
        assert c.n_tokens == encoder.count_tokens(c.text)
        assert c.n_tokens + overhead <= cfg.max_tokens, (doc.path, n, c.n_tokens, overhead)
        assert c.sentences and c.sentences[0][0] == c.start and c.sentences[-1][1] == c.end
        prev_end = c.start
        for s, e in c.sentences:
            assert c.start <= s < e <= c.end
            assert s >= prev_end  # in order, not overlapping
            prev_end = e
            sent = doc.text[s:e]
            assert sent and sent == sent.strip()
            covered[s:e] = b"\x01" * (e - s)
    missing = [i for i, ch in enumerate(doc.text) if not ch.isspace() and not covered[i]]
    assert not missing, (doc.path, doc.text[missing[0] - 30:missing[0] + 30])
    # chunks move forward through the text
    for a, b in zip(chunks, chunks[1:]):
        assert a.start < b.start and a.end <= b.end


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.max_tokens}-{c.overlap_tokens}")
def test_bundled_articles_chunk_within_budget_and_cover_the_text(docs, chunked, encoder, cfg):
    for i, d in enumerate(docs):
        _check_chunks(d, chunked[(i, cfg)], encoder, cfg)


def test_smaller_budget_gives_more_and_shorter_chunks(docs, chunked):
    for i, _ in enumerate(docs):
        big, small = chunked[(i, CONFIGS[0])], chunked[(i, CONFIGS[1])]
        assert len(small) > len(big)
        assert max(c.n_tokens for c in small) < min(60, max(c.n_tokens for c in big))


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.max_tokens}-{c.overlap_tokens}")
def test_consecutive_chunks_overlap_by_whole_sentences(docs, chunked, encoder, cfg):
    overlapping = 0
    for i, d in enumerate(docs):
        chunks = chunked[(i, cfg)]
        for a, b in zip(chunks, chunks[1:]):
            shared = [s for s in a.sentences if s in b.sentences]
            if shared:  # a suffix of a, a prefix of b: whole sentences, never a part of one
                overlapping += 1
                assert tuple(shared) == a.sentences[-len(shared):] == b.sentences[:len(shared)]
                assert b.start == shared[0][0]
                assert sum(encoder.count_tokens(d.text[s:e]) for s, e in shared) <= cfg.overlap_tokens
                assert len(shared) < len(a.sentences)  # the next chunk always moves on
            else:
                assert b.start >= a.end
                last, nxt = a.sentences[-1], b.sentences[0]
                # no overlap only when the last sentence is too long to carry over, or when
                # carrying it would leave no room for the next sentence
                if len(a.sentences) > 1:
                    assert (encoder.count_tokens(d.text[last[0]:last[1]]) > cfg.overlap_tokens
                            or encoder.count_tokens(d.text[last[0]:nxt[1]]) + encoder.passage_overhead(d.title)
                            > cfg.max_tokens - 2)
    if cfg.max_tokens >= 200:  # at 60 tokens a carried sentence rarely leaves room for another
        assert overlapping > 0


def test_short_sentences_are_carried_into_the_next_chunk(encoder):
    sentences = [f"Câu số {i} nói về cuộc hội đàm tại Giơ-ne-vơ." for i in range(1, 41)]
    doc = Document.create("Tiêu đề", " ".join(sentences))
    cfg = ChunkingConfig(100, 40)
    chunks = chunk_document(doc, encoder.count_tokens, cfg, reserved_tokens=encoder.passage_overhead(doc.title))
    _check_chunks(doc, chunks, encoder, cfg)
    assert len(chunks) >= 8
    counts = {encoder.count_tokens(s) for s in sentences}
    assert 2 * max(counts) <= cfg.overlap_tokens < 3 * min(counts)  # exactly two sentences fit the overlap
    for a, b in zip(chunks, chunks[1:]):
        assert b.sentences[:2] == a.sentences[-2:]
        assert doc.text[b.start:a.end] == doc.text[a.sentences[-2][0]:a.sentences[-1][1]]


def test_every_chunk_brings_new_text(docs, chunked):
    cfg = ChunkingConfig(60, 15)
    redundant = []
    for i, d in enumerate(docs):
        chunks = chunked[(i, cfg)]
        redundant += [(d.path, b.index, b.text) for a, b in zip(chunks, chunks[1:]) if b.end <= a.end]
    assert not redundant


def test_zero_overlap_gives_disjoint_chunks(docs, encoder):
    cfg = ChunkingConfig(60, 0)
    for d in docs:
        chunks = chunk_document(d, encoder.count_tokens, cfg, reserved_tokens=encoder.passage_overhead(d.title))
        _check_chunks(d, chunks, encoder, cfg)
        for a, b in zip(chunks, chunks[1:]):
            assert b.start >= a.end and not set(a.sentences) & set(b.sentences)


# --------------------------------------------------------------------------- long sentences


def test_overlong_sentence_is_split_into_fitting_pieces_not_truncated(encoder):
    rng = random.Random(7)
    vocab = ("ngoại trưởng hội đàm tại thành phố về vấn đề hòa bình khu vực quốc tế Giơ-ne-vơ "
             "Xy-ri lệnh ngừng bắn nhân đạo").split()
    long_sentence = " ".join(rng.choice(vocab) for _ in range(600)) + "."
    text = "Mở đầu ngắn.\n\n" + long_sentence + " Câu cuối ngắn."
    doc = Document.create("Một tiêu đề", text)
    assert encoder.count_tokens(long_sentence) > 512
    for cfg in (ChunkingConfig(200, 40), ChunkingConfig(60, 15)):
        chunks = chunk_document(doc, encoder.count_tokens, cfg, reserved_tokens=encoder.passage_overhead(doc.title))
        _check_chunks(doc, chunks, encoder, cfg)
        ls = text.index(long_sentence)
        le = ls + len(long_sentence)
        pieces = sorted({(s, e) for c in chunks for s, e in c.sentences if ls <= s and e <= le})
        assert len(pieces) >= 2
        # cut at word boundaries, in order, and together they are the whole sentence
        assert pieces[0][0] == ls and pieces[-1][1] == le
        for (s1, e1), (s2, e2) in zip(pieces, pieces[1:]):
            assert e1 <= s2 and text[e1:s2].isspace()
        assert " ".join(text[s:e] for s, e in pieces).split() == long_sentence.split()
        # the short sentences around it are kept whole
        flat = {doc.text[s:e] for c in chunks for s, e in c.sentences}
        assert {"Mở đầu ngắn.", "Câu cuối ngắn."} <= flat


def test_budget_too_small_for_the_title_is_an_error(encoder):
    doc = Document.create("Tiêu đề " * 20, "Một câu.")
    with pytest.raises(ValueError, match="max_tokens"):
        chunk_document(doc, encoder.count_tokens, ChunkingConfig(40, 0),
                       reserved_tokens=encoder.passage_overhead(doc.title))


def test_empty_document_has_no_chunks(encoder):
    assert chunk_document(Document.create("T", "  \n\n "), encoder.count_tokens) == []


# --------------------------------------------------------------------------- sentence splitting


def _sents(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


def test_closing_quote_stays_with_its_sentence():
    assert _sents('Ông nói: "Tôi đi." Rồi về.') == ['Ông nói: "Tôi đi."', "Rồi về."]
    assert _sents("Ông nói: “Tôi đi.” Rồi về.") == ["Ông nói: “Tôi đi.”", "Rồi về."]
    assert _sents("Ông hỏi (ở Hà Nội.) Rồi về.") == ["Ông hỏi (ở Hà Nội.)", "Rồi về."]


def test_opening_straight_quote_starts_the_next_sentence():
    assert _sents('Anh ta đến. "Tôi đi", anh nói.') == ["Anh ta đến.", '"Tôi đi", anh nói.']


def test_abbreviations_do_not_end_sentences():
    text = "Tôi sống ở TP. HCM từ năm 2000. Anh ấy ở Hà Nội."
    assert _sents(text) == ["Tôi sống ở TP. HCM từ năm 2000.", "Anh ấy ở Hà Nội."]
    assert _sents("Giá là 1.000.000 đồng. Tăng 2,5%.") == ["Giá là 1.000.000 đồng.", "Tăng 2,5%."]


def test_paragraph_breaks_end_sentences_and_spans_are_exact():
    text = "  Dòng một không có dấu chấm\n\n   Dòng hai.   Câu   ba  có khoảng trắng.\n\n\n"
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == [
        "Dòng một không có dấu chấm", "Dòng hai.", "Câu   ba  có khoảng trắng."]
    assert spans[0][0] == 2


def test_split_sentences_on_bundled_articles_is_ordered_and_stripped(docs):
    for d in docs:
        spans = split_sentences(d.text)
        assert len(spans) > 10
        for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
            assert e1 <= s2 and d.text[e1:s2].strip() == ""
        assert spans[0][0] == len(d.text) - len(d.text.lstrip())
        assert spans[-1][1] == len(d.text.rstrip())


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize("max_tokens,overlap", [(15, 0), (0, 0), (200, 100), (200, 150), (200, -1), (16, 8)])
def test_invalid_configs_are_rejected(max_tokens, overlap):
    with pytest.raises(ValueError):
        ChunkingConfig(max_tokens, overlap)


@pytest.mark.parametrize("max_tokens,overlap", [(16, 0), (16, 7), (200, 99), (512, 0)])
def test_valid_configs(max_tokens, overlap):
    cfg = ChunkingConfig(max_tokens, overlap)
    assert (cfg.max_tokens, cfg.overlap_tokens) == (max_tokens, overlap)
