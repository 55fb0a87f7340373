"""The passage store in Milvus: the same :class:`~embeddings.stores.base.VectorStore` as the FAISS
index, for corpora that outgrow one machine (or to share one index between several processes).

``uri`` is either a Milvus Lite file (``/path/index.db``: the Milvus engine embedded in this
process through the ``milvus-lite`` package) or a Milvus standalone/cluster server
(``http://host:19530``); the client API is the same. One logical store is four collections
(:mod:`embeddings.stores.milvus_schema`).

**Nothing per passage in the process** (``in_memory`` False). Opening reads the manifest only.
``passages``, ``documents`` and ``sentence_vectors`` are views that fetch by id
(:mod:`embeddings.stores.milvus_views`); a question reads only its candidates
(:meth:`get_passages`, :meth:`get_documents`, :meth:`get_sentence_vectors`, one query each)
and searches in Milvus: passage vectors (:meth:`search`), sentence vectors in
``<name>_sentences`` (:meth:`search_sentences`) and BM25 over the project's Vietnamese terms
(:meth:`lexical_search`: Milvus' BM25 function on 2.5+ and Milvus Lite, a candidate-based
fallback on older servers, :mod:`embeddings.stores.milvus_lexical`), every one with the
filter inside Milvus. What the process keeps is bounded: LRU caches of recently read passages,
documents, sentence vectors and term statistics.

**Writers.** Passage and sentence ids are 63-bit hashes of (document id, chunk index[, sentence
position]): writers in several processes or machines need no shared counter, and re-running a
batch after a crash upserts the same rows instead of duplicating them. A document's passages and
sentences are written first and its ``<name>_documents`` row last (deleted first): every read
drops hits whose document row is missing, so an interrupted write is invisible, and its retry
completes it. Calls ride out a server restart (:class:`~embeddings.stores.milvus_client.RetryingClient`).

Why this module is long: it is one class implementing the whole store contract (writes, reads by
id, scans, and the three searches) over four collections; the schema, the views, the client and
the lexical paths are already modules of their own, and what is left shares the store's caches
and consistency state.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

from corpus.document import Chunk, Document

from .base import BM25_B, BM25_K1, IndexMismatchError, PassageFilter, StoredPassage, VectorStore
from .milvus_client import RETRY_S, RetryingClient, connect, filter_expression, quote, release, scan
from .milvus_features import detect
from .milvus_lexical import READ_CONSISTENCY, CandidateBM25, bm25_text, fallback_terms, search_bm25
from .milvus_schema import FORMAT, PLACEHOLDER, SUFFIXES, create_collections
from .milvus_views import LRU, DocumentList, DocumentView, PassageView, SentenceVectorView

__all__ = ["FORMAT", "MilvusStore", "passage_row_id"]

#: Rows per insert call: ~1,000 passages with their JSON (text + terms, ~6 KB each) and vector
#: are ~7 MB, well under gRPC's 64 MB message limit, and few enough round trips.
BATCH_ROWS = 1000
#: Ids per query by id (Milvus caps a query's result at 16,384 rows; sentence rows are ~5 per passage).
ID_QUERY = 1000
#: Characters per piece of a document's text: 16,000 characters of Vietnamese are at most
#: 48,000 UTF-8 bytes, under Milvus' 65,535-byte VARCHAR limit.
TEXT_PART = 16_000
#: Sentences fetched per passage wanted by the sentence search (as qa.retrieval.dense.SENTENCE_HITS).
SENTENCE_HITS = 4
#: Bounded caches: passages (without terms, ~2 KB), documents without text, sentence matrices
#: (~4 KB), term document frequencies. A question touches ~100-150 passages.
PASSAGE_CACHE, DOCUMENT_CACHE, SENTENCE_CACHE, DF_CACHE = 8192, 8192, 4096, 65536
#: Seconds the passage count behind the IDF weights is reused (BM25 statistics move slowly).
STATS_TTL = 60.0
#: How terms are written to the BM25 field (embeddings.stores.milvus_features.encode_term).
TERM_ENCODING = "term-blake2b64-b32"
#: Candidates per wanted passage that the BM25 function ranks before they are scored exactly.
BM25_OVERFETCH = 4
_DEFAULT_INDEX = {"index_type": "FLAT", "params": {}}
_MAX_LIMIT = 16384


def _hash_id(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "big") >> 1


def passage_row_id(doc_id: str, chunk_index: int) -> int:
    """The passage id of chunk ``chunk_index`` of document ``doc_id`` (63-bit, stable)."""
    return _hash_id(f"{doc_id}\x00{chunk_index}")


def _sentence_row_id(doc_id: str, chunk_index: int, pos: int) -> int:
    return _hash_id(f"{doc_id}\x00{chunk_index}\x00{pos}")


def _chunks(items: list, n: int = ID_QUERY) -> Iterator[list]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


class MilvusStore(VectorStore):
    """Passages, documents and vectors in Milvus collections (see the module docstring)."""

    in_memory = False

    def __init__(self, client: RetryingClient, uri: str, collection: str, manifest: dict):
        self._client = client
        self.path = uri  # where the store is, for messages (not None: the pipeline commits)
        self.uri = uri
        self.collection = collection
        self.manifest = {k: v for k, v in manifest.items() if k != "documents"}
        self.manifest["documents"] = DocumentList(self)
        self.lexical_path = manifest["lexical"]["path"]
        self.passages = PassageView(self)
        self.documents = DocumentView(self)
        self.sentence_vectors = SentenceVectorView(self)
        self._pending: dict[str, list[dict]] = {}
        self._pending_docs: set[str] = set()
        self._dirty = False
        self._version = 0
        self._passage_cache = LRU(PASSAGE_CACHE)
        self._doc_cache = LRU(DOCUMENT_CACHE)  # complete documents, without their text
        self._sentence_cache = LRU(SENTENCE_CACHE)
        self._df_cache = LRU(DF_CACHE)  # term -> (passages when counted, df)
        self._n_cache: tuple[float, int] | None = None
        #: Set by a delete until the next write: on a 2.3.5 server a "Session" read does not see this
        #: client's own deletes (measured: it reads at the client's last insert), a "Strong" one does
        self._deleted = False
        self._candidates = CandidateBM25(client, collection, k1=BM25_K1, b=BM25_B, df=self._dfs,
                                         terms_field="terms" if self.lexical_path == "fallback" else "extra")

    @property
    def _level(self) -> str:
        """The consistency of reads now (docs: embeddings/stores/milvus_schema.py)."""
        return "Strong" if self._deleted else READ_CONSISTENCY

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
    def exists(cls, uri: str, collection: str, *, retry_s: float = RETRY_S) -> bool:
        client = connect(uri, retry_s)
        try:
            return cls._read_manifest(client, uri, collection) is not None
        finally:
            release(client, uri)

    @classmethod
    def open_or_create(cls, uri: str, *, collection: str, model: str, fingerprint: str,
                       probe: Sequence[float], dim: int, chunking: dict, index: dict | None = None,
                       lexical: str | None = None, retry_s: float = RETRY_S) -> MilvusStore:
        """Open the store at ``uri``/``collection``, creating its collections if absent.

        ``index``: the passage-vector index as ``{"index_type": ..., "params": {...}}`` when the
        collection is created; default FLAT (exact, as the FAISS default). ``lexical``: the BM25
        path (``"milvus-bm25"`` or ``"fallback"``); default: what the server supports.
        ``retry_s``: seconds a call rides out an unreachable or restarting server.
        """
        client = connect(uri, retry_s)
        try:
            manifest = cls._read_manifest(client, uri, collection)
            if manifest is None:
                features = detect(client)
                manifest = {
                    "format_version": FORMAT, "created": time.time(), "backend": "milvus",
                    "model": {"name": model, "fingerprint": fingerprint, "probe": [float(x) for x in probe],
                              "dim": dim},
                    "chunking": dict(chunking), "index": index or _DEFAULT_INDEX,
                    "lexical": {"path": lexical or features.lexical_path, "encoding": TERM_ENCODING,
                                "k1": BM25_K1, "b": BM25_B},
                    "server": features.version,
                }
                create_collections(client, collection, dim, manifest["index"], manifest["lexical"]["path"])
                client.upsert(collection + "_meta", [{"key": "manifest", "vector": PLACEHOLDER, "value": manifest}])
        except BaseException:
            release(client, uri)
            raise
        return cls(client, uri, collection, manifest)

    @classmethod
    def open(cls, uri: str, collection: str, *, retry_s: float = RETRY_S) -> MilvusStore:
        """Open an existing store (FileNotFoundError when there is none). Reads the manifest only."""
        client = connect(uri, retry_s)
        try:
            manifest = cls._read_manifest(client, uri, collection)
        except BaseException:
            release(client, uri)
            raise
        if manifest is None:
            release(client, uri)
            raise FileNotFoundError(f"no Milvus store {collection!r} at {uri}; build one with "
                                    "`python -m qa index` and vector_store_uri set")
        return cls(client, uri, collection, manifest)

    @staticmethod
    def _ensure_loaded(client: RetryingClient, collection: str) -> None:
        """Load the collections into the query nodes (a Milvus Lite file opened by a new process
        has them released; a restarted server loads them itself, soon)."""
        for name in (collection + s for s in SUFFIXES):
            if not client.has_collection(name):
                continue  # an interrupted create: open_or_create makes the missing ones
            state = client.get_load_state(name).get("state")
            if str(state).rsplit(".", 1)[-1] != "Loaded":
                client.load_collection(name)

    @classmethod
    def _read_manifest(cls, client: RetryingClient, uri: str, collection: str) -> dict | None:
        """The manifest (None: no store there); IndexMismatchError for another layout version."""
        meta = collection + "_meta"
        if not client.has_collection(meta):
            return None
        cls._ensure_loaded(client, collection)
        rows = client.query(meta, ids=["manifest"], output_fields=["value"], consistency_level="Strong")
        if not rows:
            return None
        manifest = rows[0]["value"]
        if manifest.get("format_version") != FORMAT:
            older = (manifest.get("format_version") or 0) < FORMAT
            raise IndexMismatchError(
                f"the Milvus store {collection!r} at {uri} has layout {manifest.get('format_version')}, this "
                f"version reads layout {FORMAT}"
                + (" (layout 1 loaded every passage into each process and has no lexical field). Build it "
                   "again under another collection name (`python -m qa index --store URI --collection NEW "
                   "PATH...`), then drop the old one" if older else "; use the newer vnnews-qa that wrote it"))
        return manifest

    def close(self) -> None:
        """Write pending rows and release the connection."""
        if self._client is not None:
            self.write()
            release(self._client, self.uri)
            self._client = None

    # ------------------------------------------------------------------ mutation
    def add(self, document: Document, chunks: Sequence[Chunk], vectors: np.ndarray,
            extras: Sequence[dict] | None = None,
            sentence_vectors: Sequence[np.ndarray] | None = None) -> list[int]:
        """Add one document's passages (buffered; written by :meth:`write` / :meth:`commit` or
        every :data:`BATCH_ROWS` rows). A document already present is left as it is.
        ``extras[i]["terms"]`` (the lexical terms) feed the BM25 field."""
        if document.id in self._pending_docs or self.has_documents([document.id]):
            return []
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(chunks), self.dim):
            raise ValueError(f"expected {len(chunks)} vectors of dim {self.dim}, got {vectors.shape}")
        ids = [passage_row_id(document.id, c.index) for c in chunks]
        if len(set(ids)) != len(ids):
            raise ValueError(f"document {document.id!r}: passage ids collide (repeated chunk index?)")
        if sentence_vectors is not None:
            sentence_vectors = [np.asarray(sv, dtype=np.float16) for sv in sentence_vectors]
            for i, (chunk, sv) in enumerate(zip(chunks, sentence_vectors)):
                if sv.shape != (len(chunk.sentences), self.dim):
                    raise ValueError(f"chunk {i}: expected {len(chunk.sentences)} sentence vectors, got {sv.shape}")
        where = {"doc_id": document.id, "source": document.source or "", "date": document.date or ""}
        rows, sent_rows = [], []
        for i, (pid, chunk) in enumerate(zip(ids, chunks)):
            extra = dict(extras[i]) if extras is not None else {}
            row = dict(where, id=pid, vector=vectors[i].tolist(), extra=extra,
                       data={"index": chunk.index, "start": chunk.start, "end": chunk.end, "text": chunk.text,
                             "sentences": [list(s) for s in chunk.sentences], "n_tokens": chunk.n_tokens})
            terms = extra.get("terms") or []
            if self.lexical_path == "milvus-bm25":
                row["bm25_text"] = bm25_text(terms)
            else:
                row["terms"] = fallback_terms(terms)
            rows.append(row)
            if sentence_vectors is not None:
                for pos, v in enumerate(sentence_vectors[i]):
                    sent_rows.append(dict(where, id=_sentence_row_id(document.id, chunk.index, pos),
                                          vector=v.astype(np.float32).tolist(), passage_id=pid, pos=pos))
        text = document.text
        doc_row = {"id": document.id, "key": _hash_id(document.id), "vector": PLACEHOLDER,
                   "data": dict({k: v for k, v in document.to_dict().items() if k not in ("id", "text")},
                                added_ns=time.time_ns(), passages=len(chunks)),
                   "text_parts": [text[i:i + TEXT_PART] for i in range(0, len(text), TEXT_PART)] or [""]}
        self._queue(self.collection, rows)
        self._queue(self._sentences, sent_rows)
        self._queue(self._documents, [doc_row])  # written after its passages: the commit marker
        self._pending_docs.add(document.id)
        self._changed()
        if sum(len(v) for v in self._pending.values()) >= BATCH_ROWS:
            self.write()
        return ids

    def _queue(self, collection: str, rows: list[dict]) -> None:
        if rows:
            self._pending.setdefault(collection, []).extend(rows)

    def _changed(self) -> None:
        self._dirty = True
        self._version += 1
        self._n_cache = None

    def write(self, *, before_documents: Callable[[], None] | None = None) -> None:
        """Write the buffered rows without flushing: passages and sentences first, then the
        document rows that make them visible (acknowledged upserts are durable: the server's
        write-ahead log). ``before_documents()`` is called in between (fault-injection tests)."""
        if not self._pending:
            return
        for name in (self.collection, self._sentences):
            rows = self._pending.pop(name, [])
            for part in _chunks(rows, BATCH_ROWS):
                self._client.upsert(name, part)
        if before_documents is not None:
            before_documents()
        for part in _chunks(self._pending.pop(self._documents, []), BATCH_ROWS):
            self._client.upsert(self._documents, part)
        self._pending_docs.clear()
        self._deleted = False  # the session timestamp is past the deletes now

    def remove(self, doc_id: str) -> int:
        self.write()
        if not self.has_documents([doc_id]):
            raise KeyError(f"no document with id {doc_id!r} in the store")
        expr = f"doc_id == {quote(doc_id)}"
        n = self._count(self.collection, expr)
        self._client.delete(self._documents, ids=[doc_id])  # first: the passages stop counting
        self._client.delete(self.collection, filter=expr)
        self._client.delete(self._sentences, filter=expr)
        self._deleted = True
        self._doc_cache.pop(doc_id)
        self._passage_cache.drop_if(lambda p: p.doc_id == doc_id)
        self._sentence_cache.drop_if(lambda v: v[0] == doc_id)
        self._changed()
        return n

    def commit(self) -> bool:
        """Write buffered rows and flush the collections (Milvus persists them itself)."""
        if not self._dirty and not self._pending:
            return False
        self.flush()
        return True

    def flush(self) -> None:
        """Write buffered rows and seal them into segments, whoever wrote them (an ingestion's
        driver flushes once, after its workers have written)."""
        self.write()
        for name in (self.collection, self._sentences, self._documents):
            self._client.flush(name)
        self._dirty = False

    # ------------------------------------------------------------------ reads by id
    def _count(self, collection: str, expr: str = "") -> int:
        rows = self._client.query(collection, filter=expr, output_fields=["count(*)"],
                                  consistency_level=self._level)
        return int(rows[0]["count(*)"]) if rows else 0

    def count_passages(self) -> int:
        """Passage rows (a document being written counts once its passages are)."""
        self.write()
        return self._count(self.collection)

    def count_documents(self) -> int:
        self.write()
        return self._count(self._documents)

    def __len__(self) -> int:
        return self.count_passages()

    def __contains__(self, doc_id: str) -> bool:
        return bool(self.has_documents([doc_id]))

    def has_documents(self, doc_ids: Iterable[str]) -> set[str]:
        """Documents added here and not written yet count; the others are asked of Milvus each
        time (a writer deciding what to skip must not trust a cache)."""
        doc_ids = list(dict.fromkeys(doc_ids))
        pending = {d for d in doc_ids if d in self._pending_docs}
        return pending | set(self._fetch_documents([d for d in doc_ids if d not in pending]))

    def _fetch_documents(self, doc_ids: list[str], text: bool = False) -> dict[str, Document]:
        out = {}
        fields = ["id", "data"] + (["text_parts"] if text else [])
        for part in _chunks(doc_ids):
            for r in self._client.query(self._documents, ids=part, output_fields=fields,
                                        consistency_level=self._level):
                d = dict(r["data"], id=r["id"], text="".join(r.get("text_parts") or []))
                d.pop("added_ns", None)
                d.pop("passages", None)
                doc = Document.from_dict(d)
                out[r["id"]] = doc
                self._doc_cache.put(r["id"], dataclasses.replace(doc, text="") if text else doc)
        return out

    def _committed(self, doc_ids: Iterable[str]) -> dict[str, Document]:
        """The complete documents among ``doc_ids`` (no text), from the cache where it can."""
        out, missing = {}, []
        for d in dict.fromkeys(doc_ids):
            doc = self._doc_cache.get(d)
            if doc is None:
                missing.append(d)
            else:
                out[d] = doc
        if missing:
            out.update(self._fetch_documents(missing))
        return out

    def get_documents(self, doc_ids: Iterable[str], *, text: bool = True) -> dict[str, Document]:
        self.write()
        doc_ids = list(dict.fromkeys(doc_ids))
        got = self._fetch_documents(doc_ids, text=True) if text else self._committed(doc_ids)
        return {d: got[d] for d in doc_ids if d in got}

    def get_passages(self, ids: Iterable[int], *, extra: bool = True) -> dict[int, StoredPassage]:
        self.write()
        ids = [int(i) for i in ids]
        out: dict[int, StoredPassage] = {}
        missing = []
        for i in dict.fromkeys(ids):
            p = None if extra else self._passage_cache.get(i)
            if p is None:
                missing.append(i)
            else:
                out[i] = p
        fields = ["id", "doc_id", "data"] + (["extra"] if extra else [])
        rows = [r for part in _chunks(missing) for r in self._client.query(
            self.collection, ids=part, output_fields=fields, consistency_level=self._level)]
        committed = self._committed({r["doc_id"] for r in rows})
        for r in rows:
            if r["doc_id"] not in committed:
                continue  # its document row is not written yet (or deleted): not committed
            p = self._passage(r)
            out[p.id] = p
            self._passage_cache.put(p.id, dataclasses.replace(p, extra={}) if extra else p)
        return {i: out[i] for i in dict.fromkeys(ids) if i in out}

    @staticmethod
    def _passage(row: dict) -> StoredPassage:
        data = row["data"]
        return StoredPassage(id=int(row["id"]), doc_id=row["doc_id"], index=data["index"], start=data["start"],
                             end=data["end"], text=data["text"], sentences=[tuple(s) for s in data["sentences"]],
                             n_tokens=data["n_tokens"], extra=row.get("extra") or {})

    def get_sentence_vectors(self, ids: Iterable[int]) -> dict[int, np.ndarray]:
        self.write()
        ids = list(dict.fromkeys(int(i) for i in ids))
        out = {}
        missing = []
        for i in ids:
            hit = self._sentence_cache.get(i)  # (doc_id, matrix)
            if hit is None:
                missing.append(i)
            else:
                out[i] = hit[1]
        passages = self.get_passages(missing, extra=False) if missing else {}
        wanted = [i for i in missing if i in passages and passages[i].sentences]
        by_passage: dict[int, list] = {}
        for part in _chunks(wanted, _MAX_LIMIT // 32):  # passages hold ~5 sentences (at most ~30)
            rows = self._client.query(self._sentences, filter=f"passage_id in [{', '.join(map(str, part))}]",
                                      output_fields=["passage_id", "pos", "vector"], limit=_MAX_LIMIT,
                                      consistency_level=self._level)
            for r in rows:
                by_passage.setdefault(int(r["passage_id"]), []).append((r["pos"], r["vector"]))
        for pid, rows in by_passage.items():
            if len(rows) == len(passages[pid].sentences):  # else: written partly, or by an older writer
                rows.sort(key=lambda r: r[0])
                out[pid] = np.asarray([v for _, v in rows], dtype=np.float16)
                self._sentence_cache.put(pid, (passages[pid].doc_id, out[pid]))
        return {i: out[i] for i in ids if i in out}

    # ------------------------------------------------------------------ scans (listings, copies, tests)
    def scan_documents(self, *, text: bool = False, as_documents: bool = False) -> list:
        """Every complete document in the order added: listing dicts (id, title, source, url,
        date, path, passages) or, ``as_documents``, :class:`Document` objects."""
        self.write()
        fields = ["id", "data"] + (["text_parts"] if text else [])
        rows = sorted(scan(self._client, self._documents, fields, key="key", consistency_level=self._level),
                      key=lambda r: r["data"].get("added_ns", 0))
        if not as_documents:
            return [{"id": r["id"], "title": r["data"].get("title", ""), "source": r["data"].get("source", ""),
                     "url": r["data"].get("url", ""), "date": r["data"].get("date", ""),
                     "path": r["data"].get("path", ""), "passages": r["data"].get("passages", 0)} for r in rows]
        out = []
        for r in rows:
            d = dict(r["data"], id=r["id"], text="".join(r.get("text_parts") or []))
            d.pop("added_ns", None)
            d.pop("passages", None)
            out.append(Document.from_dict(d))
        return out

    def scan_passages(self, *, extra: bool = True, expr: str = "") -> list[StoredPassage]:
        """Every committed passage (passing ``expr``), in document order as the FAISS store keeps them."""
        rank = {d["id"]: i for i, d in enumerate(self.scan_documents())}
        fields = ["id", "doc_id", "data"] + (["extra"] if extra else [])
        passages = [self._passage(r) for r in scan(self._client, self.collection, fields, filter=expr,
                                                          consistency_level=self._level)
                    if r["doc_id"] in rank]
        return sorted(passages, key=lambda p: (rank[p.doc_id], p.index))

    def scan_sentence_owners(self) -> list[int]:
        """Ids of the committed passages that have all their sentence vectors."""
        counts = Counter(int(r["passage_id"]) for r in scan(self._client, self._sentences, ["passage_id"],
                                                                   consistency_level=self._level))
        return [p.id for p in self.scan_passages(extra=False) if p.sentences and counts.get(p.id) == len(p.sentences)]

    def filter_ids(self, flt: PassageFilter | None) -> set[int] | None:
        """Ids of the passages passing ``flt`` (a scan: tests and tools; retrieval filters in Milvus)."""
        if flt is None or flt.empty:
            return None
        return {p.id for p in self.scan_passages(extra=False, expr=filter_expression(flt))}

    # ------------------------------------------------------------------ search
    def search(self, query_vectors: np.ndarray, k: int,
               filter: PassageFilter | None = None) -> list[list[tuple[int, float]]]:
        q = np.ascontiguousarray(np.atleast_2d(query_vectors), dtype=np.float32)
        if k < 1:
            return [[] for _ in range(len(q))]
        self.write()
        hits = self._client.search(self.collection, data=[v.tolist() for v in q], limit=min(k, _MAX_LIMIT),
                                   filter=filter_expression(filter), output_fields=["doc_id"],
                                   search_params={"metric_type": "IP"}, consistency_level=self._level)
        committed = self._committed({h["entity"]["doc_id"] for row in hits for h in row})
        return [[(int(h["id"]), float(h["distance"])) for h in row if h["entity"]["doc_id"] in committed]
                for row in hits]

    def vectors(self, ids: Iterable[int]) -> np.ndarray:
        ids = [int(i) for i in ids]
        if not ids:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.write()
        got = {int(r["id"]): r["vector"] for part in _chunks(list(dict.fromkeys(ids)))
               for r in self._client.query(self.collection, ids=part, output_fields=["id", "vector"],
                                           consistency_level=self._level)}
        missing = [i for i in ids if i not in got]
        if missing:
            raise KeyError(f"passage ids not in the Milvus store: {missing[:5]}")
        return np.asarray([got[i] for i in ids], dtype=np.float32)

    def search_sentences(self, query_vector: np.ndarray, k: int,
                         filter: PassageFilter | None = None) -> list[tuple[int, float]]:
        """One search of ``<name>_sentences`` for :data:`SENTENCE_HITS` x ``k`` sentences (more
        when they hold fewer than ``k`` passages), grouped by passage, the filter inside Milvus."""
        if k < 1:
            return []
        self.write()
        q = np.asarray(query_vector, dtype=np.float32).ravel().tolist()
        expr = filter_expression(filter)
        limit = min(_MAX_LIMIT, SENTENCE_HITS * k)
        while True:
            hits = self._client.search(self._sentences, data=[q], limit=limit, filter=expr,
                                       output_fields=["passage_id", "doc_id"], search_params={"metric_type": "IP"},
                                       consistency_level=self._level)[0]
            committed = self._committed({h["entity"]["doc_id"] for h in hits})
            out: dict[int, float] = {}
            for h in hits:
                pid = int(h["entity"]["passage_id"])
                if pid not in out and h["entity"]["doc_id"] in committed:
                    out[pid] = float(h["distance"])
            if len(out) >= k or len(hits) < limit or limit >= _MAX_LIMIT:
                return list(out.items())[:k]
            limit = min(_MAX_LIMIT, limit * 4)

    def lexical_search(self, terms: Sequence[str], k: int,
                       filter: PassageFilter | None = None) -> list[tuple[int, float]]:
        """BM25 in Milvus (the collection's lexical path), scores on bm25s's scale."""
        if not terms or k < 1:
            return []
        self.write()
        expr = filter_expression(filter)
        self._candidates.consistency_level = self._level
        if self.lexical_path == "milvus-bm25":
            # Milvus ranks the candidates; their scores are recomputed with collection-wide
            # statistics (Milvus Lite's are per segment: two passages with the same counts scored
            # 3.53 and 0.01 in two segments), so both paths and FAISS score alike
            found = search_bm25(self._client, self.collection, list(terms), min(_MAX_LIMIT, max(BM25_OVERFETCH * k, 200)),
                                k1=BM25_K1, filter=expr, consistency_level=self._level)
            hits = self._candidates.rescore(list(terms), [pid for pid, _, _ in found], k)
        else:
            hits = self._candidates.search(list(terms), k, filter=expr)
        committed = self._committed({d for _, _, d in hits})
        return [(pid, s) for pid, s, d in hits if d in committed][:k]

    def _n_for_idf(self) -> int:
        now = time.monotonic()
        if self._n_cache is None or now - self._n_cache[0] > STATS_TTL:
            self._n_cache = (now, self.count_passages())
        return self._n_cache[1]

    def _dfs(self, terms: Iterable[str]) -> dict[str, int]:
        n = self._n_for_idf()
        out, todo = {}, []
        for t in dict.fromkeys(terms):
            hit = self._df_cache.get(t)
            if hit is None or hit[0] != n:
                todo.append(t)
            else:
                out[t] = hit[1]
        if todo:
            self._candidates.consistency_level = self._level
            # the fallback's id scans also find the search's candidates; text_match counts scan
            # every row on Milvus Lite: the row sample first on either path
            found = (self._candidates.probe(todo) if self.lexical_path == "fallback"
                     else self._candidates.settle(todo, self.lexical_path))
            for t in todo:
                self._df_cache.put(t, (n, found[t]))
                out[t] = found[t]
        return out

    def document_frequencies(self, terms: Iterable[str]) -> tuple[int, dict[str, int]]:
        """(passages, {term: df}) of the terms not seen lately (cached): counted in parallel, on the
        fallback path by :meth:`CandidateBM25.probe` (whose candidate ids the search reuses)."""
        self.write()
        df = self._dfs(terms)
        return self._n_for_idf(), df
