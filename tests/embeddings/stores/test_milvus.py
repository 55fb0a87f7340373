"""MilvusStore on a real Milvus Lite file: round trip, removal, filters, crash marker, checks.

The vectors are those the session's FAISS pipeline already computed for the bundled articles,
so the two stores can be compared passage by passage without embedding anything again.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymilvus", reason="the Milvus store needs pymilvus (requirements.txt)")
pytest.importorskip("milvus_lite", reason="milvus-lite (embedded Milvus) is not available on this platform")

from corpus.document import Chunk  # noqa: E402
from embeddings.stores import (  # noqa: E402
    IndexMismatchError,  # noqa: E402
    PassageFilter,
    copy_store,
)
from embeddings.stores.faiss import FaissStore  # noqa: E402
from embeddings.stores.milvus import MilvusStore, passage_row_id  # noqa: E402
from embeddings.stores.milvus_client import filter_expression  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")
CHUNKING = {"max_tokens": 200, "overlap_tokens": 40}


def new_store(uri, encoder, dim=None, chunking=CHUNKING) -> MilvusStore:
    return MilvusStore.open_or_create(str(uri), collection="t", model=encoder.name, fingerprint=encoder.fingerprint,
                                      probe=encoder.probe_vector, dim=dim or encoder.dim, chunking=chunking)


@pytest.fixture(scope="module")
def faiss_index(bundled_pipeline):
    return bundled_pipeline.index


@pytest.fixture()
def store(tmp_path, encoder, faiss_index):
    s = new_store(tmp_path / "m.db", encoder)
    assert copy_store(faiss_index, s) == len(faiss_index)
    yield s
    s.close()


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory, encoder, faiss_index):
    """One store for the read-only tests (creating the collections takes ~2 s)."""
    s = new_store(tmp_path_factory.mktemp("milvus") / "m.db", encoder)
    copy_store(faiss_index, s)
    yield s
    s.close()


def by_key(index):
    return {(p.doc_id, p.index): p for p in index.passages.values()}


def test_round_trip_keeps_citation_metadata_and_vectors(tmp_path, encoder, store, faiss_index, seed_query_vectors):
    store.close()
    again = MilvusStore.open(str(tmp_path / "m.db"), "t")
    assert len(again) == len(faiss_index) and set(again.documents) == set(faiss_index.documents)
    for doc_id, doc in faiss_index.documents.items():
        got = again.documents[doc_id]
        assert (got.title, got.text, got.source, got.url, got.date) == (doc.title, doc.text, doc.source, doc.url, doc.date)
    mine, theirs = by_key(again), by_key(faiss_index)
    assert mine.keys() == theirs.keys()
    for key, p in theirs.items():
        q = mine[key]
        assert (q.start, q.end, q.text, list(q.sentences), q.n_tokens, q.extra) == \
               (p.start, p.end, p.text, list(p.sentences), p.n_tokens, p.extra)
        assert again.documents[q.doc_id].text[q.start:q.end] == q.text  # citations are exact spans
        np.testing.assert_array_equal(again.sentence_vectors[q.id], faiss_index.sentence_vectors[p.id])
        np.testing.assert_allclose(again.vectors([q.id])[0], faiss_index.vectors([p.id])[0], atol=1e-6)
    # documents come back in the order they were added, passages in document order
    assert list(again.documents) == list(faiss_index.documents)
    assert [(p.doc_id, p.index) for p in again.passages.values()] == \
           [(p.doc_id, p.index) for p in faiss_index.passages.values()]
    # exact search: the same neighbours with the same cosines as FAISS
    ids_of = {p.id: key for key, p in theirs.items()}
    mids_of = {p.id: key for key, p in mine.items()}
    for f, m in zip(faiss_index.search(seed_query_vectors, 10), again.search(seed_query_vectors, 10)):
        assert [ids_of[i] for i, _ in f] == [mids_of[i] for i, _ in m]
        np.testing.assert_allclose([s for _, s in f], [s for _, s in m], atol=1e-5)
    again.close()


def test_another_process_reads_the_committed_store(tmp_path, store, faiss_index, seed_query_vectors):
    """What a restarted app does: a new process opens the file (its collections start released)."""
    import subprocess
    import sys

    store.close()
    np.save(tmp_path / "q.npy", seed_query_vectors)
    code = ("import sys, json, numpy as np; from embeddings.stores.milvus import MilvusStore; "
            "s = MilvusStore.open(sys.argv[1], 't'); r = s.search(np.load(sys.argv[2]), 3); "
            "print(json.dumps([len(s), len(s.documents), [[s.passages[i].text[:30] for i, _ in row] for row in r]]))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.db"), str(tmp_path / "q.npy")],
                         capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[3])
    assert out.returncode == 0, out.stderr[-2000:]
    n, n_docs, texts = json.loads(out.stdout.strip().splitlines()[-1])
    assert (n, n_docs) == (len(faiss_index), len(faiss_index.documents))
    assert texts == [[faiss_index.passages[i].text[:30] for i, _ in row]
                     for row in faiss_index.search(seed_query_vectors, 3)]


def test_remove_by_document_and_add_back(tmp_path, store, faiss_index, seed_query_vectors):
    doc_id = next(iter(faiss_index.documents))
    n = sum(p.doc_id == doc_id for p in faiss_index.passages.values())
    assert store.remove(doc_id) == n
    assert doc_id not in store and len(store) == len(faiss_index) - n
    assert all(store.passages[i].doc_id != doc_id for row in store.search(seed_query_vectors, 50) for i, _ in row)
    store.commit()
    store.close()
    again = MilvusStore.open(str(tmp_path / "m.db"), "t")
    assert doc_id not in again and len(again) == len(faiss_index) - n
    assert all(again.passages[i].doc_id != doc_id for row in again.search(seed_query_vectors, 50) for i, _ in row)
    with pytest.raises(KeyError):
        again.remove(doc_id)
    # incremental add of the removed document: it is back, searchable, after a reopen too
    copy_store(faiss_index, again)
    assert doc_id in again and len(again) == len(faiss_index)
    again.close()
    third = MilvusStore.open(str(tmp_path / "m.db"), "t")
    assert len(third) == len(faiss_index) and len(third.sentence_vectors) == len(faiss_index.sentence_vectors)
    third.close()


@pytest.mark.parametrize("flt", [
    PassageFilter(sources=("QĐND",)),
    PassageFilter(sources=("QĐND", "Đại đoàn kết")),
    PassageFilter(date_from="2016"),
    PassageFilter(date_to="2015-12"),
    PassageFilter(date_from="2015-12-15", date_to="2015-12-15"),
    PassageFilter(date_from="2017"),  # matches nothing
], ids=lambda f: filter_expression(f))
def test_filters_agree_with_faiss_and_with_the_documents(shared_store, faiss_index, seed_query_vectors, flt):
    store = shared_store
    allowed_docs = {d for d, doc in faiss_index.documents.items() if flt.matches(doc)}
    f_rows = faiss_index.search(seed_query_vectors, 8, filter=flt)
    m_rows = store.search(seed_query_vectors, 8, filter=flt)
    n_allowed = sum(p.doc_id in allowed_docs for p in faiss_index.passages.values())
    for f, m in zip(f_rows, m_rows):
        assert len(f) == len(m) == min(8, n_allowed)
        assert {faiss_index.passages[i].doc_id for i, _ in f} <= allowed_docs
        assert [(faiss_index.passages[i].doc_id, faiss_index.passages[i].index) for i, _ in f] == \
               [(store.passages[i].doc_id, store.passages[i].index) for i, _ in m]
    assert store.filter_ids(flt) == {passage_row_id(faiss_index.passages[i].doc_id, faiss_index.passages[i].index)
                                     for i in faiss_index.filter_ids(flt)}


def test_passages_without_their_document_row_are_not_loaded(tmp_path, store, faiss_index):
    """The document row is the commit marker: a write interrupted before it leaves nothing visible."""
    doc_id = list(faiss_index.documents)[1]
    store.commit()
    store._client.delete("t_documents", ids=[doc_id])  # as if the writer died before this row
    store.close()
    again = MilvusStore.open(str(tmp_path / "m.db"), "t")
    assert doc_id not in again
    assert all(p.doc_id != doc_id for p in again.passages.values())
    q = faiss_index.vectors([next(p.id for p in faiss_index.passages.values() if p.doc_id == doc_id)])
    assert all(i in again.passages for i, _ in again.search(q, 20)[0])
    # re-running the interrupted batch upserts the same rows: no duplicates
    copy_store(faiss_index, again)
    assert len(again) == len(faiss_index)
    assert again._client.query("t", filter="", output_fields=["count(*)"])[0]["count(*)"] == len(faiss_index)
    again.close()


def test_incompatible_model_or_chunking_is_refused(tmp_path, encoder, store):
    store.close()
    again = new_store(tmp_path / "m.db", encoder)
    with pytest.raises(IndexMismatchError, match="embedding model"):
        again.check_compatible(model="other", probe_matches=False, dim=encoder.dim)
    with pytest.raises(IndexMismatchError, match="chunked"):
        again.check_compatible(model=encoder.name, probe_matches=True, dim=encoder.dim,
                               chunking={"max_tokens": 100, "overlap_tokens": 0})
    again.close()
    with pytest.raises(FileNotFoundError, match="no Milvus store"):
        MilvusStore.open(str(tmp_path / "m.db"), "other")


def test_bad_input_is_refused_clearly(store, faiss_index):
    doc = faiss_index.documents[next(iter(faiss_index.documents))]
    store.remove(doc.id)
    chunk = Chunk(doc_id=doc.id, index=0, start=0, end=10, text=doc.text[:10], sentences=((0, 10),), n_tokens=3)
    with pytest.raises(ValueError, match="expected 1 vectors"):
        store.add(doc, [chunk], np.zeros((2, store.dim), dtype=np.float32))
    with pytest.raises(ValueError, match="look like 2016"):
        PassageFilter(date_from="15/12/2015")
    with pytest.raises(ValueError, match="unknown filter"):
        PassageFilter.coerce({"outlet": "QĐND"})
    assert PassageFilter.coerce({"sources": "QĐND"}) == PassageFilter(sources=("QĐND",))
    assert PassageFilter.coerce({}) is None


def test_faiss_filter_survives_commit_and_reopen(tmp_path, faiss_index, seed_query_vectors):
    """The FAISS store filters the same way after a round trip (filters read documents, not files)."""
    idx = FaissStore.create(tmp_path / "f", model=faiss_index.manifest["model"]["name"],
                             fingerprint=faiss_index.manifest["model"]["fingerprint"],
                             probe=faiss_index.manifest["model"]["probe"], dim=faiss_index.dim,
                             chunking=faiss_index.manifest["chunking"])
    copy_store(faiss_index, idx)
    again = FaissStore.open(tmp_path / "f")
    flt = PassageFilter(sources=("QĐND",))
    assert again.search(seed_query_vectors, 5, filter=flt) == faiss_index.search(seed_query_vectors, 5, filter=flt)


def test_store_is_chosen_by_the_uri(tmp_path, encoder):
    from embeddings.stores import open_store

    create = dict(model=encoder.name, fingerprint=encoder.fingerprint, probe=encoder.probe_vector,
                  dim=encoder.dim, chunking=CHUNKING)
    assert isinstance(open_store(index_dir=tmp_path / "f", **create), FaissStore)
    m = open_store(index_dir=tmp_path / "f", uri=str(tmp_path / "sub" / "m.db"), collection="c", **create)
    assert isinstance(m, MilvusStore) and (tmp_path / "sub" / "m.db").exists() and len(m) == 0
    m.close()
    with pytest.raises(ValueError, match="vector_store_uri must be"):
        open_store(index_dir=None, uri="milvus.example.org", **create)
