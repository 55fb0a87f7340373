"""The reading-comprehension answerer, run for real on a tiny question-answering model built here.

The model is a one-layer BERT with a span-prediction head and random weights; its WordPiece
tokenizer is trained in the test (``tokenizers``) on the bundled articles: nothing is downloaded.
Random weights point at random spans, so these tests prove the plumbing and the invariants
(spans lie in the passage, never in the question; the bold lead is a substring of the cited
sentence, which is the document's text at the citation's offsets; the refusal threshold works;
long passages are read in overlapping windows) — never answer quality. The span selection
itself is tested on crafted logits.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest

from qa import Pipeline, QAConfig
from qa.answering.reader import MAX_SEQ_TOKENS, ReaderAnswerer
from qa.answering.relevance import NOT_FOUND
from qa.types import Passage

QUESTIONS = [
    ("Ông Kerry gặp ông Putin ở đâu?", "vi"),
    ("Ai là người phát ngôn Bộ Quốc phòng Nga?", "vi"),
    ("Where did Kerry meet Putin in December?", "en"),
    ("How many people were killed by air strikes in Raqqa and Aleppo?", "en"),
]
#: a threshold every span beats (answers always) and one none does (always refuses)
ALWAYS, NEVER = -1e9, 1e9
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@pytest.fixture(scope="module")
def tiny_reader_dir(tmp_path_factory, bundled_docs):
    import torch
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import (
        BertConfig,
        BertForQuestionAnswering,
        PreTrainedTokenizerFast,
    )

    raw = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    raw.normalizer = normalizers.NFC()
    raw.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    raw.decoder = decoders.WordPiece()
    raw.train_from_iterator([d.text for d in bundled_docs.values()],
                            trainer=trainers.WordPieceTrainer(vocab_size=2000, special_tokens=SPECIAL))
    cls, sep = raw.token_to_id("[CLS]"), raw.token_to_id("[SEP]")
    raw.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                  sep_token="[SEP]", mask_token="[MASK]", model_max_length=512,
                                  model_input_names=["input_ids", "token_type_ids", "attention_mask"])
    torch.manual_seed(0)
    model = BertForQuestionAnswering(BertConfig(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=512))
    path = tmp_path_factory.mktemp("tiny-reader")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def _reader_pipeline(base, model_dir, **changes) -> Pipeline:
    cfg = base.config.with_(answerer="reader", reader_model=str(model_dir), **changes)
    return Pipeline(cfg, encoder=base.encoder, index=base.index)


# ------------------------------------------------------------------ span selection on crafted logits

# ------------------------------------------------------------------ the tiny model end to end

@pytest.fixture(scope="module")
def answering_pipe(tiny_reader_dir, bundled_pipeline):
    """The reader over the bundled index, answering whatever its best span's margin, citing the
    sentence of its own best span."""
    return _reader_pipeline(bundled_pipeline, tiny_reader_dir, reader_min_margin=ALWAYS, reader_cites="span")


@pytest.mark.parametrize("question,language", QUESTIONS)
def test_reader_answers_with_a_cited_span(answering_pipe, bundled_docs, question, language):
    pipe = answering_pipe
    answer = pipe.ask(question)
    assert answer.answerer == "reader" and answer.found and answer.language == language
    (c,) = answer.citations
    doc = next(d for d in bundled_docs.values() if d.id == c.doc_id)
    assert c.sentence == doc.text[c.start:c.end].strip() and c.sentence
    assert c.passage_id in {p.id for p in answer.passages}  # cited from the retrieved passages
    m = re.match(r"\*\*(.+?)\*\* – (.*)$", answer.text, re.DOTALL)
    assert m, answer.text
    lead, rest = m.groups()
    assert len(lead.split()) <= pipe.config.reader_max_answer_tokens
    if language == "vi" or lead not in c.sentence:  # an English lead may be rendered in English
        assert lead in c.sentence or all(n in c.sentence for n in re.findall(r"\d+", lead))
    if language == "en":
        assert rest.startswith("according to [1]: “")
    else:
        assert "[1]" in rest and not rest.startswith("according to")


def test_reader_spans_never_come_from_the_question(tiny_reader_dir, bundled_pipeline):
    reader = ReaderAnswerer(str(tiny_reader_dir), max_answer_tokens=5)
    q = bundled_pipeline.query(QUESTIONS[0][0])
    passages = bundled_pipeline.retrieve(q)
    spans = reader.spans(q.text, passages)
    assert {id(p) for p, *_ in spans} == {id(p) for p in passages}  # one window each (short passages)
    tok = reader.tokenizer
    for p, a, b, span in spans:
        assert 0 <= a < b <= len(p.text) and span.end - span.start < 5
        # the span's characters are those of its tokens in the passage, not of the question
        ids = tok(q.text, p.text, truncation="only_second", max_length=MAX_SEQ_TOKENS)
        assert ids.sequence_ids()[span.start] == 1 and ids.sequence_ids()[span.end] == 1


def test_long_question_is_cut_to_leave_room_for_the_passage(tiny_reader_dir, bundled_pipeline):
    reader = ReaderAnswerer(str(tiny_reader_dir))
    passages = bundled_pipeline.retrieve(QUESTIONS[0][0])
    question = " ".join([QUESTIONS[0][0]] * 60)  # ~900 tokens, more than a window
    assert len(reader.tokenizer(question)["input_ids"]) > MAX_SEQ_TOKENS
    spans = reader.spans(question, passages)
    assert {id(p) for p, *_ in spans} == {id(p) for p in passages}
    assert all(0 <= a < b <= len(p.text) for p, a, b, _ in spans)


def test_long_passage_is_read_in_overlapping_windows(tiny_reader_dir, bundled_docs):
    reader = ReaderAnswerer(str(tiny_reader_dir))
    doc = bundled_docs["000"]
    assert len(reader.tokenizer(doc.text)["input_ids"]) > MAX_SEQ_TOKENS  # the case under test
    whole = Passage(id=0, doc_id=doc.id, title=doc.title, source="", url="", text=doc.text, start=0,
                    end=len(doc.text), sentences=[(0, len(doc.text))], score=1.0, rank=1)
    spans = reader.spans("Ông Kerry gặp ông Putin ở đâu?", [whole])
    assert len(spans) >= 2 and all(p is whole and 0 <= a < b <= len(doc.text) for p, a, b, _ in spans)


def test_margin_threshold_refuses_in_the_question_language(tiny_reader_dir, bundled_pipeline):
    pipe = _reader_pipeline(bundled_pipeline, tiny_reader_dir, reader_min_margin=NEVER, reader_cites="span")
    for question, language in (QUESTIONS[0], QUESTIONS[2]):
        answer = pipe.ask(question)
        assert not answer.found and answer.citations == [] and answer.text == NOT_FOUND[language]
        assert answer.answerer == "reader" and answer.passages  # it read them and refused


@pytest.mark.parametrize("question,language", QUESTIONS)
def test_cited_reader_cites_the_extractive_sentences_and_leads_with_a_span_in_them(
        tiny_reader_dir, bundled_pipeline, question, language):
    extractive = Pipeline(bundled_pipeline.config.with_(answerer="extractive"), encoder=bundled_pipeline.encoder,
                          index=bundled_pipeline.index).ask(question)
    answer = _reader_pipeline(bundled_pipeline, tiny_reader_dir, reader_min_margin=ALWAYS,
                              reader_fusion_weight=0.0).ask(question)
    assert answer.answerer == "reader" and answer.found and extractive.found
    assert [(c.doc_id, c.start, c.end) for c in answer.citations] == \
        [(c.doc_id, c.start, c.end) for c in extractive.citations]  # the extractive answerer's sentences
    assert answer.lead_source and any(answer.lead_source in c.sentence for c in answer.citations)
    assert answer.text.startswith(f"**{answer.lead}** – ")
    assert isinstance(answer.confidence, float)  # the span's margin
    for c in answer.citations:  # quoted as the extractive answer quotes them
        body = c.sentence.rstrip(".!?…")
        assert body[:40] in answer.text and body[:40] in extractive.text


def test_cited_reader_under_its_margin_is_the_extractive_answer(tiny_reader_dir, bundled_pipeline):
    extractive = Pipeline(bundled_pipeline.config.with_(answerer="extractive"), encoder=bundled_pipeline.encoder,
                          index=bundled_pipeline.index)
    pipe = _reader_pipeline(bundled_pipeline, tiny_reader_dir, reader_min_margin=NEVER, reader_fusion_weight=0.0)
    for question, _ in QUESTIONS:
        a, e = pipe.ask(question), extractive.ask(question)
        assert a.found and a.text == e.text and a.lead == e.lead and a.answerer == "reader"


@pytest.mark.parametrize("question,language", QUESTIONS)
def test_fusion_reranks_the_best_sentences_by_the_readers_margin(tiny_reader_dir, bundled_pipeline, question,
                                                                  language):
    """reader_fusion_weight: the reader_windows best sentences are each read and re-ranked; a
    weight that dwarfs the extractive score makes the best-read sentence the cited one."""
    pipe = _reader_pipeline(bundled_pipeline, tiny_reader_dir, reader_min_margin=ALWAYS, reader_fusion_weight=1e6,
                            reader_fusion_clip=1e9, reader_windows=4)
    reader = pipe.answerer
    q = pipe.query(question)
    passages = pipe.retrieve(q)
    scored = reader.extractive.score_sentences(q, passages)
    reads = reader.read_sentences(q, scored[:4])
    assert len(reads) == 4 and all(r is not None for r in reads)
    for s, (lead, span) in zip(scored[:4], reads):
        assert lead in s.text  # each span lies in its own sentence
    best = max(range(4), key=lambda i: reads[i][1].margin)
    fused, spans = reader.fuse(q, scored)
    assert (fused[0].start, fused[0].passage.doc_id) == (scored[best].start, scored[best].passage.doc_id)
    assert sorted((s.start, s.passage.doc_id) for s in fused[:4]) == \
        sorted((s.start, s.passage.doc_id) for s in scored[:4])  # the same four, re-ordered
    assert fused[4:] == scored[4:]  # the rest is not read
    answer = pipe.ask(question)
    first = next(c for c in answer.citations if (c.doc_id, c.start) == (fused[0].passage.doc_id, fused[0].start))
    assert answer.lead_source in first.sentence  # the lead is the best-read sentence's span
    assert set((c.doc_id, c.start) for c in answer.citations) <= {(s.passage.doc_id, s.start) for s in fused[:4]}


def test_focus_keeps_spans_inside_the_chosen_sentence(tiny_reader_dir, bundled_pipeline):
    reader = ReaderAnswerer(str(tiny_reader_dir), max_answer_tokens=8)
    passages = bundled_pipeline.retrieve(QUESTIONS[1][0])
    p = next(x for x in passages if len(x.sentences) >= 3)
    s, e = p.sentences[1]
    focus = [[(s - p.start, e - p.start)]]
    spans = reader.spans(QUESTIONS[1][0], [p], focus)
    assert spans
    for _, a, b, _ in spans:
        assert s - p.start <= a < b <= e - p.start, (a, b, s - p.start, e - p.start)


def test_reader_precision_is_validated_and_bf16_reads_the_same_windows(tiny_reader_dir, bundled_pipeline):
    import contextlib

    import torch

    with pytest.raises(ValueError, match="reader_precision must be auto, fp32 or bf16"):
        QAConfig(reader_precision="int4")
    with pytest.raises(ValueError, match="reader precision"):
        ReaderAnswerer(str(tiny_reader_dir), precision="fp16")
    question = QUESTIONS[0][0]
    passages = bundled_pipeline.retrieve(question)
    fp32, bf16 = (ReaderAnswerer(str(tiny_reader_dir), precision=p) for p in ("fp32", "bf16"))
    assert isinstance(fp32._autocast(), contextlib.nullcontext)
    assert isinstance(bf16._autocast(), torch.autocast)
    a, b = fp32.spans(question, passages), bf16.spans(question, passages)
    assert [p.id for p, *_ in a] == [p.id for p, *_ in b]  # one best span per window either way
    for (_, _, _, x), (_, _, _, y) in zip(a, b):
        assert abs(x.null - y.null) <= 0.05 + 0.02 * abs(x.null)  # bf16 rounding, not another model


def test_missing_model_is_a_clear_error(tmp_path, bundled_pipeline):
    with pytest.raises(FileNotFoundError, match="reader model folder"):
        _reader_pipeline(bundled_pipeline, tmp_path / "no-such-model")
    empty = tmp_path / "empty"
    empty.mkdir()
    pipe = _reader_pipeline(bundled_pipeline, empty)  # loaded lazily: the error comes on first use
    assert not pipe.answerer.loaded
    with pytest.raises(RuntimeError, match="could not load reader model"):
        pipe.ask(QUESTIONS[0][0])


def test_reader_config_is_validated():
    from qa.answering.reader_weights import BUNDLED_READER

    cfg = QAConfig(answerer="reader")  # no model named: the reader that ships in models/reader
    assert cfg.reader_model is None and ReaderAnswerer.from_config(cfg).model_id == str(BUNDLED_READER)
    with pytest.raises(ValueError, match="reader_max_answer_tokens"):
        QAConfig(answerer="reader", reader_model="x", reader_max_answer_tokens=0)
    with pytest.raises(ValueError, match="reader_fusion_weight"):
        QAConfig(reader_fusion_weight=-0.1)
    with pytest.raises(ValueError, match="reader_fusion_clip"):
        QAConfig(reader_fusion_clip=0)
    with pytest.raises(ValueError, match="extractive, generative or reader"):
        QAConfig(answerer="span")
    cfg = QAConfig(answerer="reader", reader_model="deepset/xlm-roberta-base-squad2")
    assert (cfg.reader_device, cfg.reader_min_margin, cfg.reader_max_answer_tokens) == ("cpu", -10.0, 30)


def test_cli_reader_model_flag_selects_the_reader(tiny_reader_dir, bundled_pipeline, encoder, tmp_path, capsys,
                                                  monkeypatch):
    import qa.pipeline
    from qa.cli import main

    monkeypatch.setattr(qa.pipeline, "load_encoder", lambda *a, **kw: encoder)
    index = tmp_path / "index"
    shutil.copytree(bundled_pipeline.index.path, index)
    rc = main(["ask", "--index", str(index), "--json", "--reader-model", str(tiny_reader_dir), QUESTIONS[0][0]])
    d = json.loads(capsys.readouterr().out)
    assert d["answerer"] == "reader" and rc == (0 if d["found"] else 3)
    assert main(["ask", "--index", str(index), "--reader-model", str(tmp_path / "nope"), QUESTIONS[0][0]]) == 2
    assert "reader model folder" in capsys.readouterr().err
    assert main(["ask", "--index", str(index), "--reader-model", str(tiny_reader_dir), "--generator-url",
                 "http://127.0.0.1:9/v1", QUESTIONS[0][0]]) == 2
    assert "choose one answerer" in capsys.readouterr().err


def test_eval_harness_evaluates_the_reader(tiny_reader_dir, encoder, tmp_path, capsys, monkeypatch):
    """``python -m evaluation --answerer reader --reader-model PATH`` on a tiny QA set: every
    question is answered by the reader (the margin forces it) and the run records the answerer."""
    import qa.pipeline
    from evaluation.cli import main
    from tests.evaluation.test_harness import write_set

    monkeypatch.setattr(qa.pipeline, "load_encoder", lambda *a, **kw: encoder)
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / "cache"))
    data, out = write_set(tmp_path / "tiny"), tmp_path / "out"
    common = ["--data", str(data), "--methods", "dense", "--no-unanswerable", "--quiet", "--out", str(out)]
    assert main([*common, "--reader-model", str(tmp_path / "nope")]) == 2
    assert "reader model folder" in capsys.readouterr().err
    assert main([*common, "--reader-model", str(tiny_reader_dir), "--reader-min-margin", str(ALWAYS),
                 "--reader-cites", "span"]) == 0
    res = json.loads((out / "eval.json").read_text(encoding="utf-8"))
    assert res["meta"]["config"]["answerer"] == "reader" and res["meta"]["config"]["reader_cites"] == "span"
    assert res["meta"]["config"]["reader_model"] == str(tiny_reader_dir)
    for row in res["results"]:
        assert row["answered"] == 1.0 and row["citations"] == row["n"]  # one cited span per question
    assert "answers: yes (reader)" in (out / "eval.md").read_text(encoding="utf-8")


def test_app_offers_the_reader_from_the_environment(tiny_reader_dir, bundled_pipeline, monkeypatch):
    from webapp import handlers as app
    from webapp.handlers import Backends

    monkeypatch.delenv("QA_READER_MODEL", raising=False)
    assert Backends.from_env().configs["reader"].reader_model is None  # the shipped reader
    monkeypatch.setenv("QA_READER_MODEL", str(tiny_reader_dir))
    cfg = Backends.from_env().configs["reader"]
    assert (cfg.answerer, cfg.reader_model) == ("reader", str(tiny_reader_dir))
    be = Backends(pipe=bundled_pipeline, reader=cfg.with_(reader_min_margin=ALWAYS))
    assert be.names == ["extractive", "reader"]
    pipe = be.get("reader")
    assert pipe is not bundled_pipeline and pipe.index is bundled_pipeline.index and pipe.answerer.name == "reader"
    chat = None
    for chat, _ in app.respond(QUESTIONS[0][0], [], "auto", 5, "reader", backends=be):
        pass
    assert 'class="cite"' in app._content_text(chat[-1]) and "<strong>" in app._content_text(chat[-1])


def test_span_is_widened_to_words_and_cut_at_its_sentence():
    from qa.answering.spans import Span, _widen

    text = "Ông Kerry gặp ông Putin ở Moskva. Hai bên hội đàm 3 giờ."
    assert _widen(text, 6, 8) == (4, 9) and text[4:9] == "Kerry"  # a token inside a word
    assert _widen(text, 3, 9) == (4, 9)  # leading space stripped
    # the passage starts at character 100 of its document; a span that crosses into the second
    # sentence takes the first sentence (where it starts) and is cut at its end
    first, second = (100, 133), (134, 100 + len(text))
    p = Passage(id=1, doc_id="d", title="t", source="", url="", text=text, start=100, end=100 + len(text),
                sentences=[first, second], score=1.0, rank=1)
    a = text.index("Moskva")
    sentence, lead = ReaderAnswerer._sentence(p, a, text.index("hội"), Span(0, 1, 5.0, 1.0))
    assert (sentence.start, sentence.end) == first and lead == "Moskva." and lead in sentence.text
    assert sentence.score == 4.0
    sentence, lead = ReaderAnswerer._sentence(p, text.index("3 giờ"), text.index("3 giờ") + 5, Span(0, 1, 2.0, 1.0))
    assert (sentence.start, sentence.end) == second and lead == "3 giờ"


def test_eval_harness_compares_answerers_and_routes_the_k_fold_reader(tiny_reader_dir, encoder, tmp_path,
                                                                       monkeypatch):
    """``--answerers extractive,reader --reader-folds DIR --reader-margins FILE``: a row per
    answerer on one retrieval; each question is read by its fold's reader (the fold of its
    paragraph, evaluation.datasets.dev_fold) with that fold's margins; leads are scored."""
    import qa.pipeline
    from evaluation.cli import main
    from evaluation.datasets import DEV_FOLDS, dev_fold
    from tests.evaluation.test_harness import write_set

    monkeypatch.setattr(qa.pipeline, "load_encoder", lambda *a, **kw: encoder)
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / "cache"))
    folds = tmp_path / "folds"
    for k in range(DEV_FOLDS):
        shutil.copytree(tiny_reader_dir, folds / f"fold{k}")
    data, out = write_set(tmp_path / "tiny"), tmp_path / "out"
    common = ["--data", str(data), "--methods", "dense", "--no-unanswerable", "--quiet", "--out", str(out),
              "--answerers", "extractive,reader", "--reader-folds", str(folds)]
    # fold 0's reader refuses everything (its margin is out of reach), the others answer everything
    margins = {k: {"vi": {"gate": -1.0, "margin": NEVER if k == 0 else ALWAYS},
                   "en": {"gate": -1.0, "margin": NEVER if k == 0 else ALWAYS}} for k in range(DEV_FOLDS)}
    (tmp_path / "margins.json").write_text(json.dumps(margins))
    assert main([*common, "--reader-margins", str(tmp_path / "margins.json")]) == 0
    res = json.loads((out / "eval.json").read_text(encoding="utf-8"))
    rows = {(r["answerer"], r["language"]): r for r in res["results"]}
    assert set(rows) == {(a, lang) for a in ("extractive", "reader") for lang in ("vi", "en")}
    questions = {json.loads(x)["id"]: json.loads(x) for x in (data / "questions.jsonl").read_text().splitlines()}
    for lang in ("vi", "en"):
        ext, rdr = rows["extractive", lang], rows["reader", lang]
        assert ext["recall@5"] == rdr["recall@5"]  # one retrieval, two answerers
        for r in rdr["per_question"]:
            fold = dev_fold(questions[r["id"]]["context_id"])
            assert r["fold"] == fold and r["answered"] == (fold != 0)
            assert r["confidence"] is not None and 0.0 <= r["lead_f1"] <= 1.0
            assert (r["lead"] is not None) == r["answered"]
        assert 0.0 <= rdr["lead_f1"] <= 1.0 and "lead_em" in ext
    assert {dev_fold(q["context_id"]) for q in questions.values()} - {0}, "the tiny set has questions in other folds"
    assert main([*common[:-2], "--reader-folds", str(tmp_path / "no-folds")]) == 1  # an error row, said why
    res = json.loads((out / "eval.json").read_text(encoding="utf-8"))
    assert any("fold0" in r.get("error", "") for r in res["results"] if r["answerer"] == "reader")
