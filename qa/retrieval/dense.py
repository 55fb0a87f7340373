"""Dense channel: cosine similarity of E5 vectors in the FAISS index."""

from __future__ import annotations

from embeddings.vector_index import VectorIndex

from .base import Query, Ranking

__all__ = ["DenseChannel"]


class DenseChannel:
    """Nearest neighbours of the query vector (cross-lingual by construction)."""

    name = "dense"

    def __init__(self, index: VectorIndex):
        self.index = index

    def search(self, query: Query, k: int) -> Ranking:
        if query.vector is None:
            raise ValueError("the dense channel needs query.vector")
        return self.index.search(query.vector, k)[0]
