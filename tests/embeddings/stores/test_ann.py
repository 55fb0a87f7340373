"""Index choice by size (embeddings.stores.ann): flat while small, IVF above the threshold, in sync
with additions, removals and commits, and close to exact search."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from corpus.document import Chunk, Document
from embeddings.stores import ann
from embeddings.stores.faiss import FaissStore

DIM = 384


def clustered(rng, n: int, centers: np.ndarray, noise: float = 0.6) -> np.ndarray:
    """Unit vectors around a few dozen centres: nearer to real embeddings than uniform noise
    (passages on one topic sit together)."""
    x = centers[rng.integers(0, len(centers), n)] + noise * rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def make_index(vectors: np.ndarray, path=None, threshold: int | None = None, tag: str = "") -> FaissStore:
    idx = FaissStore.create(path, model="test", fingerprint="0", probe=[0.0] * DIM, dim=DIM, chunking={})
    idx.ann_threshold = threshold
    add(idx, vectors, tag or "doc")
    return idx


def add(idx: FaissStore, vectors: np.ndarray, title: str) -> list[int]:
    doc = Document.create(title, f"{title} " + " ".join(f"p{i}." for i in range(len(vectors))))
    chunks = [Chunk(doc.id, i, 0, len(doc.text), doc.text, (), 1) for i in range(len(vectors))]
    return idx.add(doc, chunks, vectors)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((60, DIM)).astype(np.float32)
    x = clustered(rng, 4000, centers)
    # queries: perturbed copies of stored vectors, like a question near its passage
    q = x[rng.choice(len(x), 100, replace=False)] + 0.04 * rng.standard_normal((100, DIM)).astype(np.float32)
    return rng, centers, x, q / np.linalg.norm(q, axis=1, keepdims=True)


def recall_at_10(exact: list[list[tuple[int, float]]], approx: list[list[tuple[int, float]]]) -> float:
    return float(np.mean([len({i for i, _ in e} & {i for i, _ in a}) / len(e) for e, a in zip(exact, approx)]))


def test_params_follow_size_rules():
    assert not ann.use_ann(ann.ANN_THRESHOLD - 1) and ann.use_ann(ann.ANN_THRESHOLD)
    p = ann.params_for(1_000_000)
    assert p.nlist == 4000 and p.nprobe >= ann.MIN_NPROBE and p.train_size == ann.TRAIN_PER_LIST * 4000
    assert ann.params_for(10).nprobe <= ann.params_for(10).nlist


def test_small_index_stays_exact(data):
    _, _, x, q = data
    idx = make_index(x[:500])
    assert isinstance(idx.search_index(), faiss.IndexIDMap2)
    hits = idx.search(q[:1], 3)[0]
    best = int(np.argmax(x[:500] @ q[0]))
    assert hits[0][0] == best and hits[0][1] == pytest.approx(float(x[best] @ q[0]), abs=1e-5)


def test_above_threshold_ivf_close_to_exact(data):
    _, _, x, q = data
    exact = make_index(x)
    approx = make_index(x, threshold=1000)
    assert isinstance(exact.search_index(), faiss.IndexIDMap2)
    assert isinstance(approx.search_index(), faiss.IndexIVFFlat)
    r = recall_at_10(exact.search(q, 10), approx.search(q, 10))
    assert r >= 0.98, r
    # the scores it returns are exact cosines of the passages it found
    pid, score = approx.search(q[:1], 1)[0][0]
    assert score == pytest.approx(float(x[pid] @ q[0]), abs=1e-5)


def test_ivf_follows_additions_and_removals(data):
    rng, centers, x, _ = data
    idx = make_index(x[:2000], threshold=1000)
    first = idx.search_index()
    new = clustered(rng, 50, centers)
    ids = add(idx, new, "later")
    assert idx.search_index() is first  # updated in place, not rebuilt
    assert idx.search(new[:1], 1)[0][0][0] == ids[0]
    doc_id = idx.passages[ids[0]].doc_id
    idx.remove(doc_id)
    assert all(pid not in ids for pid, _ in idx.search(new[:5], 10)[0])
    assert idx.search_index().ntotal == len(idx) == 2000


def test_ivf_dropped_below_threshold(data):
    _, _, x, _ = data
    idx = make_index(x[:1200], threshold=1000)
    assert isinstance(idx.search_index(), faiss.IndexIVFFlat)
    idx.remove(next(iter(idx.documents)))
    add(idx, x[:10], "small")
    assert isinstance(idx.search_index(), faiss.IndexIDMap2)


def test_ivf_persisted_with_the_commit(data, tmp_path):
    _, _, x, q = data
    idx = make_index(x[:2000], path=tmp_path / "ix", threshold=1000)
    before = idx.search(q[:5], 10)
    idx.commit()
    gen = idx.manifest["generation"]
    assert (tmp_path / "ix" / f"ann-{gen}.faiss").is_file()
    reopened = FaissStore.open(tmp_path / "ix")
    assert isinstance(reopened._ann, faiss.IndexIVFFlat)  # loaded, not rebuilt
    reopened.ann_threshold = 1000
    assert reopened.search(q[:5], 10) == before
    add(reopened, x[2000:2010], "more")
    reopened.commit()
    names = {p.name for p in (tmp_path / "ix").iterdir()}
    assert f"ann-{gen + 1}.faiss" in names and f"ann-{gen}.faiss" not in names
