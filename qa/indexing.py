"""Indexing: documents -> passages (chunked for the encoder) -> vectors, terms and sentence vectors
in the store, committed, and the retriever brought up to date.

:class:`Indexer` does it for one :class:`~qa.pipeline.Pipeline` (which delegates ``chunk``,
``add_documents``, ``add_paths``, ``remove`` and ``sync`` to it). Changes are made under the
retriever's write lock, one document at a time, so a question never sees half a document.

Nothing is reported as added unless it is committed: when a commit fails, the documents added
since the last good commit are taken out of memory again (a re-upload is then not a
"duplicate" of something the index on disk never got). Another writer's newer commit is merged
by the store when committing (:meth:`embeddings.stores.VectorStore.sync`). Embedding runs in
slices of :data:`EMBED_SLICE` texts, between which ``on_progress`` hears how far it got and
``should_stop`` may cancel (:class:`IndexingCancelled`; what was committed before stays).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from corpus.chunking import ChunkingConfig, chunk_document
from corpus.document import Chunk, Document
from embeddings.encoder import Encoder
from embeddings.stores import MergeReport, VectorStore

from .retrieval import Retriever
from .retrieval.lexical import passage_terms

__all__ = ["COMMIT_EVERY", "EMBED_GROUP", "EMBED_SLICE", "IndexReport", "Indexer", "IndexingCancelled", "Progress"]

#: Passages embedded between two commits when indexing many documents: a crash loses at most
#: this much work, and commits (which rewrite the metadata files) stay rare on big corpora.
COMMIT_EVERY = 2000
#: Passages whose texts (and sentences) go to the encoder in one call when indexing: one call
#: over many documents fills the encoder's batches, and sentence-transformers sorts each
#: call's texts by length, so short sentences and long passages are not padded together.
#: Measured (`python -m benchmarks ingest`): indexing then runs at the encoder's own rate on the
#: same texts (ratio 1.00), where one call per document ran at 0.83. 256 passages (~1,200
#: texts with their sentences) is ~40 batches of 32; the progress bar moves once per group.
EMBED_GROUP = 256
#: Texts per encoder call inside a group: how often progress is reported and a cancellation
#: is noticed (a few seconds of work on 2 cores). The group's texts are sorted by length first,
#: as sentence-transformers sorts one call's texts, so the batches (and vectors) are the same as
#: one call over the whole group; a multiple of the batch size (32).
EMBED_SLICE = 128

#: ``on_progress(stage, done, total)``: stage "chunking" (documents), "embedding" (texts: passages
#: and their sentences) or "saving" (done == total when committed).
Progress = Callable[[str, int, int], None]


class IndexingCancelled(Exception):
    """``should_stop`` said stop. ``report`` holds what was committed before (kept)."""

    def __init__(self, report: IndexReport):
        super().__init__(f"indexing cancelled; {len(report.added)} document(s) were committed before")
        self.report = report


@dataclass
class IndexReport:
    """What :meth:`Pipeline.add_documents` did."""

    added: list[str] = field(default_factory=list)  # document ids
    skipped: list[str] = field(default_factory=list)  # already in the index
    passages: int = 0
    seconds: float = 0.0
    #: seconds per stage: chunk, embed (passages and their sentences), terms, store (index add +
    #: commits), refresh (the retriever updating BM25 and the sentence search)
    timings: dict[str, float] = field(default_factory=dict)


class Indexer:
    """Adds and removes documents of one store, keeping the retriever in step."""

    def __init__(self, encoder: Encoder, index: VectorStore, retriever: Retriever, chunking: ChunkingConfig):
        self.encoder = encoder
        self.index = index
        self.retriever = retriever
        self.chunking = chunking
        self._lock = threading.Lock()  # one writer at a time

    def chunk(self, doc: Document) -> list[Chunk]:
        """The passages of one document, sized for this encoder."""
        return chunk_document(doc, self.encoder.count_tokens, self.chunking,
                              reserved_tokens=self.encoder.passage_overhead(doc.title))

    def add_documents(self, docs: Iterable[Document], *, progress: bool = False, commit: bool = True,
                      on_progress: Progress | None = None,
                      should_stop: Callable[[], bool] | None = None) -> IndexReport:
        """Chunk, embed and add documents not yet in the index (re-adding is a no-op).

        ``on_progress`` / ``should_stop``: see the module docstring. With ``commit`` (and a store
        on disk), the report lists only committed documents: a failed commit takes the uncommitted
        ones out of memory again and raises."""
        t0 = time.perf_counter()
        report = IndexReport()
        todo = self._new_documents(docs, report)
        if not todo:
            report.seconds = time.perf_counter() - t0
            return report
        from tqdm.auto import tqdm

        tm = report.timings = dict.fromkeys(("chunk", "embed", "terms", "store", "refresh"), 0.0)
        chunked = []
        for i, d in enumerate(tqdm(todo, desc="chunking", unit="doc", disable=not progress)):
            chunked.append((d, self.chunk(d)))
            if on_progress is not None:
                on_progress("chunking", i + 1, len(todo))
        tm["chunk"] = time.perf_counter() - t0
        return self._add_chunked(chunked, report, progress=progress, commit=commit,
                                 on_progress=on_progress, should_stop=should_stop, t0=t0)

    def _new_documents(self, docs: Iterable[Document], report: IndexReport) -> list[Document]:
        todo: list[Document] = []
        seen: set[str] = set()
        for d in docs:
            if d.id in self.index or d.id in seen:
                report.skipped.append(d.id)
            else:
                seen.add(d.id)
                todo.append(d)
        return todo

    def add_chunked(self, chunked: Sequence[tuple[Document, list[Chunk]]], *, progress: bool = False,
                    commit: bool = True, on_progress: Progress | None = None,
                    should_stop: Callable[[], bool] | None = None) -> IndexReport:
        """:meth:`add_documents` for documents already chunked (:meth:`chunk`), e.g. to check the
        size of an upload before embedding it."""
        t0 = time.perf_counter()
        report = IndexReport()
        keep = {d.id for d in self._new_documents([d for d, _ in chunked], report)}
        todo = [(d, c) for d, c in chunked if d.id in keep and not keep.discard(d.id)]
        report.timings = dict.fromkeys(("chunk", "embed", "terms", "store", "refresh"), 0.0)
        return self._add_chunked(todo, report, progress=progress, commit=commit, on_progress=on_progress,
                                 should_stop=should_stop, t0=t0)

    def _add_chunked(self, chunked: list[tuple[Document, list[Chunk]]], report: IndexReport, *, progress: bool,
                     commit: bool, on_progress: Progress | None, should_stop: Callable[[], bool] | None,
                     t0: float) -> IndexReport:
        from tqdm.auto import tqdm

        if not chunked:
            report.seconds = time.perf_counter() - t0
            return report
        tm = report.timings
        total = sum(len(c) for _, c in chunked)
        bar = tqdm(total=total, desc="embedding", unit="passage", disable=not progress)
        groups: list[list] = [[]]
        for doc, chunks in chunked:
            if sum(len(c) for _, c in groups[-1]) >= EMBED_GROUP:
                groups.append([])
            groups[-1].append((doc, chunks))
        texts_total = sum(len(c) + len({s for ch in c for s in ch.sentences}) for _, c in chunked)
        done = [0]

        def tick(n: int) -> None:
            done[0] += n
            if on_progress is not None:
                on_progress("embedding", done[0], texts_total)

        persist = commit and self.index.path is not None
        pending: list[str] = []  # added, not yet committed
        since_commit = 0
        with self._lock:
            try:
                for group in groups:
                    embedded = self._embed_group(group, tm, tick=tick, should_stop=should_stop)
                    t = time.perf_counter()
                    for (doc, chunks), (vectors, extras, sentence_vectors) in zip(group, embedded):
                        with self.retriever.writing():  # questions never see half a document
                            self.index.add(doc, chunks, vectors, extras, sentence_vectors)
                        pending.append(doc.id)
                        report.passages += len(chunks)
                        bar.update(len(chunks))
                        since_commit += len(chunks)
                        if persist and since_commit >= COMMIT_EVERY:
                            self._commit(pending, report, on_progress)
                            since_commit = 0
                    tm["store"] += time.perf_counter() - t
                t = time.perf_counter()
                if persist:
                    self._commit(pending, report, on_progress)
                else:
                    report.added += pending
                    pending = []
                tm["store"] += time.perf_counter() - t
            except BaseException as exc:
                self._roll_back(pending)
                if isinstance(exc, IndexingCancelled):
                    exc.report = report
                raise
            finally:
                bar.close()
                t = time.perf_counter()
                with self.retriever.writing():
                    self.retriever.refresh()
                tm["refresh"] += time.perf_counter() - t
        report.seconds = time.perf_counter() - t0
        return report

    def _commit(self, pending: list[str], report: IndexReport, on_progress: Progress | None) -> None:
        """Commit; the pending documents count as added only once it succeeded."""
        if on_progress is not None:
            on_progress("saving", 0, 1)
        self.index.commit()
        report.added += pending
        pending.clear()
        if on_progress is not None:
            on_progress("saving", 1, 1)

    def _roll_back(self, pending: list[str]) -> None:
        """Take documents that were added but never committed out of memory again."""
        with self.retriever.writing():
            for doc_id in pending:
                if doc_id in self.index:
                    self.index.remove(doc_id)
        pending.clear()

    def sync(self) -> MergeReport:
        """Take in what another process committed to the index since (see
        :meth:`embeddings.stores.VectorStore.sync`); questions meanwhile see the index as it was."""
        with self._lock:
            return self.index.sync()

    def _embed_group(self, group: list, tm: dict[str, float], *, tick: Callable[[int], None] | None = None,
                     should_stop: Callable[[], bool] | None = None) -> list[tuple]:
        """(passage vectors, lexical extras, sentence vectors) of each (document, chunks) of
        ``group``, from the encoder over all their passage and sentence texts (in slices, see
        :data:`EMBED_SLICE`)."""
        t = time.perf_counter()
        texts, sentences, rows = [], [], []
        for doc, chunks in group:
            texts += [self.encoder.passage_input(doc.title, c.text) for c in chunks]
            spans = sorted({s for c in chunks for s in c.sentences})
            rows.append({span: len(sentences) + i for i, span in enumerate(spans)})
            sentences += [doc.text[a:b] for a, b in spans]
        vectors = self._encode(texts + sentences, tick, should_stop)
        t2 = time.perf_counter()
        tm["embed"] += t2 - t
        passage_vecs, sentence_vecs = vectors[:len(texts)], vectors[len(texts):]
        out, i = [], 0
        for (_, chunks), row in zip(group, rows):
            extras = [{"terms": passage_terms(texts[i + j], self.retriever.lexical.aliases)} for j in range(len(chunks))]
            out.append((passage_vecs[i:i + len(chunks)], extras,
                        [sentence_vecs[[row[s] for s in c.sentences]] for c in chunks]))
            i += len(chunks)
        tm["terms"] += time.perf_counter() - t2
        return out

    def _encode(self, texts: list[str], tick: Callable[[int], None] | None,
                should_stop: Callable[[], bool] | None) -> np.ndarray:
        """Vectors of ``texts`` (in order), encoded longest first in slices of :data:`EMBED_SLICE`."""
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.encoder.dim), dtype=np.float32)
        for a in range(0, len(order), EMBED_SLICE):
            if should_stop is not None and should_stop():
                raise IndexingCancelled(IndexReport())
            part = order[a:a + EMBED_SLICE]
            out[part] = self.encoder.encode_passages([texts[i] for i in part])
            if tick is not None:
                tick(len(part))
        return out

    def add_paths(self, paths: Sequence[str | Path], *, progress: bool = False) -> IndexReport:
        """Read files or folders (see :func:`corpus.read_path`) and add their documents."""
        from corpus import read_path

        docs: list[Document] = []
        for p in paths:
            docs.extend(read_path(p, progress=progress))
        return self.add_documents(docs, progress=progress)

    def remove(self, doc_id: str) -> int:
        """Remove a document by id and commit; returns the number of passages removed."""
        with self._lock:
            with self.retriever.writing():
                n = self.index.remove(doc_id)
                self.retriever.refresh()
            if self.index.path is not None:
                self.index.commit()
        return n
