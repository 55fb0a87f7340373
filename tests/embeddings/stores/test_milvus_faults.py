"""Faults of the Milvus store against the real Milvus 2.3.5 server of the session (stopped, killed
and started inside the tests): an unreachable server, a restart during a question and during an
insert, an insert that gives up half-way, a collection built with another model and one of an
older layout. Each is a clear error or a retry, never a partial index.

Synthetic data (8-dimensional unit vectors, short Vietnamese articles): no model is loaded.
"""

from __future__ import annotations

import socket
import threading
import time
import traceback
import uuid

import numpy as np
import pytest

pytest.importorskip("pymilvus", reason="the Milvus store needs pymilvus (requirements.txt)")

from corpus.document import Chunk, Document  # noqa: E402
from embeddings.stores import IndexMismatchError, StoreUnavailableError  # noqa: E402
from embeddings.stores.milvus import MilvusStore  # noqa: E402

DIM = 8
META = dict(model="fault-model", fingerprint="f" * 16, probe=[1.0] + [0.0] * (DIM - 1), dim=DIM,
            chunking={"max_tokens": 200, "overlap_tokens": 40})
SENTENCES = [
    ["Ông Kerry gặp ông Putin ở Moskva.", "Cuộc gặp kéo dài ba giờ.", "Hai bên bàn về Syria."],
    ["Người phát ngôn là ông Konashenkov.", "Nga triển khai máy bay đến Syria."],
    ["Hai ngoại trưởng gặp nhau ở Giơ-ne-vơ.", "Họ bàn về lệnh ngừng bắn."],
]


def _article(i: int, sentences: list[str], rng: np.random.Generator) -> tuple:
    """(document, chunks: one per sentence, vectors, extras, sentence vectors)."""
    text = " ".join(sentences)
    doc = Document.create(f"Bài {i} {uuid.uuid4().hex[:6]}", text, source="QĐND", date="2016-08-26")
    chunks, pos = [], 0
    for j, s in enumerate(sentences):
        chunks.append(Chunk(doc_id=doc.id, index=j, start=pos, end=pos + len(s), text=s,
                            sentences=((pos, pos + len(s)),), n_tokens=10))
        pos += len(s) + 1
    v = rng.standard_normal((len(chunks), DIM)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    extras = [{"terms": c.text.lower().replace(".", "").split()} for c in chunks]
    return doc, chunks, v, extras, [v[j:j + 1].astype(np.float16) for j in range(len(chunks))]


@pytest.fixture()
def articles() -> list[tuple]:
    rng = np.random.default_rng(11)
    return [_article(i, s, rng) for i, s in enumerate(SENTENCES)]


@pytest.fixture()
def server_store(milvus_server, milvus_name):
    """A committed store of two articles on the session's server (its collections dropped after)."""
    name = milvus_name("fault")
    stores: list[MilvusStore] = []

    def make(retry_s: float = 180.0) -> MilvusStore:
        s = MilvusStore.open_or_create(milvus_server.uri, collection=name, retry_s=retry_s, **META)
        stores.append(s)
        return s

    yield make
    if not milvus_server.running:
        milvus_server.start()
    for s in stores:
        if s._client is not None:
            s._pending.clear()
            s.close()
    from pymilvus import MilvusClient

    from embeddings.stores.milvus_schema import drop_collections

    client = MilvusClient(milvus_server.uri, timeout=60)
    try:
        drop_collections(client, name)
    finally:
        client.close()


def _add(store: MilvusStore, article: tuple) -> list[int]:
    doc, chunks, v, extras, sv = article
    return store.add(doc, chunks, v, extras, sv)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_is_a_clear_error_after_the_retry_window():
    uri = f"http://127.0.0.1:{_free_port()}"
    t0 = time.perf_counter()
    with pytest.raises(StoreUnavailableError, match="unreachable") as err:
        MilvusStore.open_or_create(uri, collection="nothing_here", retry_s=2.0, **META)
    assert uri in str(err.value) and "vector_store_uri" in str(err.value)
    assert time.perf_counter() - t0 < 30  # the window, plus one connection attempt


def test_a_stopped_server_mid_session_is_a_clear_error(milvus_server, server_store, articles):
    store = server_store(retry_s=2.0)
    ids = _add(store, articles[0])
    store.commit()
    milvus_server.kill()
    try:
        with pytest.raises(StoreUnavailableError, match="did not answer") as err:
            store.search(articles[0][2][:1], 3)
        assert milvus_server.uri in str(err.value)
    finally:
        milvus_server.start()
    # the same handle works again once the server is back
    store._client.retry_s = 180.0
    assert store.search(articles[0][2][:1], 1)[0][0][0] == ids[0]


def _failure(out: dict) -> str:
    """The thread's exception with its traceback (a bare MilvusException says nothing alone)."""
    exc = out.get("error")
    return "".join(traceback.format_exception(exc)) if exc is not None else "still running"


def _in_thread(fn) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # reported by the test
            out["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    return t, out


def test_a_question_rides_out_a_server_restart(milvus_server, server_store, articles):
    """A question asked while the server is down (killed: a node failure) and coming back is
    answered, with the same results as before, once the server serves again."""
    store = server_store()
    for a in articles:
        _add(store, a)
    store.commit()
    q = articles[1][2][0]
    terms = ["syria"]

    def question() -> tuple:
        hits = store.search(q, 3)[0]
        passages = store.get_passages([pid for pid, _ in hits], extra=False)
        return ([pid for pid, _ in hits], [passages[pid].text for pid, _ in hits],
                [pid for pid, _ in store.lexical_search(terms, 3)], [pid for pid, _ in store.search_sentences(q, 2)])

    before = question()
    store._passage_cache.clear()
    store._doc_cache.clear()
    milvus_server.kill()
    t, out = _in_thread(question)
    time.sleep(1.0)
    assert t.is_alive()  # waiting for the server, not failed
    milvus_server.start()
    t.join(240)
    assert not t.is_alive() and "error" not in out, _failure(out)
    assert out["value"] == before


def test_an_insert_during_a_restart_is_retried_and_complete(milvus_server, server_store, articles):
    store = server_store()
    _add(store, articles[0])
    store.commit()
    milvus_server.kill()
    t, out = _in_thread(lambda: (_add(store, articles[1]), store.commit()))
    time.sleep(1.0)
    assert t.is_alive()
    milvus_server.start()
    t.join(240)
    assert not t.is_alive() and "error" not in out, _failure(out)
    doc, chunks = articles[1][0], articles[1][1]
    again = MilvusStore.open(milvus_server.uri, store.collection)
    try:
        assert again.has_documents([doc.id]) == {doc.id}
        assert sorted(p.index for p in again.passages.values() if p.doc_id == doc.id) == list(range(len(chunks)))
        assert len(again) == len(articles[0][1]) + len(chunks)
        assert len(again.get_sentence_vectors(out["value"][0])) == len(chunks)
    finally:
        again.close()


def test_an_insert_that_gives_up_leaves_nothing_visible_and_a_retry_completes_it(milvus_server, server_store,
                                                                                  articles):
    """The server dies after a document's passages were written and before its document row:
    the write fails with a clear error, readers see neither the document nor its passages, and
    adding it again completes it without duplicates."""
    store = server_store(retry_s=2.0)
    _add(store, articles[0])
    store.commit()
    doc, chunks = articles[1][0], articles[1][1]
    pids = _add(store, articles[1])
    with pytest.raises(StoreUnavailableError):
        store.write(before_documents=milvus_server.kill)
    milvus_server.start()
    reader = MilvusStore.open(milvus_server.uri, store.collection, retry_s=180.0)
    try:
        assert reader.has_documents([doc.id]) == set() and doc.id not in reader
        assert reader.get_passages(pids) == {}
        assert not {pid for pid, _ in reader.search(articles[1][2], 5)[0]} & set(pids)
        assert not {pid for pid, _ in reader.lexical_search(["konashenkov"], 5)} & set(pids)
        assert _add(reader, articles[1]) == pids  # the same ids: the retry overwrites, never duplicates
        reader.commit()
        assert reader.has_documents([doc.id]) == {doc.id}
        assert set(reader.get_passages(pids)) == set(pids)
        assert reader.count_passages() == len(articles[0][1]) + len(chunks)
    finally:
        reader.close()


def test_a_collection_built_with_another_model_is_refused(milvus_server, server_store):
    store = server_store()
    store.commit()
    again = MilvusStore.open(milvus_server.uri, store.collection)
    try:
        with pytest.raises(IndexMismatchError, match="fault-model") as err:
            again.check_compatible(model="intfloat/multilingual-e5-small", probe_matches=False, dim=384)
        assert store.collection in str(err.value) and "another directory or collection" in str(err.value)
        with pytest.raises(IndexMismatchError, match="chunked with"):
            again.check_compatible(model="fault-model", probe_matches=True, dim=DIM,
                                   chunking={"max_tokens": 100, "overlap_tokens": 0})
    finally:
        again.close()


def test_a_collection_of_an_older_layout_is_refused(milvus_server, server_store):
    """Layout 1 (every passage loaded into each process, no lexical field): refused on open with
    what to do, never read half-right."""
    from pymilvus import MilvusClient

    store = server_store()
    old = dict(store.manifest)
    old.pop("documents", None)
    old["format_version"] = 1
    client = MilvusClient(milvus_server.uri, timeout=60)
    try:
        client.upsert(store.collection + "_meta", [{"key": "manifest", "vector": [1.0, 0.0], "value": old}])
    finally:
        client.close()
    with pytest.raises(IndexMismatchError, match="layout 1") as err:
        MilvusStore.open(milvus_server.uri, store.collection)
    assert "Build it again under another collection name" in str(err.value)
    with pytest.raises(IndexMismatchError, match="layout 1"):
        MilvusStore.open_or_create(milvus_server.uri, collection=store.collection, **META)
