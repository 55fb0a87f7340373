"""The vector-store interface, metadata filters, and the factory that picks a store from the config.

Two stores implement :class:`VectorStore`:

- :class:`embeddings.stores.faiss.VectorIndex`: FAISS in a directory, embedded, the default.
- :class:`embeddings.stores.milvus.MilvusStore`: a Milvus collection through ``pymilvus``, either a
  local Milvus Lite file (``.../index.db``) or a Milvus standalone/cluster server
  (``http://host:19530``).

Everything above the store (retrieval, fusion, answering, citations, the app) reads the same
attributes: ``passages`` (id -> :class:`~embeddings.stores.faiss.StoredPassage`, with the BM25
terms in ``extra["terms"]``), ``documents`` (id -> cleaned :class:`~corpus.document.Document`,
which citations point into), ``sentence_vectors`` (passage id -> float16 matrix) and
``manifest`` (model, chunking, document list), and calls :meth:`VectorStore.search` /
:meth:`VectorStore.vectors` for the dense channel.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from corpus.document import Chunk, Document

__all__ = ["VectorStore", "PassageFilter", "open_store", "copy_store", "is_milvus_uri"]

_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


@dataclass(frozen=True)
class PassageFilter:
    """Which documents' passages a search may return. Empty fields do not restrict.

    ``sources``: outlets (``Document.source``, exact match, e.g. ``("QĐND",)``);
    ``date_from`` / ``date_to``: inclusive bounds as ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``
    compared with the document's ISO date (``date_to="2016-08"`` includes the whole month); a
    document without a date never passes a date bound; ``doc_ids``: document ids.
    """

    sources: tuple[str, ...] = ()
    date_from: str | None = None
    date_to: str | None = None
    doc_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("sources", "doc_ids"):
            value = getattr(self, name)
            if isinstance(value, str):
                value = (value,)
            object.__setattr__(self, name, tuple(value or ()))
        for name in ("date_from", "date_to"):
            value = getattr(self, name)
            if value is not None and not _DATE.match(str(value)):
                raise ValueError(f"{name} must look like 2016, 2016-08 or 2016-08-26, not {value!r}")

    @classmethod
    def coerce(cls, value: "PassageFilter | Mapping | None") -> "PassageFilter | None":
        """A filter from a :class:`PassageFilter`, a dict of its fields, or None (no filter)."""
        if value is None or isinstance(value, PassageFilter):
            return None if value is None or value.empty else value
        if isinstance(value, Mapping):
            unknown = set(value) - {"sources", "date_from", "date_to", "doc_ids"}
            if unknown:
                raise ValueError(f"unknown filter field(s): {', '.join(sorted(unknown))}; "
                                 "use sources, date_from, date_to, doc_ids")
            f = cls(**value)
            return None if f.empty else f
        raise TypeError(f"filters must be a PassageFilter or a dict, not {type(value).__name__}")

    @property
    def empty(self) -> bool:
        return not (self.sources or self.doc_ids or self.date_from or self.date_to)

    def matches(self, doc: "Document") -> bool:
        """Whether the passages of ``doc`` pass this filter."""
        if self.sources and doc.source not in self.sources:
            return False
        if self.doc_ids and doc.id not in self.doc_ids:
            return False
        if self.date_from or self.date_to:
            date = doc.date or ""
            if not date:
                return False
            if self.date_from and date < self.date_from:
                return False
            if self.date_to and date[:len(self.date_to)] > self.date_to:
                return False
        return True


class VectorStore(ABC):
    """What the retrieval and answering layers use of a passage store.

    Implementations keep ``passages``, ``documents``, ``sentence_vectors`` and ``manifest``
    readable in memory (the BM25 and sentence channels scan them) and own the passage vectors.
    Changes are made with :meth:`add` / :meth:`remove` and made durable by :meth:`commit`.
    """

    path: object
    manifest: dict
    passages: dict
    documents: dict
    sentence_vectors: dict

    @abstractmethod
    def add(self, document: "Document", chunks: Sequence["Chunk"], vectors: np.ndarray,
            extras: Sequence[dict] | None = None,
            sentence_vectors: Sequence[np.ndarray] | None = None) -> list[int]:
        """Add one document's passages (a document already present is left as it is)."""

    @abstractmethod
    def remove(self, doc_id: str) -> int:
        """Remove a document and its passages; returns how many passages were removed."""

    @abstractmethod
    def search(self, query_vectors: np.ndarray, k: int,
               filter: PassageFilter | None = None) -> list[list[tuple[int, float]]]:
        """For each query vector, the ``k`` nearest passages passing ``filter`` as (id, cosine)."""

    @abstractmethod
    def vectors(self, ids: Iterable[int]) -> np.ndarray:
        """Stored vectors of the given passage ids, in that order."""

    @abstractmethod
    def commit(self) -> bool:
        """Make the changes durable; False when there was nothing to write."""

    @property
    @abstractmethod
    def where(self) -> str:
        """How error messages name this store ("the index at …", "the Milvus store … at …")."""

    @property
    def dim(self) -> int:
        return int(self.manifest["model"]["dim"])

    @property
    def model_name(self) -> str:
        return self.manifest["model"]["name"]

    def check_compatible(self, *, model: str, probe_matches: bool, dim: int, chunking: dict | None = None) -> None:
        """Raise :class:`~embeddings.stores.faiss.IndexMismatchError` unless the store was built
        by this model (same dimension and probe vector) and chunking."""
        from .faiss import IndexMismatchError

        m = self.manifest["model"]
        if dim != m["dim"] or not probe_matches:
            raise IndexMismatchError(
                f"{self.where} was built with embedding model {m['name']!r} (fingerprint "
                f"{m['fingerprint']}, dim {m['dim']}), not with {model!r} (dim {dim}). Open it with the "
                "same model, or build a new one (another directory or collection).")
        if chunking is not None and chunking != self.manifest["chunking"]:
            raise IndexMismatchError(
                f"{self.where} was chunked with {self.manifest['chunking']}, not {chunking}; use the "
                "same chunking settings or build a new one (another directory or collection)")

    def __contains__(self, doc_id: str) -> bool:
        return doc_id in self.documents

    def __len__(self) -> int:
        return len(self.passages)

    def filter_ids(self, flt: PassageFilter | None) -> set[int] | None:
        """Ids of the passages that pass ``flt`` (None = no filter).

        One pass over the passages (~50 ms per 100,000 in Python), cached for the last filter
        until the store changes: one question asks for it once per channel, and a user who
        filters usually keeps the same filter for several questions.
        """
        if flt is None or flt.empty:
            return None
        key = (flt, self._state_key())
        cached = getattr(self, "_filter_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        ok_docs = {doc_id for doc_id, doc in self.documents.items() if flt.matches(doc)}
        ids = {pid for pid, p in self.passages.items() if p.doc_id in ok_docs}
        self._filter_cache = (key, ids)
        return ids

    def _forget(self, doc_id: str) -> list[int]:
        """Drop a document and its passages from the in-memory maps (the implementation removes
        them from its own storage); returns the removed passage ids."""
        ids = [pid for pid, p in self.passages.items() if p.doc_id == doc_id]
        for pid in ids:
            del self.passages[pid]
            self.sentence_vectors.pop(pid, None)
        del self.documents[doc_id]
        self.manifest["documents"] = [d for d in self.manifest["documents"] if d["id"] != doc_id]
        return ids

    def _state_key(self) -> tuple:
        """Changes whenever passages are added or removed (a store may keep a finer counter)."""
        return (len(self.passages), len(self.documents), self.manifest.get("next_id"),
                getattr(self, "_version", None))


def is_milvus_uri(uri: str | Path | None) -> bool:
    """Whether a configured store location names Milvus (a ``.db`` Milvus Lite file or a server URL)."""
    if uri is None:
        return False
    s = str(uri)
    return s.endswith(".db") or s.startswith(("http://", "https://", "tcp://", "unix:"))


def open_store(config, *, in_memory: bool = False, model: str, fingerprint: str, probe: Sequence[float],
               dim: int, chunking: dict) -> VectorStore:
    """Open the store that ``config`` (a :class:`qa.config.QAConfig`) names, creating it if absent.

    ``config.vector_store_uri`` None: the FAISS index in ``config.resolved_index_dir`` (or in
    memory only when ``in_memory``). A Milvus Lite file path (``*.db``) or a server URL: the
    Milvus collection ``config.vector_store_collection`` there.
    """
    create = dict(model=model, fingerprint=fingerprint, probe=probe, dim=dim, chunking=chunking)
    uri = getattr(config, "vector_store_uri", None)
    if uri is not None:
        if not is_milvus_uri(uri):
            raise ValueError(f"vector_store_uri must be a Milvus Lite file ending in .db or a server URL "
                             f"like http://localhost:19530, not {uri!r}")
        from .milvus import MilvusStore

        return MilvusStore.open_or_create(
            str(uri), collection=config.vector_store_collection,
            index={"index_type": getattr(config, "vector_store_index", "FLAT"), "params": {}}, **create)
    from .faiss import VectorIndex

    path = None if in_memory else config.resolved_index_dir
    if path is not None and VectorIndex.exists(path):
        return VectorIndex.open(path)
    return VectorIndex.create(path, **create)


def copy_store(source: VectorStore, target: VectorStore, *, progress: bool = False) -> int:
    """Copy every document of ``source`` that ``target`` lacks, with its stored vectors, terms and
    sentence vectors (no re-embedding): e.g. moving a FAISS index to Milvus. Returns passages copied."""
    from corpus.document import Chunk

    by_doc: dict[str, list] = {}
    for p in source.passages.values():
        by_doc.setdefault(p.doc_id, []).append(p)
    copied = 0
    for doc_id, doc in source.documents.items():
        if doc_id in target:
            continue
        rows = sorted(by_doc.get(doc_id, []), key=lambda p: p.index)
        chunks = [Chunk(doc_id=p.doc_id, index=p.index, start=p.start, end=p.end, text=p.text,
                        sentences=tuple(tuple(s) for s in p.sentences), n_tokens=p.n_tokens) for p in rows]
        vectors = source.vectors([p.id for p in rows])
        extras = [dict(p.extra) for p in rows]
        sent = None
        if rows and all(p.id in source.sentence_vectors for p in rows):
            sent = [source.sentence_vectors[p.id] for p in rows]
        target.add(doc, chunks, vectors, extras, sent)
        copied += len(rows)
    if target.path is not None:
        target.commit()
    return copied
