"""The VectorStore contract, held by every store (the model: Haystack's document-store tests).

Each test runs once per entry of :data:`STORES`: the FAISS folder store, Milvus Lite with each
lexical path (its BM25 function, and the fallback that Milvus 2.3/2.4 servers use) and the real
Milvus 2.3.5 standalone server of the session (``milvus_server``, tests/conftest_milvus.py; or
the server ``QA_TEST_MILVUS_URI`` names, e.g. a 2.5/2.6): a new backend is one more
:class:`StoreKind`. The data are small and synthetic (8-dimensional unit vectors, four short
Vietnamese articles), so the suite needs no model and runs in seconds per store. The reads by
id and the searches that a store without per-passage state runs in its engine
(``search_sentences``, ``lexical_search``, ``document_frequencies``) are checked against
reference computations over the same data.
"""

from __future__ import annotations

import math
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from corpus.document import Chunk, Document
from embeddings.stores import (
    IndexMismatchError,
    PassageFilter,
    StoredPassage,
    StoreError,
    VectorStore,
    copy_store,
)
from embeddings.stores.faiss import FaissStore

DIM = 8
META = dict(model="contract-model", fingerprint="f" * 16, probe=[1.0] + [0.0] * (DIM - 1), dim=DIM,
            chunking={"max_tokens": 200, "overlap_tokens": 40})


@dataclass(frozen=True)
class StoreKind:
    """How to make, reopen and close one kind of store for the contract tests."""

    name: str
    create: Callable[[Path, str | None], VectorStore]  # a new, empty store (a fresh folder, the server URI)
    reopen: Callable[[VectorStore], VectorStore]  # a new handle on what the store committed
    close: Callable[[VectorStore], None] = lambda store: None
    server: bool = False  # needs the session's Milvus server (its URI is create's second argument)


def _milvus_kind(name: str, uri_for: Callable[[Path, str | None], str], lexical: str | None = None) -> StoreKind:
    from embeddings.stores.milvus import MilvusStore

    def create(tmp: Path, server_uri: str | None) -> VectorStore:
        return MilvusStore.open_or_create(uri_for(tmp, server_uri), collection=f"contract_{uuid.uuid4().hex[:8]}",
                                          lexical=lexical, **META)

    def reopen(store: VectorStore) -> VectorStore:
        uri, collection = store.uri, store.collection
        store.close()
        return MilvusStore.open(uri, collection)

    def close(store: VectorStore) -> None:
        store.close()

    return StoreKind(name, create, reopen, close)


#: Stores on the session's server that earlier tests used: creating four collections on a 2.3.5
#: server takes 10-20 s here, emptying one ~1 s, so each test gets an emptied one when it can.
_SERVER_POOL: list[str] = []


def _server_kind() -> StoreKind:
    from embeddings.stores.milvus import MilvusStore

    def create(tmp: Path, uri: str | None) -> VectorStore:
        name = _SERVER_POOL.pop() if _SERVER_POOL else f"contract_{uuid.uuid4().hex[:8]}"
        store = MilvusStore.open_or_create(uri, collection=name, **META)
        for doc_id in list(store.documents):
            store.remove(doc_id)
        return store

    def reopen(store: VectorStore) -> VectorStore:
        store.close()
        return MilvusStore.open(store.uri, store.collection)

    def close(store: VectorStore) -> None:
        store.close()
        if store.collection not in _SERVER_POOL:
            _SERVER_POOL.append(store.collection)

    return StoreKind("milvus-server", create, reopen, close, server=True)


STORES = [
    StoreKind("faiss", lambda tmp, _: FaissStore.create(tmp / "faiss", **META), lambda s: FaissStore.open(s.path)),
    _milvus_kind("milvus-lite", lambda tmp, _: str(tmp / "milvus.db")),
    _milvus_kind("milvus-lite-fallback", lambda tmp, _: str(tmp / "milvus.db"), lexical="fallback"),
    _server_kind(),
]


@pytest.fixture(params=STORES, ids=lambda k: k.name)
def kind(request) -> StoreKind:
    return request.param


@pytest.fixture()
def store(kind: StoreKind, tmp_path: Path, request) -> Iterator[VectorStore]:
    uri = request.getfixturevalue("milvus_server").uri if kind.server else None
    opened = [kind.create(tmp_path, uri)]
    yield opened[0]
    kind.close(opened[0])


ARTICLES = [  # title, source, date, sentences
    ("Ngoại trưởng Kerry gặp Tổng thống Putin", "QĐND", "2016-07-15",
     ["Ông Kerry gặp ông Putin ở Moskva.", "Cuộc gặp kéo dài ba giờ.", "Hai bên bàn về Syria."]),
    ("Bộ Quốc phòng Nga lên tiếng", "TTXVN", "2016-08-26",
     ["Người phát ngôn là ông Konashenkov.", "Nga triển khai máy bay đến Syria."]),
    ("Kerry và Lavrov hội đàm ở Giơ-ne-vơ", "QĐND", "2016-08-26",
     ["Hai ngoại trưởng gặp nhau ở Giơ-ne-vơ.", "Họ bàn về lệnh ngừng bắn."]),
    ("Tin không ngày tháng", "VnExpress", None, ["Bài này không ghi ngày."]),
]


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def articles() -> list[tuple[Document, list[Chunk], np.ndarray, list[np.ndarray]]]:
    """(document, chunks, passage vectors, sentence vectors per chunk): one chunk per two sentences."""
    rng = np.random.default_rng(7)
    out = []
    for title, source, date, sentences in ARTICLES:
        text = " ".join(sentences)
        doc = Document.create(title, text, source=source, date=date or "")
        spans, pos = [], 0
        for s in sentences:
            spans.append((pos, pos + len(s)))
            pos += len(s) + 1
        chunks = []
        for i in range(0, len(spans), 2):
            part = spans[i:i + 2]
            chunks.append(Chunk(doc_id=doc.id, index=len(chunks), start=part[0][0], end=part[-1][1],
                                text=text[part[0][0]:part[-1][1]], sentences=tuple(part), n_tokens=10 * len(part)))
        out.append((doc, chunks, _unit(rng, len(chunks)), [_unit(rng, len(c.sentences)).astype(np.float16)
                                                           for c in chunks]))
    return out


def fill(store: VectorStore, articles) -> dict[tuple[str, int], int]:
    """Add every article (with BM25-style extras and sentence vectors); (doc id, chunk) -> passage id."""
    ids = {}
    for doc, chunks, vectors, sentence_vectors in articles:
        added = store.add(doc, chunks, vectors, [{"terms": [doc.id, str(c.index)]} for c in chunks], sentence_vectors)
        ids.update({(doc.id, c.index): pid for c, pid in zip(chunks, added)})
    return ids


# --------------------------------------------------------------------------- the contract


def test_an_empty_store(store):
    assert len(store) == 0 and not store.documents and not store.passages
    assert "nope" not in store
    assert store.search(np.ones((2, DIM), dtype=np.float32) / np.sqrt(DIM), 5) == [[], []]
    assert store.vectors([]).shape == (0, DIM)
    assert store.dim == DIM and store.model_name == "contract-model"


def test_added_passages_documents_and_sentence_vectors_are_readable(store, articles):
    ids = fill(store, articles)
    assert len(store) == sum(len(c) for _, c, _, _ in articles) == len(ids)
    for doc, chunks, _, sentence_vectors in articles:
        assert doc.id in store and store.documents[doc.id] == doc
        for c, sv in zip(chunks, sentence_vectors):
            p = store.passages[ids[doc.id, c.index]]
            assert isinstance(p, StoredPassage)
            assert (p.doc_id, p.index, p.start, p.end, p.text, p.n_tokens) == (doc.id, c.index, c.start, c.end,
                                                                              c.text, c.n_tokens)
            assert [tuple(s) for s in p.sentences] == list(c.sentences)
            assert p.extra["terms"] == [doc.id, str(c.index)]
            np.testing.assert_array_equal(store.sentence_vectors[p.id], sv)
    listed = {d["id"]: d for d in store.manifest["documents"]}
    assert set(listed) == set(store.documents)
    assert all(listed[d.id]["passages"] == len(c) for d, c, _, _ in articles)


def test_re_adding_a_document_changes_nothing(store, articles):
    fill(store, articles)
    n = len(store)
    doc, chunks, vectors, _ = articles[0]
    assert store.add(doc, chunks, vectors) == [] and len(store) == n


def test_search_finds_the_nearest_passages_with_their_cosines(store, articles):
    ids = fill(store, articles)
    doc, chunks, vectors, _ = articles[2]
    hits = store.search(vectors, 3)
    assert len(hits) == len(vectors)
    for c, v, row in zip(chunks, vectors, hits):
        assert row[0][0] == ids[doc.id, c.index] and row[0][1] == pytest.approx(1.0, abs=1e-4)
        scores = [s for _, s in row]
        assert scores == sorted(scores, reverse=True) and len(row) == 3
        for pid, s in row:  # the scores are the cosines of the stored vectors
            assert s == pytest.approx(float(store.vectors([pid])[0] @ v), abs=1e-4)
    assert len(store.search(vectors[0], 100)[0]) == len(store)  # k beyond the store: every passage
    assert store.search(vectors[0], 0) == [[]]


def test_vectors_come_back_in_the_order_asked(store, articles):
    ids = fill(store, articles)
    wanted = [(d.id, c.index, v) for d, cs, vs, _ in articles for c, v in zip(cs, vs)][::-1]
    got = store.vectors([ids[d, i] for d, i, _ in wanted])
    np.testing.assert_allclose(got, np.stack([v for _, _, v in wanted]), atol=1e-6)


def test_wrong_shapes_are_refused(store, articles):
    doc, chunks, vectors, sentence_vectors = articles[0]
    with pytest.raises(ValueError):
        store.add(doc, chunks, vectors[:, :4])
    with pytest.raises(ValueError):
        store.add(doc, chunks, vectors, None, [sv[:1] for sv in sentence_vectors])


def test_remove_takes_a_document_and_all_its_passages(store, articles):
    ids = fill(store, articles)
    doc, chunks, vectors, _ = articles[0]
    n = len(store)
    assert store.remove(doc.id) == len(chunks)
    assert doc.id not in store and len(store) == n - len(chunks)
    assert not any(p.doc_id == doc.id for p in store.passages.values())
    assert not any(pid in store.sentence_vectors for pid in (ids[doc.id, c.index] for c in chunks))
    gone = {ids[doc.id, c.index] for c in chunks}
    assert not gone & {pid for row in store.search(vectors, len(store)) for pid, _ in row}
    assert doc.id not in {d["id"] for d in store.manifest["documents"]}
    with pytest.raises(KeyError):
        store.remove(doc.id)


@pytest.mark.parametrize("flt", [
    PassageFilter(sources=("QĐND",)),
    PassageFilter(date_from="2016-08"),
    PassageFilter(date_to="2016-07"),
    PassageFilter(sources=("QĐND",), date_from="2016-08-01", date_to="2016-08-31"),
    PassageFilter(sources=("nobody",)),
], ids=["source", "from", "to", "source-and-dates", "nothing"])
def test_filtered_search_returns_only_and_all_passing_passages(store, articles, flt):
    fill(store, articles)
    passing = {pid for pid, p in store.passages.items() if flt.matches(store.documents[p.doc_id])}
    assert store.filter_ids(flt) == passing
    query = np.ones(DIM, dtype=np.float32) / np.sqrt(DIM)
    assert {pid for pid, _ in store.search(query, len(store), filter=flt)[0]} == passing


def test_filtering_by_document_follows_additions(store, articles):
    fill(store, articles[:2])
    doc = articles[2][0]
    flt = PassageFilter(doc_ids=(doc.id,))
    assert store.filter_ids(flt) == set()
    fill(store, articles[2:3])
    assert store.filter_ids(flt) == {pid for pid, p in store.passages.items() if p.doc_id == doc.id} != set()


def test_what_was_committed_is_what_a_new_handle_reads(kind, store, articles):
    fill(store, articles)
    assert store.commit() is True
    assert store.commit() is False  # nothing changed since
    query = articles[1][2]
    before = (dict(store.passages), dict(store.documents), store.search(query, 5), store.vectors(list(store.passages)),
              set(store.sentence_vectors))
    again = kind.reopen(store)
    try:
        assert again.passages == before[0] and again.documents == before[1]
        assert [[i for i, _ in r] for r in again.search(query, 5)] == [[i for i, _ in r] for r in before[2]]
        np.testing.assert_allclose(again.vectors(list(before[0])), before[3], atol=1e-6)
        assert set(again.sentence_vectors) == before[4]
    finally:
        kind.close(again)


def test_another_model_or_chunking_is_a_mismatch(store):
    store.check_compatible(model="contract-model", probe_matches=True, dim=DIM, chunking=META["chunking"])
    for kwargs in (dict(probe_matches=False, dim=DIM), dict(probe_matches=True, dim=DIM + 1),
                   dict(probe_matches=True, dim=DIM, chunking={"max_tokens": 100, "overlap_tokens": 20})):
        with pytest.raises(IndexMismatchError) as err:
            store.check_compatible(model="other", **kwargs)
        assert isinstance(err.value, StoreError)


def test_copy_store_carries_everything_without_re_embedding(store, articles, tmp_path):
    fill(store, articles)
    target = FaissStore.create(None, **META)
    assert copy_store(store, target) == len(store)
    assert set(target.documents) == set(store.documents) and len(target) == len(store)
    by_key = {(p.doc_id, p.index): p for p in target.passages.values()}
    for pid, p in store.passages.items():
        q = by_key[p.doc_id, p.index]
        assert (q.text, q.extra) == (p.text, p.extra)
        np.testing.assert_allclose(target.vectors([q.id]), store.vectors([pid]), atol=1e-6)
        np.testing.assert_array_equal(target.sentence_vectors[q.id], store.sentence_vectors[pid])


# --------------------------------------------------------------------------- reads by id and in-engine searches


def _bm25_reference(store, terms, k1=1.2, b=0.75):
    """bm25s's Lucene BM25 of every passage for ``terms``, computed here from the stored terms."""
    rows = {pid: p.extra["terms"] for pid, p in store.passages.items()}
    n, avgdl = len(rows), sum(map(len, rows.values())) / len(rows)
    df = {t: sum(t in r for r in rows.values()) for t in set(terms)}
    out = {}
    for pid, r in rows.items():
        tf = Counter(r)
        s = sum(math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) * tf[t] / (tf[t] + k1 * (1 - b + b * len(r) / avgdl))
                for t in terms if tf[t])
        if s > 0:
            out[pid] = s
    return out


def test_reads_by_id_return_only_what_is_stored(store, articles):
    ids = fill(store, articles)
    wanted = list(ids.values())[::2] + [12345]  # one unknown id
    got = store.get_passages(wanted, extra=False)
    assert list(got) == wanted[:-1]
    for pid, p in got.items():
        full = store.passages[pid]
        assert (p.doc_id, p.index, p.start, p.end, p.text, list(p.sentences)) == \
               (full.doc_id, full.index, full.start, full.end, full.text, list(full.sentences))
    assert store.get_passages(wanted)[wanted[0]].extra == store.passages[wanted[0]].extra != {}
    doc_ids = [d.id for d, _, _, _ in articles]
    assert store.has_documents(doc_ids + ["nope"]) == set(doc_ids)
    docs = store.get_documents(doc_ids[:2] + ["nope"], text=False)
    assert list(docs) == doc_ids[:2]
    for doc, _, _, _ in articles[:2]:
        assert (docs[doc.id].title, docs[doc.id].source, docs[doc.id].date) == (doc.title, doc.source, doc.date)
    assert store.get_documents([doc_ids[0]])[doc_ids[0]] == articles[0][0]  # text=True: the whole document
    sv = store.get_sentence_vectors(list(ids.values()) + [12345])
    assert set(sv) == set(ids.values())
    for doc, chunks, _, sentence_vectors in articles:
        for c, expected in zip(chunks, sentence_vectors):
            np.testing.assert_array_equal(sv[ids[doc.id, c.index]], expected)


@pytest.mark.parametrize("flt", [None, PassageFilter(sources=("QĐND",)), PassageFilter(date_from="2016-08")],
                         ids=["all", "source", "from"])
def test_sentence_search_ranks_passages_by_their_best_sentence(store, articles, flt):
    fill(store, articles)
    allowed = {pid for pid, p in store.passages.items() if flt is None or flt.matches(store.documents[p.doc_id])}
    stored = {pid: sv for pid, sv in store.get_sentence_vectors(list(store.passages)).items() if pid in allowed}
    for q in (articles[0][3][1][0], articles[1][3][0][1]):
        q = q.astype(np.float32)
        best = {pid: float(np.max(sv.astype(np.float32) @ q)) for pid, sv in stored.items()}
        expected = sorted(best.items(), key=lambda x: -x[1])[:3]
        got = store.search_sentences(q, 3, filter=flt)
        assert [pid for pid, _ in got] == [pid for pid, _ in expected]
        np.testing.assert_allclose([s for _, s in got], [s for _, s in expected], atol=1e-3)


@pytest.mark.parametrize("flt", [None, PassageFilter(sources=("QĐND",))], ids=["all", "source"])
def test_lexical_search_is_bm25_over_the_stored_terms(kind, store, articles, flt):
    ids = fill(store, articles[:2])
    store.commit()  # two commits: two flushed segments on Milvus (statistics must still be collection-wide)
    ids.update(fill(store, articles[2:]))
    store.commit()
    doc = articles[0][0]  # two chunks
    terms = [doc.id, "0", "1"]  # one document's passages hold its id, every first/second chunk its index
    ref = _bm25_reference(store, terms)
    allowed = {pid for pid, p in store.passages.items() if flt is None or flt.matches(store.documents[p.doc_id])}
    expected = sorted(((pid, s) for pid, s in ref.items() if pid in allowed), key=lambda x: (-x[1], x[0]))
    got = store.lexical_search(terms, 10, filter=flt)
    assert {pid for pid, _ in got} == {pid for pid, _ in expected}
    assert got[0][0] in {ids[doc.id, 0], ids[doc.id, 1]}
    by_pid = dict(got)
    # collection-wide statistics on every store, also with a filter and on Milvus Lite (whose
    # BM25 function computes them per segment and over the filtered rows: the store rescores)
    for pid, s in expected:
        assert by_pid[pid] == pytest.approx(s, rel=1e-4)
    n, df = store.document_frequencies([doc.id, "0", "absent"])
    assert n == len(store) and df == {doc.id: 2, "0": len(articles), "absent": 0}
    assert store.lexical_search(["absent"], 5) == [] and store.lexical_search([], 5) == []
