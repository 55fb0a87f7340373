"""The passage store in Milvus: the same :class:`~embeddings.stores.base.VectorStore` as the FAISS
index, for corpora that outgrow one machine (or to share one index between several processes).

``uri`` is either a Milvus Lite file (``/path/index.db``: the Milvus engine embedded in this
process through the ``milvus-lite`` package) or a Milvus standalone/cluster server
(``http://host:19530``); the client API is the same. One logical store is four collections:

==============================  ===========================================================
``<name>``                      passages: ``id`` (INT64), ``vector`` (the passage vector),
                                ``doc_id``/``source``/``date`` (filterable copies of the
                                document's fields) and ``data`` (JSON: chunk index, offsets,
                                text, sentence spans, token count, BM25 terms)
``<name>_sentences``            one row per passage sentence: its vector, ``passage_id``,
                                ``pos`` and ``doc_id`` (sentence rescoring and answers)
``<name>_documents``            one row per cleaned document: ``id``, ``data`` (JSON: title,
                                outlet, url, date, path, metadata) and ``text_parts`` (the
                                text in 16,000-character pieces: citations are spans of it)
``<name>_meta``                 the manifest: model name, fingerprint, probe, dimension,
                                chunking
==============================  ===========================================================

Milvus requires a vector field in every collection: the documents and meta collections carry a
constant 2-dimensional placeholder vector that nothing searches.

Passage and sentence ids are 63-bit hashes of (document id, chunk index[, sentence position]):
writers in several processes or machines need no shared counter, and re-running a batch after
a crash upserts the same rows instead of duplicating them. The document row is written last and
deleted first: on open, passages of a document without its row (an interrupted or concurrent
write) are ignored.

What stays in memory: the passage texts, BM25 terms, documents and sentence vectors, loaded on
open (the hybrid retriever's BM25 and sentence channels scan them on every question). Only the
passage vectors live in Milvus alone, searched there with the metadata filters. README.md
("Scaling out") says what that means at scale.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from pymilvus import MilvusClient

from corpus.document import Chunk, Document

from .base import (
    FORMAT_VERSION,
    IndexMismatchError,
    PassageFilter,
    StoredPassage,
    VectorStore,
)
from .milvus_client import connect, filter_expression, quote, release, scan

__all__ = ["MilvusStore", "passage_row_id"]

#: Rows per insert call: ~1,000 passages with their JSON (text + terms, ~6 KB each) and vector
#: are ~7 MB, well under gRPC's 64 MB message limit, and few enough round trips.
BATCH_ROWS = 1000
#: Characters per piece of a document's text: 16,000 characters of Vietnamese are at most
#: 48,000 UTF-8 bytes, under Milvus' 65,535-byte VARCHAR limit.
TEXT_PART = 16_000
#: Placeholder vector of the documents and meta collections (Milvus needs one per collection).
_PLACEHOLDER = [1.0, 0.0]
_DEFAULT_INDEX = {"index_type": "FLAT", "params": {}}


def _hash_id(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "big") >> 1


def passage_row_id(doc_id: str, chunk_index: int) -> int:
    """The passage id of chunk ``chunk_index`` of document ``doc_id`` (63-bit, stable)."""
    return _hash_id(f"{doc_id}\x00{chunk_index}")


def _sentence_row_id(doc_id: str, chunk_index: int, pos: int) -> int:
    return _hash_id(f"{doc_id}\x00{chunk_index}\x00{pos}")


class MilvusStore(VectorStore):
    """Passages, documents and vectors in Milvus collections (see the module docstring)."""

    def __init__(self, client: MilvusClient, uri: str, collection: str, manifest: dict, passages: dict[int, StoredPassage],
                 documents: dict[str, Document], sentence_vectors: dict[int, np.ndarray]):
        self._client = client
        self.path = uri  # where the store is, for messages (not None: the pipeline commits)
        self.uri = uri
        self.collection = collection
        self.manifest = manifest
        self.passages = passages
        self.documents = documents
        self.sentence_vectors = sentence_vectors
        self._pending: dict[str, list[dict]] = {}
        self._dirty = False
        self._version = 0  # bumped by add/remove (invalidates cached filter results)
        self.manifest["documents"] = self._document_list()

    # ------------------------------------------------------------------ names
    @property
    def _sentences(self) -> str:
        return self.collection + "_sentences"

    @property
    def _documents(self) -> str:
        return self.collection + "_documents"

    @property
    def _meta(self) -> str:
        return self.collection + "_meta"

    @property
    def where(self) -> str:
        return f"the Milvus store {self.collection!r} at {self.uri}"

    # ------------------------------------------------------------------ construction
    @classmethod
    def exists(cls, uri: str, collection: str) -> bool:
        client = connect(uri)
        try:
            return cls._has_manifest(client, collection)
        finally:
            release(client, uri)

    @classmethod
    def open_or_create(cls, uri: str, *, collection: str, model: str, fingerprint: str,
                       probe: Sequence[float], dim: int, chunking: dict,
                       index: dict | None = None) -> MilvusStore:
        """Open the store at ``uri``/``collection``, creating its collections if absent.

        ``index``: the passage-vector index as ``{"index_type": ..., "params": {...}}`` when the
        collection is created; default FLAT (exact, as the FAISS default).
        """
        client = connect(uri)
        meta = collection + "_meta"
        if cls._has_manifest(client, collection):
            return cls._load(client, uri, collection)
        manifest = {
            "format_version": FORMAT_VERSION, "created": time.time(), "backend": "milvus",
            "model": {"name": model, "fingerprint": fingerprint, "probe": [float(x) for x in probe], "dim": dim},
            "chunking": dict(chunking), "index": index or _DEFAULT_INDEX,
        }
        cls._create_collections(client, collection, dim, manifest["index"])
        client.upsert(meta, [{"key": "manifest", "vector": _PLACEHOLDER, "value": manifest}])
        return cls(client, uri, collection, manifest, {}, {}, {})

    @classmethod
    def open(cls, uri: str, collection: str) -> MilvusStore:
        """Open an existing store (FileNotFoundError when there is none)."""
        client = connect(uri)
        if not cls._has_manifest(client, collection):
            release(client, uri)
            raise FileNotFoundError(f"no Milvus store {collection!r} at {uri}; build one with "
                                    "`python -m qa index` and vector_store_uri set")
        return cls._load(client, uri, collection)

    @staticmethod
    def _create_collections(client: MilvusClient, name: str, dim: int, index: dict) -> None:
        from pymilvus import DataType

        def create(cname: str, fields: list[tuple], vector_dim: int, index_type: str = "FLAT",
                   params: dict | None = None, pk: tuple = ("id", DataType.INT64, {})) -> None:
            if client.has_collection(cname):
                return
            schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field(pk[0], pk[1], is_primary=True, **pk[2])
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=vector_dim)
            for fname, ftype, kw in fields:
                schema.add_field(fname, ftype, **kw)
            ip = client.prepare_index_params()
            ip.add_index("vector", index_type=index_type, metric_type="IP", params=params or {})
            client.create_collection(cname, schema=schema, index_params=ip, consistency_level="Strong")

        key = {"max_length": 512}
        create(name, [("doc_id", DataType.VARCHAR, key), ("source", DataType.VARCHAR, key),
                      ("date", DataType.VARCHAR, {"max_length": 64}), ("data", DataType.JSON, {})],
               dim, index["index_type"], index.get("params"))
        create(name + "_sentences", [("passage_id", DataType.INT64, {}), ("pos", DataType.INT64, {}),
                                     ("doc_id", DataType.VARCHAR, key)], dim)
        create(name + "_documents", [("data", DataType.JSON, {}),
                                     ("text_parts", DataType.ARRAY, {"element_type": DataType.VARCHAR,
                                                                     "max_capacity": 4096,
                                                                     "max_length": 65535})],
               len(_PLACEHOLDER), pk=("id", DataType.VARCHAR, key))
        create(name + "_meta", [("value", DataType.JSON, {})], len(_PLACEHOLDER),
               pk=("key", DataType.VARCHAR, {"max_length": 64}))

    @staticmethod
    def _ensure_loaded(client: MilvusClient, collection: str) -> None:
        """Load the four collections into the query nodes (a freshly started Milvus, or a Milvus
        Lite file opened by a new process, has them released)."""
        for name in (collection, collection + "_sentences", collection + "_documents", collection + "_meta"):
            if not client.has_collection(name):
                continue  # an interrupted create: open_or_create makes the missing ones
            state = client.get_load_state(name).get("state")
            if str(state).rsplit(".", 1)[-1] != "Loaded":
                client.load_collection(name)

    @classmethod
    def _has_manifest(cls, client: MilvusClient, collection: str) -> bool:
        meta = collection + "_meta"
        if not client.has_collection(meta):
            return False
        cls._ensure_loaded(client, collection)
        return bool(client.query(meta, ids=["manifest"], output_fields=["key"]))

    @classmethod
    def _load(cls, client: MilvusClient, uri: str, collection: str) -> MilvusStore:
        manifest = client.query(collection + "_meta", ids=["manifest"], output_fields=["value"])[0]["value"]
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexMismatchError(f"Milvus store {collection!r} at {uri} has format "
                                     f"{manifest.get('format_version')}, this version reads {FORMAT_VERSION}")
        documents: dict[str, Document] = {}
        seq: dict[str, int] = {}
        for row in scan(client, collection + "_documents", ["id", "data", "text_parts"]):
            d = dict(row["data"], id=row["id"], text="".join(row["text_parts"]))
            seq[row["id"]] = d.pop("added_ns", 0)
            documents[row["id"]] = Document.from_dict(d)
        passages: dict[int, StoredPassage] = {}
        for row in scan(client, collection, ["id", "doc_id", "data"]):
            if row["doc_id"] not in documents:
                continue  # its document row is not written yet (or deleted): not committed
            data = row["data"]
            passages[int(row["id"])] = StoredPassage(
                id=int(row["id"]), doc_id=row["doc_id"], index=data["index"], start=data["start"],
                end=data["end"], text=data["text"], sentences=[tuple(s) for s in data["sentences"]],
                n_tokens=data["n_tokens"], extra=data.get("extra", {}))
        by_passage: dict[int, list[tuple[int, list]]] = {}
        for row in scan(client, collection + "_sentences", ["passage_id", "pos", "vector"]):
            by_passage.setdefault(int(row["passage_id"]), []).append(
                (row["pos"], np.asarray(row["vector"], dtype=np.float16)))
        sentence_vectors = {}
        for pid, rows in by_passage.items():
            p = passages.get(pid)
            if p is not None and len(rows) == len(p.sentences):
                rows.sort(key=lambda r: r[0])
                sentence_vectors[pid] = np.stack([v for _, v in rows])
        # documents in the order they were added and passages in document order, as the FAISS
        # index keeps them (the listing, and ties between equal scores, follow this order)
        documents = dict(sorted(documents.items(), key=lambda kv: seq.get(kv[0], 0)))
        rank = {doc_id: i for i, doc_id in enumerate(documents)}
        passages = {p.id: p for p in sorted(passages.values(), key=lambda p: (rank[p.doc_id], p.index))}
        return cls(client, uri, collection, manifest, passages, documents, sentence_vectors)

    def close(self) -> None:
        """Write pending rows and release the connection."""
        self._write_pending()
        if self._client is not None:
            release(self._client, self.uri)
            self._client = None

    # ------------------------------------------------------------------ checks
    def _document_list(self) -> list[dict]:
        counts: dict[str, int] = {}
        for p in self.passages.values():
            counts[p.doc_id] = counts.get(p.doc_id, 0) + 1
        return [{"id": d.id, "title": d.title, "source": d.source, "url": d.url, "date": d.date,
                 "path": d.path, "passages": counts.get(d.id, 0)} for d in self.documents.values()]

    # ------------------------------------------------------------------ mutation
    def add(self, document: Document, chunks: Sequence[Chunk], vectors: np.ndarray,
            extras: Sequence[dict] | None = None,
            sentence_vectors: Sequence[np.ndarray] | None = None) -> list[int]:
        """Add one document's passages (buffered; written by :meth:`commit` or every
        :data:`BATCH_ROWS` rows). A document already present is left as it is."""
        if document.id in self.documents:
            return []
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(chunks), self.dim):
            raise ValueError(f"expected {len(chunks)} vectors of dim {self.dim}, got {vectors.shape}")
        ids = [passage_row_id(document.id, c.index) for c in chunks]
        if len(set(ids)) != len(ids) or any(i in self.passages for i in ids):
            raise ValueError(f"document {document.id!r}: passage ids collide (repeated chunk index?)")
        new_sv: dict[int, np.ndarray] = {}
        if sentence_vectors is not None:
            for i, chunk in enumerate(chunks):
                sv = np.asarray(sentence_vectors[i], dtype=np.float16)
                if sv.shape != (len(chunk.sentences), self.dim):
                    raise ValueError(f"chunk {i}: expected {len(chunk.sentences)} sentence vectors, got {sv.shape}")
                new_sv[ids[i]] = sv
        rows, sent_rows = [], []
        for i, (pid, chunk) in enumerate(zip(ids, chunks)):
            p = StoredPassage.from_chunk(pid, chunk)
            if extras is not None:
                p.extra = dict(extras[i])
            self.passages[pid] = p
            rows.append({"id": pid, "vector": vectors[i].tolist(), "doc_id": document.id,
                         "source": document.source or "", "date": document.date or "",
                         "data": {"index": p.index, "start": p.start, "end": p.end, "text": p.text,
                                  "sentences": [list(s) for s in p.sentences], "n_tokens": p.n_tokens,
                                  "extra": p.extra}})
            if pid in new_sv:
                self.sentence_vectors[pid] = new_sv[pid]
                for pos, v in enumerate(new_sv[pid]):
                    sent_rows.append({"id": _sentence_row_id(document.id, chunk.index, pos),
                                      "vector": v.astype(np.float32).tolist(), "passage_id": pid, "pos": pos,
                                      "doc_id": document.id})
        text = document.text
        doc_row = {"id": document.id, "vector": _PLACEHOLDER,
                   "data": dict({k: v for k, v in document.to_dict().items() if k not in ("id", "text")},
                                added_ns=time.time_ns()),
                   "text_parts": [text[i:i + TEXT_PART] for i in range(0, len(text), TEXT_PART)] or [""]}
        self._queue(self.collection, rows)
        self._queue(self._sentences, sent_rows)
        self._queue(self._documents, [doc_row])  # written after its passages: the commit marker
        self.documents[document.id] = document
        self.manifest["documents"].append({
            "id": document.id, "title": document.title, "source": document.source, "url": document.url,
            "date": document.date, "path": document.path, "passages": len(chunks)})
        self._dirty = True
        self._version += 1
        if sum(len(v) for v in self._pending.values()) >= BATCH_ROWS:
            self._write_pending()
        return ids

    def _queue(self, collection: str, rows: list[dict]) -> None:
        if rows:
            self._pending.setdefault(collection, []).extend(rows)

    def _write_pending(self) -> None:
        # passages and sentences before documents (dict order of first use is the same, but be explicit)
        for name in (self.collection, self._sentences, self._documents):
            rows = self._pending.pop(name, [])
            for i in range(0, len(rows), BATCH_ROWS):
                self._client.upsert(name, rows[i:i + BATCH_ROWS])

    def remove(self, doc_id: str) -> int:
        if doc_id not in self.documents:
            raise KeyError(f"no document with id {doc_id!r} in the store")
        self._write_pending()
        expr = f"doc_id == {quote(doc_id)}"
        self._client.delete(self._documents, ids=[doc_id])  # first: the passages stop counting
        self._client.delete(self.collection, filter=expr)
        self._client.delete(self._sentences, filter=expr)
        ids = self._forget(doc_id)
        self._dirty = True
        self._version += 1
        return len(ids)

    def commit(self) -> bool:
        """Write buffered rows and flush the collections (Milvus persists them itself)."""
        if not self._dirty and not self._pending:
            return False
        self._write_pending()
        for name in (self.collection, self._sentences, self._documents):
            self._client.flush(name)
        self._dirty = False
        return True

    # ------------------------------------------------------------------ search
    def search(self, query_vectors: np.ndarray, k: int,
               filter: PassageFilter | None = None) -> list[list[tuple[int, float]]]:
        q = np.ascontiguousarray(np.atleast_2d(query_vectors), dtype=np.float32)
        if not self.passages or k < 1:
            return [[] for _ in range(len(q))]
        self._write_pending()
        # Milvus caps limit at 16,384 (topk)
        hits = self._client.search(self.collection, data=[v.tolist() for v in q], limit=min(k, len(self.passages), 16384),
                                   filter=filter_expression(filter), output_fields=["doc_id"],
                                   search_params={"metric_type": "IP"})
        # rows of documents not (yet) committed or of other writers are skipped like on open
        return [[(int(h["id"]), float(h["distance"])) for h in row if int(h["id"]) in self.passages]
                for row in hits]

    def vectors(self, ids: Iterable[int]) -> np.ndarray:
        ids = [int(i) for i in ids]
        if not ids:
            return np.zeros((0, self.dim), dtype=np.float32)
        self._write_pending()
        rows = self._client.query(self.collection, ids=ids, output_fields=["id", "vector"])
        got = {int(r["id"]): r["vector"] for r in rows}
        missing = [i for i in ids if i not in got]
        if missing:
            raise KeyError(f"passage ids not in the Milvus store: {missing[:5]}")
        return np.asarray([got[i] for i in ids], dtype=np.float32)
