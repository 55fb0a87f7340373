"""Passage stores: the :class:`VectorStore` contract, the FAISS and Milvus backends, the factory."""

from .base import PassageFilter, VectorStore, copy_store, is_milvus_uri, open_store

__all__ = ["PassageFilter", "VectorStore", "copy_store", "is_milvus_uri", "open_store"]
