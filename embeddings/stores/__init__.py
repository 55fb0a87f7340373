"""Passage stores: the contract (:mod:`~embeddings.stores.base`), the factory that opens the store a
configuration names (:mod:`~embeddings.stores.factory`), the FAISS folder store (the default,
:mod:`~embeddings.stores.faiss`, with :mod:`~embeddings.stores.integrity` and the size-chosen
approximate index of :mod:`~embeddings.stores.ann`) and Milvus (:mod:`~embeddings.stores.milvus`)."""

from .base import (
                   FORMAT_VERSION,
                   ConcurrentChangeError,
                   CorruptIndexError,
                   IndexMismatchError,
                   MergeReport,
                   PassageFilter,
                   StoredPassage,
                   StoreError,
                   StoreUnavailableError,
                   VectorStore,
)
from .factory import copy_store, is_milvus_uri, open_store

__all__ = ["FORMAT_VERSION", "ConcurrentChangeError", "CorruptIndexError", "IndexMismatchError", "MergeReport",
           "PassageFilter",
           "StoreError", "StoreUnavailableError", "StoredPassage", "VectorStore", "copy_store", "is_milvus_uri",
           "open_store"]
