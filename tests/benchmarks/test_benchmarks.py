"""Smoke tests of the benchmark commands at tiny sizes (no timing assertions: speed is
measured by ``python -m benchmarks``, not asserted)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import ann, ingest, sources
from benchmarks.cli import main

pytestmark = [pytest.mark.usefixtures("one_torch_thread"),
              pytest.mark.usefixtures("dev_set")]


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory, bundled_pipeline, dev_set):
    """The first 3 contexts of the dev set and their questions (a QA set the bench can read)."""
    d = tmp_path_factory.mktemp("tiny-qa")
    contexts = (dev_set / "contexts.jsonl").read_text(encoding="utf-8").splitlines()[:3]
    ids = {json.loads(c)["context_id"] for c in contexts}
    questions = [q for q in (dev_set / "questions.jsonl").read_text(encoding="utf-8").splitlines()
                 if json.loads(q)["context_id"] in ids]
    (d / "contexts.jsonl").write_text("\n".join(contexts) + "\n", encoding="utf-8")
    (d / "questions.jsonl").write_text("\n".join(questions) + "\n", encoding="utf-8")
    return d


def test_synthetic_index_copies_real_passages(bundled_pipeline):
    src = bundled_pipeline.index
    n = 2 * len(src) + 3
    big = sources.synthetic_index([src], n)
    assert len(big) == n and len(big.documents) == n
    real = list(src.passages.values())
    by_text: dict[str, list[int]] = {}
    for pid, p in big.passages.items():
        by_text.setdefault(p.text, []).append(pid)
        assert p.extra["terms"][:5] == next(r for r in real if r.text == p.text).extra["terms"][:5]
        assert len(big.sentence_vectors[pid]) == len(p.sentences)
    first = real[0]
    copies = by_text[first.text]
    assert len(copies) >= 3
    v0 = src.vectors([first.id])[0]
    vecs = big.vectors(copies)
    assert np.allclose(vecs[0], v0, atol=1e-6)  # copy 0 is the real passage
    cos = vecs[1:] @ v0
    assert np.all(cos < 0.999) and np.all(cos > 0.8)  # perturbed, still near their original
    # the citation offsets of a copy still point at its sentences
    p = big.passages[copies[1]]
    doc = big.documents[p.doc_id]
    s, e = p.sentences[0]
    assert doc.text[s:e] == first.text[first.sentences[0][0] - first.start:first.sentences[0][1] - first.start]


def test_standin_vectors_are_unit_and_near_their_seeds():
    rng = np.random.default_rng(1)
    seeds = rng.standard_normal((5, 384)).astype(np.float32)
    seeds /= np.linalg.norm(seeds, axis=1, keepdims=True)
    x = ann.standin_vectors(seeds, 250, block=100)
    assert x.shape == (250, 384) and np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
    assert np.all((x @ seeds.T).max(axis=1) > 0.7)


@pytest.mark.slow  # embeds a 3-context QA set and the bundled articles several times (~1-4 min here)
def test_bench_commands_at_tiny_sizes(tiny_set, tmp_path, capsys):
    assert main(["scale", "--sizes", "40,90", "--questions", "4", "--data", str(tiny_set),
                 "--out", str(tmp_path / "scale.json")]) == 0
    r = json.loads((tmp_path / "scale.json").read_text())
    assert [x["passages"] for x in r["sizes"].values()] == [40, 90]
    for x in r["sizes"].values():
        assert x["sentences"] > x["passages"] and 0 <= x["answered"] <= 1 and x["p95_ms"] >= x["p50_ms"] > 0
    assert "| 90 |" in capsys.readouterr().out

    r = ingest.ingest(n_docs=2, rounds=1, data=tiny_set)
    assert r["documents"] == 2 + 5 and r["sentences"] > r["passages"] > 0
    assert set(r["add_documents_stages_s"]) == {"chunk", "embed", "terms", "store", "refresh"}
    assert r["ratio_vs_encode_passages_and_sentences"] > 0 and r["ratio_vs_encode_passages_fp32"] > 0
    assert r["precision"] in ("fp32", "bf16") and r["precision_cosine_to_fp32_min"] > 0.999
    assert "add_documents" in ingest.ingest_table(r) and "encode_passages_fp32 | fp32 |" in ingest.ingest_table(r)

    r = ann.ann_bench(n=3000, sizes=[1500], n_queries=6, data=tiny_set)
    assert set(r["sizes"]) == {"1500", "3000"} and all(0 <= x["recall_at_10"] <= 1 for x in r["sizes"].values())
    assert r["index"]["passages"] == 3000 and r["index"]["search_index"] == "IndexIDMap2"  # below the threshold
    assert r["index"]["open_s"] >= 0 and r["index"]["disk_mb"] > 3000 * 384 * 4 / 2**20
    assert "recall@10" in ann.ann_table(r)


def test_bench_refresh_at_a_tiny_size(tiny_set, tmp_path, capsys):
    assert main(["refresh", "--sizes", "120", "--adds", "1", "--data", str(tiny_set),
                               "--out", str(tmp_path / "refresh.json")]) == 0
    r = json.loads((tmp_path / "refresh.json").read_text())
    x = r["sizes"]["120"]
    assert x["passages"] == 120 and x["sentences"] > x["passages"]
    # each timed phase saw both channels refresh, and the additions were answered
    for phase in ("build", "add_full", "add_incremental", "remove_full", "remove_incremental"):
        keys = set(x[phase])
        assert {"lexical_s", "sentence_s"} <= keys or {"refresh_lexical_s", "refresh_sentence_s"} <= keys, phase
    assert x["add_incremental"]["passages"] > 0 and x["add_incremental"]["ask_s"] > 0
    assert r["terms"]["kb_per_passage_after_refresh"] < r["terms"]["kb_per_passage_opened"]
    assert "| 120 |" in capsys.readouterr().out


@pytest.mark.slow
def test_bench_answerers_reads_with_every_answerer_on_one_index(tmp_path, capsys):
    """Model load, the bundled index and every answerer variant over the seed questions, once."""
    from benchmarks.answerers import VARIANTS

    assert main(["answerers", "--passages", "150", "--repeats", "1", "--out", str(tmp_path / "a.json")]) == 0
    r = json.loads((tmp_path / "a.json").read_text())
    assert r["passages"] == 150 and list(r["rows"]) == [label for label, _ in VARIANTS]
    assert {"extractive", "reader int8", "reader-span int8"} <= set(r["rows"])
    for row in r["rows"].values():
        assert row["p95_ms"] >= row["p50_ms"] > row["answer_p50_ms"] > 0 and 0 < row["answered"] <= 1
    assert "| reader int8 |" in capsys.readouterr().out


def test_bench_store_recall_and_the_milvus_profile_at_tiny_sizes(tiny_set, tmp_path, capsys):
    """store_recall asks every question of the set through FAISS and Milvus Lite (the vectors
    copied, not re-embedded): dense retrieval is exact on both, so its recall must agree to the
    last digit; milvus_scale --profile reports the Milvus calls that the timed questions made."""
    assert main(["store_recall", "--stores", "milvus-lite", "--methods", "dense,bm25", "--data", str(tiny_set),
                 "--out", str(tmp_path / "recall.json")]) == 0
    r = json.loads((tmp_path / "recall.json").read_text())
    assert [(x["store"], x["method"]) for x in r["rows"]] == [
        ("faiss", "dense")] * 2 + [("faiss", "bm25")] * 2 + [("milvus-lite", "dense")] * 2 + [("milvus-lite", "bm25")] * 2
    lite = [x for x in r["rows"] if x["store"] == "milvus-lite"]
    assert all(x["questions"] > 0 and "error" not in x for x in lite)
    assert all(x["max_abs_diff"] == 0 for x in lite if x["method"] == "dense")
    assert "| milvus-lite | bm25 |" in capsys.readouterr().out

    assert main(["milvus_scale", "--n", "60", "--queries", "2", "--stores", "milvus-lite", "--profile",
                 "--data", str(tiny_set), "--out", str(tmp_path / "scale.json")]) == 0
    row = json.loads((tmp_path / "scale.json").read_text())["rows"][0]
    assert row["asked"] >= 1 and row["rss_models_mb"] >= row["rss_model_mb"]  # the tiny set has 3 questions
    calls = row["milvus_calls"]
    assert any(k.startswith("search") for k in calls) and all(c["calls"] > 0 for c in calls.values())
    assert "Milvus calls during the timed questions, milvus-lite" in capsys.readouterr().out
