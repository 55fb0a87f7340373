"""The store a configuration names (:func:`open_store`: FAISS in a folder, or Milvus at a URI) and
copying one store into another (:func:`copy_store`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .base import VectorStore

__all__ = ["copy_store", "is_milvus_uri", "open_store"]


def is_milvus_uri(uri: str | Path | None) -> bool:
    """Whether a configured store location names Milvus (a ``.db`` Milvus Lite file or a server URL)."""
    if uri is None:
        return False
    s = str(uri)
    return s.endswith(".db") or s.startswith(("http://", "https://", "tcp://", "unix:"))


def open_store(*, index_dir: str | Path | None, uri: str | None = None, collection: str = "vnnews_qa",
               index_type: str = "FLAT", model: str, fingerprint: str, probe: Sequence[float], dim: int,
               chunking: dict, retry_s: float = 30.0) -> VectorStore:
    """Open the store these settings name (``QAConfig``'s ``index_dir`` and ``vector_store_*``),
    creating it for the model described by ``model``, ``fingerprint``, ``probe``, ``dim`` and
    ``chunking`` if absent.

    ``uri`` None: the FAISS index in ``index_dir`` (``index_dir`` None: in memory only). A Milvus
    Lite file path (``*.db``) or a server URL: the Milvus collection ``collection`` there, its
    vector index ``index_type`` ("FLAT", "HNSW", "AUTOINDEX", ...) when it is created; its calls
    ride out an unreachable or restarting server for ``retry_s`` seconds.
    """
    create = dict(model=model, fingerprint=fingerprint, probe=probe, dim=dim, chunking=chunking)
    if uri is not None:
        if not is_milvus_uri(uri):
            raise ValueError(f"vector_store_uri must be a Milvus Lite file ending in .db or a server URL "
                             f"like http://localhost:19530, not {uri!r}")
        from .milvus import MilvusStore

        return MilvusStore.open_or_create(str(uri), collection=collection, retry_s=retry_s,
                                          index={"index_type": index_type, "params": {}}, **create)
    from .faiss import FaissStore

    if index_dir is not None and FaissStore.exists(index_dir):
        return FaissStore.open(index_dir)
    return FaissStore.create(index_dir, **create)


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
        stored = source.get_sentence_vectors([p.id for p in rows])
        sent = [stored[p.id] for p in rows] if rows and all(p.id in stored for p in rows) else None
        target.add(doc, chunks, vectors, extras, sent)
        copied += len(rows)
    if target.path is not None:
        target.commit()
    return copied
