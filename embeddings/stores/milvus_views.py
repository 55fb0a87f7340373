"""The ``passages`` / ``documents`` / ``sentence_vectors`` / ``manifest["documents"]`` of a
:class:`~embeddings.stores.milvus.MilvusStore`: read-only mappings that fetch from Milvus instead
of holding the collection in the process.

A lookup by key (``store.passages[pid]``, ``pid in store.sentence_vectors``,
``store.documents.get(doc_id)``) is one query by id, served from the store's bounded caches when
a question's reads have already fetched it (the retriever fetches its candidates in one call:
:meth:`~embeddings.stores.base.VectorStore.get_passages`). Iterating or taking the length is a
scan or a ``count(*)`` of the collection: what a listing, a copy or a test does, never a
question. So these keep the :class:`~embeddings.stores.base.VectorStore` contract without any
per-passage state.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Mapping
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from corpus.document import Document

    from .base import StoredPassage
    from .milvus import MilvusStore

__all__ = ["LRU", "PassageView", "DocumentView", "SentenceVectorView", "DocumentList"]


class LRU:
    """A thread-safe least-recently-used cache of at most ``size`` entries."""

    def __init__(self, size: int):
        self.size = size
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, default: object = None) -> object:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
            return default

    def put(self, key: Hashable, value: object) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def pop(self, key: Hashable) -> None:
        with self._lock:
            self._data.pop(key, None)

    def drop_if(self, predicate: object) -> None:
        """Forget the entries whose value satisfies ``predicate(value)``."""
        with self._lock:
            for key in [k for k, v in self._data.items() if predicate(v)]:
                del self._data[key]

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


class _View(Mapping):
    def __init__(self, store: MilvusStore):
        self._store = store

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._store.where}>"

    def __eq__(self, other: object) -> bool:  # a full comparison: tests only
        return isinstance(other, Mapping) and dict(self.items()) == dict(other.items())

    __hash__ = None  # type: ignore[assignment]


class PassageView(_View):
    """passage id -> :class:`StoredPassage` (with its ``extra``), committed passages only;
    iteration in document order (documents as added, chunks in order), like the FAISS store."""

    def __getitem__(self, pid: int) -> StoredPassage:
        got = self._store.get_passages([pid], extra=True)
        if int(pid) not in got:
            raise KeyError(pid)
        return got[int(pid)]

    def __contains__(self, pid: object) -> bool:
        try:
            return int(pid) in self._store.get_passages([int(pid)], extra=False)
        except (TypeError, ValueError):
            return False

    def __iter__(self) -> Iterator[int]:
        return (p.id for p in self._store.scan_passages(extra=False))

    def __len__(self) -> int:
        return self._store.count_passages()

    def items(self) -> list[tuple[int, StoredPassage]]:  # one scan instead of a query per key
        return [(p.id, p) for p in self._store.scan_passages(extra=True)]

    def values(self) -> list[StoredPassage]:
        return [p for p in self._store.scan_passages(extra=True)]


class DocumentView(_View):
    """document id -> :class:`Document` (with its text), complete documents only, in the order
    they were added."""

    def __getitem__(self, doc_id: str) -> Document:
        got = self._store.get_documents([doc_id], text=True)
        if doc_id not in got:
            raise KeyError(doc_id)
        return got[doc_id]

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and bool(self._store.has_documents([doc_id]))

    def __iter__(self) -> Iterator[str]:
        return (d["id"] for d in self._store.scan_documents(text=False))

    def __len__(self) -> int:
        return self._store.count_documents()

    def items(self) -> list[tuple[str, Document]]:
        return [(d.id, d) for d in self._store.scan_documents(text=True, as_documents=True)]

    def values(self) -> list[Document]:
        return [d for d in self._store.scan_documents(text=True, as_documents=True)]


class SentenceVectorView(_View):
    """passage id -> float16 matrix of its sentence vectors (passages that have them)."""

    def __getitem__(self, pid: int) -> np.ndarray:
        got = self._store.get_sentence_vectors([pid])
        if int(pid) not in got:
            raise KeyError(pid)
        return got[int(pid)]

    def __contains__(self, pid: object) -> bool:
        try:
            return int(pid) in self._store.get_sentence_vectors([int(pid)])
        except (TypeError, ValueError):
            return False

    def __iter__(self) -> Iterator[int]:
        return iter(self._store.scan_sentence_owners())

    def __len__(self) -> int:
        return len(self._store.scan_sentence_owners())


class DocumentList:
    """``manifest["documents"]`` of a Milvus store: the listing (id, title, source, url, date,
    path, passages) of every complete document, read from Milvus when iterated."""

    def __init__(self, store: MilvusStore):
        self._store = store

    def __iter__(self) -> Iterator[dict]:
        return iter(self._store.scan_documents(text=False))

    def __len__(self) -> int:
        return self._store.count_documents()

    def __repr__(self) -> str:
        return f"<DocumentList of {self._store.where}>"
