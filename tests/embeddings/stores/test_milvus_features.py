"""Server-version feature detection (embeddings/milvus_features.py) and the lexical channel in
Milvus (embeddings/milvus_lexical.py), against Milvus Lite 3.2.2 and the real 2.3.5 server.

The version rule (sparse vectors from 2.4, the BM25 function from 2.5, both in Lite 3) is
checked against what each engine really does (:func:`probe_bm25`), and each engine's lexical
path is checked against bm25s (the FAISS path's BM25) on real dev-set passages and questions.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("pymilvus", reason="the Milvus store needs pymilvus (requirements.txt)")
# the Milvus server fixtures; one session server for all modules (tests/conftest_milvus.py)

from embeddings.stores.milvus_features import (  # noqa: E402
    bm25_index_params,
    bm25_score,
    detect,
    encode_term,
    features_of,
    parse_version,
    probe_bm25,
)

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("version,engine,release,sparse,bm25", [
    ("milvus_lite-3.2.2", "milvus-lite", (3, 2, 2), True, True),
    ("milvus_lite-2.4.10", "milvus-lite", (2, 4, 10), False, False),
    ("v2.3.5-lite", "milvus", (2, 3, 5), False, False),  # the `milvus` package's server: not Lite
    ("v2.4.17", "milvus", (2, 4, 17), True, False),
    ("v2.5.4", "milvus", (2, 5, 4), True, True),
    ("2.6.6", "milvus", (2, 6, 6), True, True),
])
def test_version_rule(version, engine, release, sparse, bm25):
    f = features_of(version)
    assert (f.engine, f.release, f.has_sparse, f.has_bm25_function) == (engine, release, sparse, bm25)
    assert f.lexical_path == ("milvus-bm25" if bm25 else "fallback")
    assert f.bm25_global_stats == (bm25 and engine == "milvus")


def test_unreadable_version_is_an_error():
    with pytest.raises(ValueError, match="cannot read a Milvus version"):
        parse_version("unknown")


def test_encoded_terms_are_single_lowercase_alphanumeric_tokens():
    terms = ["ngoại_trưởng", "~ngoai", "@john_kerry", "Hà", "2016"]
    enc = [encode_term(t) for t in terms]
    assert all(e.isascii() and e.isalnum() and e == e.lower() and len(e) == 14 for e in enc)
    assert len(set(enc)) == len(enc) and encode_term("~ngoai") == enc[1]  # deterministic
    assert bm25_score(-3.5) == bm25_score(3.5) == 3.5
    p = bm25_index_params(1.2, 0.75)
    assert p["bm25_k1"] == p["params"]["bm25_k1"] == 1.2 and p["params"]["bm25_b"] == 0.75


@pytest.fixture()
def lite_client(tmp_path):
    pytest.importorskip("milvus_lite", reason="milvus-lite is not available on this platform")
    from pymilvus import MilvusClient

    client = MilvusClient(str(tmp_path / "features.db"))
    yield client
    client.close()


def test_lite_has_sparse_and_bm25_and_the_probe_agrees(lite_client):
    f = detect(lite_client)
    assert f.engine == "milvus-lite" and f.release >= (3, 0, 0)
    assert f.has_bm25_function and probe_bm25(lite_client)
    assert [c for c in lite_client.list_collections() if c.startswith("_vnnews_probe")] == []


def test_lite_refuses_the_whitespace_tokenizer(lite_client):
    """Why terms are encoded (encode_term) and analyzed with `standard`: Lite 3.2.2 has no
    `whitespace` tokenizer. If a later Lite accepts it, the encoding still works."""
    from pymilvus import DataType, Function, FunctionType
    from pymilvus.exceptions import MilvusException

    s = lite_client.create_schema(auto_id=False)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("t", DataType.VARCHAR, max_length=100, enable_analyzer=True, analyzer_params={"tokenizer": "whitespace"})
    s.add_field("sp", DataType.SPARSE_FLOAT_VECTOR)
    s.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["t"],
                            output_field_names=["sp"]))
    with pytest.raises(MilvusException, match="unknown tokenizer type: 'whitespace'"):
        lite_client.create_collection("ws", schema=s)


def test_server_235_has_neither_and_the_probe_cleans_up(milvus_server, milvus_client):
    f = detect(milvus_client)
    if f.release < (2, 5, 0):
        assert not f.has_bm25_function and f.lexical_path == "fallback"
    assert probe_bm25(milvus_client) == f.has_bm25_function
    # on 2.3.5 creating the BM25 collection half succeeds (collection made, index refused): dropped
    assert [c for c in milvus_client.list_collections() if c.startswith("_vnnews_probe")] == []


# ---------------------------------------------------------------- ranking parity with bm25s
@pytest.fixture(scope="module")
def dev_terms(dev_set):
    sys.path.insert(0, str(REPO / "benchmarks"))
    from milvus_lexical_parity import load_terms

    return load_terms(limit_docs=150, limit_queries=240, dev=dev_set)


def test_lite_bm25_function_ranks_like_bm25s(lite_client, dev_terms):
    """Milvus Lite's BM25 over the encoded terms = (k1 + 1) x bm25s, same top 10 (one segment)."""
    from milvus_lexical_parity import build, compare

    ids, docs, queries = dev_terms
    build(lite_client, "parity", ids, docs, "milvus-bm25", 1.2, 0.75)
    res = compare(lite_client, "parity", ids, docs, queries, "milvus-bm25")
    assert res["queries"] > 150
    assert res["top1_agree"] == 1.0 and res["top10_overlap"] == 1.0 and res["max_rel_score_diff"] < 1e-5, res


def test_server_235_fallback_ranks_like_bm25s(milvus_client, milvus_name, dev_terms):
    """The 2.3 fallback (candidates from `array_contains`, BM25 computed here) on the server:
    exact scores for what it returns, and the same top 10 when the candidates cover them."""
    from milvus_lexical_parity import build, compare

    ids, docs, queries = dev_terms
    name = milvus_name("fallback")
    build(milvus_client, name, ids, docs, "fallback", 1.2, 0.75)
    res = compare(milvus_client, name, ids, docs, queries, "fallback", per_term=400, budget=2000)
    assert res["queries"] > 150 and res["max_rel_score_diff"] < 1e-5, res
    # measured on these 150 passages / 196 questions: top-1 0.990, top-10 overlap ~0.99 (misses:
    # top passages matching only terms in > 20% of the passages, which fetch no candidates)
    assert res["top1_agree"] >= 0.98 and res["top10_overlap"] >= 0.97, res


class _CountingClient:
    """A client that counts its ``count(*)`` queries and its other filter scans."""

    def __init__(self, client):
        self.client, self.counts, self.scans = client, 0, 0

    def query(self, *args, **kwargs):
        if kwargs.get("output_fields") == ["count(*)"]:
            self.counts += 1
        elif kwargs.get("filter", "").startswith("array_contains"):
            self.scans += 1
        return self.client.query(*args, **kwargs)


def test_fallback_document_frequencies_need_few_counts(lite_client, dev_terms):
    """The fallback's document frequencies (what its BM25 and the sentence IDF weights use):
    exact for every term counted or read off a whole-collection sample, an estimate within 1/3 only
    for a term common enough to be in SAMPLE_MIN_HITS sampled rows, and ``count(*)`` only for
    terms in more than ``per_term`` passages that the sample does not settle."""
    from milvus_lexical_parity import build

    from embeddings.stores.milvus_lexical import SAMPLE_MIN_HITS, CandidateBM25

    ids, docs, queries = dev_terms
    build(lite_client, "dfs", ids, docs, "fallback", 1.2, 0.75)
    truth = Counter(t for d in docs for t in set(d))
    terms = list(dict.fromkeys(t for q in queries[:60] for t in q))
    # a sample of ~1/3 of the rows: rare terms are counted by their id scan, common ones estimated
    client = _CountingClient(lite_client)
    cand = CandidateBM25(client, "dfs", k1=1.2, b=0.75, per_term=10, avgdl_sample=50)
    got = cand.df(terms)
    n, _ = cand.stats()
    sampled_rows, hits = cand._sample
    assert n == len(ids) and 0 < sampled_rows < n
    estimated = [t for t in terms if hits.get(t, 0) >= SAMPLE_MIN_HITS and truth[t] > 10]
    assert estimated, "the dev terms hold common syllables"
    for t in terms:
        if t in estimated:
            assert abs(got[t] - truth[t]) <= truth[t] / 3, (t, got[t], truth[t])
        else:
            assert got[t] == truth[t], (t, got[t], truth[t])
    assert client.counts == sum(1 for t in terms if truth[t] > 10 and t not in estimated) + 1  # + N
    # a whole-collection sample settles every frequency exactly, with no count beyond N
    client = _CountingClient(lite_client)
    whole = CandidateBM25(client, "dfs", k1=1.2, b=0.75, per_term=10, avgdl_sample=len(ids))
    assert whole.df(terms) == {t: truth[t] for t in terms} and client.counts == 1
    # search reuses the ids found while counting: no second scan for a term
    scans = client.scans
    whole.search(queries[0], 10)
    assert client.scans == scans
