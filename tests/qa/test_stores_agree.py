"""The same questions give the same cited answers on the FAISS store and on Milvus (Lite).

The Milvus pipeline indexes the bundled articles through the ordinary ingestion path
(``Pipeline.add_documents`` with ``vector_store_uri`` set), then every seed question of
tests/qa/test_ask.py is asked of both pipelines; on the MLQA-vi dev set the evaluation harness
gives the same recall on both stores (slow; the Milvus store gets the FAISS store's vectors, so
the dev set is embedded once).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("pymilvus", reason="the Milvus store needs pymilvus (requirements.txt)")
pytest.importorskip("milvus_lite", reason="milvus-lite (embedded Milvus) is not available on this platform")

from qa import Pipeline, QAConfig  # noqa: E402

HERE = Path(__file__).resolve().parent

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _seed_questions() -> list[str]:
    spec = importlib.util.spec_from_file_location("_test_ask", HERE / "test_ask.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = [(q.values if hasattr(q, "values") else q)[0] for q in mod.QUESTIONS]
    return out + [
        "Giá vàng hôm nay bao nhiêu?", "What is the capital of Australia?",
        "Nga đã triển khai những lực lượng nào đến Syria?",
    ]


QUESTIONS = _seed_questions()


@pytest.fixture(scope="module")
def milvus_pipeline(encoder, tmp_path_factory, bundled_pipeline):
    """The shortest article goes through the ordinary ingestion path (chunk, embed, add, commit);
    the other four are copied with the FAISS pipeline's vectors (embedding all five again would
    add ~35 s to the fast suite on 2 cores)."""
    from corpus import load_bundled
    from embeddings.stores import copy_store

    uri = str(tmp_path_factory.mktemp("milvus") / "bundled.db")
    pipe = Pipeline(QAConfig(vector_store_uri=uri, vector_store_collection="bundled"), encoder=encoder)
    shortest = min(load_bundled(), key=lambda d: len(d.text))
    report = pipe.add_documents([shortest])
    assert report.added == [shortest.id] and report.passages > 0
    assert copy_store(bundled_pipeline.index, pipe.index) == len(bundled_pipeline.index) - report.passages
    pipe.index.close()
    # a fresh pipeline over the same file: everything it answers from was read back from Milvus
    # the answerer of bundled_pipeline (the FAISS side), so that only the store differs
    return Pipeline(QAConfig(vector_store_uri=uri, vector_store_collection="bundled",
                             answerer=bundled_pipeline.config.answerer), encoder=encoder)


def cited(answer):
    return [(c.n, c.doc_id, c.start, c.end, c.sentence) for c in answer.citations]


def test_milvus_store_is_selected_by_configuration(milvus_pipeline, bundled_pipeline):
    from embeddings.stores.faiss import FaissStore
    from embeddings.stores.milvus import MilvusStore

    assert isinstance(milvus_pipeline.index, MilvusStore)
    assert isinstance(bundled_pipeline.index, FaissStore)
    assert set(milvus_pipeline.index.documents) == set(bundled_pipeline.index.documents)
    assert len(milvus_pipeline.index) == len(bundled_pipeline.index)


@pytest.mark.parametrize("question", QUESTIONS, ids=[q[:40] for q in QUESTIONS])
def test_same_cited_answer_on_both_stores(milvus_pipeline, bundled_pipeline, question):
    a = bundled_pipeline.ask(question)
    b = milvus_pipeline.ask(question)
    assert (b.found, b.language, b.text) == (a.found, a.language, a.text)
    assert cited(b) == cited(a)
    assert [(p.doc_id, p.start, p.end) for p in b.passages] == [(p.doc_id, p.start, p.end) for p in a.passages]
    # The Milvus index re-embedded one article in other batches: at fp32 its vectors are the same
    # to ~1e-7, under bf16 autocast (encoder_precision "auto" on a bf16 CPU) rounding depends on
    # the batch's padded length, ~1e-4 in cosine.
    tol = 1e-5 if bundled_pipeline.encoder.precision == "fp32" else 1e-3
    for p, q in zip(a.passages, b.passages):
        assert q.scores["dense"] == pytest.approx(p.scores["dense"], abs=tol)
    for c in b.citations:  # the citation is the exact sentence of the document stored in Milvus
        assert milvus_pipeline.index.documents[c.doc_id].text[c.start:c.end] == c.sentence


@pytest.mark.parametrize("filters", [
    {"sources": ["QĐND"]},
    {"date_from": "2016-01", "date_to": "2016-12"},
    {"date_to": "2015"},
])
def test_filters_restrict_the_answer_the_same_way(milvus_pipeline, bundled_pipeline, bundled_docs, filters):
    from embeddings.stores import PassageFilter

    flt = PassageFilter.coerce(filters)
    allowed = {d.id for d in bundled_docs.values() if flt.matches(d)}
    assert allowed and len(allowed) < len(bundled_docs)
    question = "Ông Kerry gặp ông Putin ở đâu?"
    a = bundled_pipeline.ask(question, filters=filters)
    b = milvus_pipeline.ask(question, filters=filters)
    assert a.passages and {p.doc_id for p in a.passages} <= allowed
    assert {c.doc_id for c in a.citations} <= allowed
    assert (b.found, b.text, cited(b)) == (a.found, a.text, cited(a))
    assert [p.doc_id for p in b.passages] == [p.doc_id for p in a.passages]


@pytest.mark.slow
def test_eval_harness_recall_agrees_within_001(encoder, tmp_path, dev_set):
    from embeddings.stores import copy_store
    from embeddings.stores.milvus import MilvusStore
    from evaluation.datasets import load_qa_set
    from evaluation.harness import build_pipeline, run_eval

    qa = load_qa_set(dev_set)
    base, _ = build_pipeline(qa, encoder=encoder, cache=True, progress=False)
    store = MilvusStore.open_or_create(
        str(tmp_path / "dev.db"), collection="dev", model=encoder.name, fingerprint=encoder.fingerprint,
        probe=encoder.probe_vector, dim=encoder.dim, chunking=base.index.manifest["chunking"])
    assert copy_store(base.index, store) == len(base.index)  # the FAISS store's vectors: no re-embedding
    milvus_base = Pipeline(base.config, encoder=encoder, index=store)
    # Every dev question, dense and hybrid: Milvus Lite's document frequencies come from its row
    # sample (the whole collection below 2,000 passages), so hybrid costs ~0.2 s a question here
    # (BENCHMARKS.md, "Dev-set recall through FAISS, the 2.3.5 server and Milvus Lite")
    for method in ("dense", "hybrid"):
        faiss_rows = run_eval(base, qa, [method], answers=False, progress=False)["results"]
        milvus_rows = run_eval(milvus_base, qa, [method], answers=False, progress=False)["results"]
        assert len(faiss_rows) == len(milvus_rows) == 2
        for f, m in zip(faiss_rows, milvus_rows):
            assert (f["method"], f["language"]) == (m["method"], m["language"]) and "error" not in m
            assert f["n"] == m["n"] > 500
            for metric in ("recall@1", "recall@5", "recall@20", "mrr@10"):
                assert abs(f[metric] - m[metric]) <= 0.01, (method, f["language"], metric, f[metric], m[metric])


def test_bad_filters_are_refused_with_a_clear_message(bundled_pipeline):
    with pytest.raises(ValueError, match="date_from must look like 2016"):
        bundled_pipeline.ask("Ông Kerry gặp ông Putin ở đâu?", filters={"date_from": "26/08/2016"})
    with pytest.raises(ValueError, match="unknown filter field"):
        bundled_pipeline.ask("Ông Kerry gặp ông Putin ở đâu?", filters={"outlet": "QĐND"})


def test_cli_selects_the_store_and_filters_by_flags():
    from qa.cli import _config, build_parser

    args = build_parser().parse_args(["ask", "--store", "/data/vn.db", "--collection", "news", "--source", "QĐND",
                                      "--date-from", "2016", "Ai là người phát ngôn?"])
    cfg = _config(args)
    assert (cfg.vector_store_uri, cfg.vector_store_collection) == ("/data/vn.db", "news")
    assert (args.source, args.date_from, args.date_to) == (["QĐND"], "2016", None)
    assert _config(build_parser().parse_args(["ask", "q"])).vector_store_uri is None  # FAISS by default
