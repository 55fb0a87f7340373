"""Index choice by size: exact flat search while small, an IVF index beyond a threshold.

:class:`~embeddings.stores.faiss.FaissStore` keeps every passage vector in an exact flat
index (the source of truth: reconstructs, removals, persistence). At
:data:`ANN_THRESHOLD` passages and more it also keeps an approximate index built here and
searches that instead; below it, and for every exact lookup, the flat index serves.

Why IVF (``IndexIVFFlat``, inner product) rather than HNSW: it supports ``add_with_ids``
and ``remove_ids``, so the index follows additions and removals without a rebuild (FAISS's
HNSW cannot remove), and it builds a 1M-passage index in a few minutes on one core (an HNSW
graph of 1M x 384 with M=32 takes several times longer single-threaded). Vectors stay
uncompressed (no PQ), so the scores it returns are exact cosines; only which passages are
scanned is approximate. Memory: the vectors a second time plus 8 bytes of id each
(``python -m benchmarks ann`` reports bytes per passage).

Parameters (measured with ``python -m benchmarks ann``, see BENCHMARKS.md):

* ``nlist = 4 * sqrt(n)`` lists (FAISS's guideline is 4-16 x sqrt(n)): ~1,300 at 100k,
  4,000 at 1M passages;
* k-means trained on ``TRAIN_PER_LIST`` vectors per list (FAISS warns below 39), 10
  iterations;
* ``nprobe``: lists scanned per query, :data:`NPROBE_FRACTION` of nlist with a floor of
  :data:`MIN_NPROBE`: recall@10 against exact search >= 0.98 in the benchmark (stand-in
  vectors: real embeddings plus noise, tightly clustered, a hard case for IVF).

The index is trained on the vectors present when it is built; it is rebuilt (retrained)
when the collection has grown :data:`RETRAIN_GROWTH` times since, so the lists keep fitting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import faiss

__all__ = ["ANN_THRESHOLD", "AnnParams", "build", "flat_contents", "needs_rebuild", "params_for", "use_ann"]

#: Vectors from which the approximate index is used (passages for the passage index,
#: sentences for the sentence channel). Measured on this busy 2-core machine (BENCHMARKS.md,
#: "Index choice by size"): one exact search over 384-dim vectors took 9.5 ms p50 (15 ms p95)
#: at 100,000, 25 ms at 200,000 and 114 ms at 1M vectors — from 100,000 on a sixth to a
#: quarter of the 60 ms ``ask()`` budget — while IVF with the parameters below took 1.5 / 6.4
#: / 11.7 ms at recall@10 0.983 / 0.991 / 1.000. Below it, exact search is cheap, needs no
#: training and loses nothing.
ANN_THRESHOLD = 100_000
#: Training vectors per list (FAISS warns below 39 per centroid).
TRAIN_PER_LIST = 40
#: k-means iterations: 10 is FAISS's own default for IVF coarse quantizers.
KMEANS_ITERATIONS = 10
#: Share of the lists scanned per query, and the floor. Measured at 200,000 stand-in vectors
#: (nlist 1,789, 100 dev questions): nprobe = nlist/16 gives recall@10 0.971, nlist/8 0.991,
#: nlist/5 0.994 (and 16 x sqrt(n) lists, at 10 x the training time, 0.998); 1/8 it is.
NPROBE_FRACTION = 1 / 8
MIN_NPROBE = 32
#: Rebuild the index when the collection has grown this many times since training.
RETRAIN_GROWTH = 4.0


@dataclass(frozen=True)
class AnnParams:
    """IVF parameters for a collection of ``n`` vectors."""

    nlist: int
    nprobe: int
    train_size: int


def params_for(n: int) -> AnnParams:
    """Parameters for ``n`` vectors (see the module docstring for the rules)."""
    nlist = max(1, int(round(4 * math.sqrt(max(1, n)))))
    nprobe = min(nlist, max(MIN_NPROBE, int(round(nlist * NPROBE_FRACTION))))
    return AnnParams(nlist=nlist, nprobe=nprobe, train_size=min(n, TRAIN_PER_LIST * nlist))


def use_ann(n: int, threshold: int | None = None) -> bool:
    """Whether a collection of ``n`` passages is searched with the approximate index."""
    return n >= (ANN_THRESHOLD if threshold is None else threshold)


def flat_contents(idmap: faiss.IndexIDMap2) -> tuple[np.ndarray, np.ndarray]:
    """(vectors, ids) held by an ``IndexIDMap2(IndexFlat)``, without copying row by row."""
    import faiss

    flat = faiss.downcast_index(idmap.index)
    n, d = flat.ntotal, flat.d
    vectors = faiss.rev_swig_ptr(flat.get_xb(), n * d).reshape(n, d) if n else np.zeros((0, d), np.float32)
    ids = faiss.vector_to_array(idmap.id_map).astype(np.int64)
    return vectors, ids


def build(vectors: np.ndarray, ids: np.ndarray, params: AnnParams | None = None, *, seed: int = 0) -> faiss.IndexIVFFlat:
    """An ``IndexIVFFlat`` (inner product) over ``vectors`` with passage ids ``ids``."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, d = vectors.shape
    p = params or params_for(n)
    quantizer = faiss.IndexFlatIP(d)
    index = faiss.IndexIVFFlat(quantizer, d, p.nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = KMEANS_ITERATIONS
    index.cp.seed = seed
    rng = np.random.default_rng(seed)
    sample = vectors if p.train_size >= n else vectors[np.sort(rng.choice(n, p.train_size, replace=False))]
    index.train(sample)
    index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))
    index.nprobe = p.nprobe
    return index


def trained_size(index: faiss.IndexIVFFlat) -> int:
    """Vectors the index was built for (recovered from its nlist)."""
    return int(round((index.nlist / 4) ** 2))


def needs_rebuild(index: faiss.IndexIVFFlat, n: int) -> bool:
    """True when the collection outgrew the lists the index was trained with."""
    return n > RETRAIN_GROWTH * trained_size(index)
