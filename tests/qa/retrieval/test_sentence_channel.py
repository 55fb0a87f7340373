"""The sentence channel: exact ranking while small, IVF over sentences beyond the threshold,
and exact best-sentence cosines for the passages asked about."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from benchmarks.common import SEED_QUESTIONS
from benchmarks.sources import synthetic_index
from embeddings.stores import ann
from qa.retrieval.dense import SentenceChannel

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def big(bundled_pipeline):
    """3,000 passages (~15,000 sentences) made of the bundled ones (synthetic_index)."""
    return synthetic_index([bundled_pipeline.index], 3000)


@pytest.fixture(scope="module")
def queries(bundled_pipeline):
    return [bundled_pipeline.query(q) for q in SEED_QUESTIONS]


def full_best(index, q) -> dict[int, float]:
    """Reference: best sentence cosine of every passage, computed directly."""
    return {pid: float((sv.astype(np.float32) @ q.vector).max()) for pid, sv in index.sentence_vectors.items() if len(sv)}


def test_exact_ranking_and_best(big, queries):
    ch = SentenceChannel(big)
    ch.refresh()
    assert isinstance(ch._search_index, faiss.IndexFlatIP)
    for q in queries[:3]:
        ref = full_best(big, q)
        top = ch.search(q, 20)
        expected = sorted(ref.values(), reverse=True)[:20]
        assert len(top) == 20 and len({p for p, _ in top}) == 20
        # the same scores in the same order (ids may swap only between float-level ties)
        assert [s for _, s in top] == pytest.approx(expected, abs=1e-5)
        assert all(s == pytest.approx(ref[p], abs=1e-5) for p, s in top)
        some = [p for p, _ in top[:5]] + list(ref)[:7]
        got = ch.best(q, some)
        assert set(got) == set(some)
        assert all(got[p] == pytest.approx(ref[p], abs=1e-5) for p in some)


def test_ivf_above_threshold_finds_the_same_passages(big, queries, monkeypatch):
    monkeypatch.setattr(ann, "ANN_THRESHOLD", 1000)
    ch = SentenceChannel(big)
    ch.refresh()
    assert isinstance(ch._search_index, faiss.IndexIVFFlat)
    overlap = []
    for q in queries:
        ref = [p for p, _ in sorted(full_best(big, q).items(), key=lambda x: -x[1])[:20]]
        got = ch.search(q, 20)
        assert len(got) == 20 and len({p for p, _ in got}) == 20
        overlap.append(len(set(ref) & {p for p, _ in got}) / 20)
    assert np.mean(overlap) >= 0.9, overlap
