"""Indexing: documents -> passages (chunked for the encoder) -> vectors, terms and sentence vectors
in the store, committed, and the retriever brought up to date.

:class:`Indexer` does it for one :class:`~qa.pipeline.Pipeline` (which delegates ``chunk``,
``add_documents``, ``add_paths`` and ``remove`` to it). Changes are made under the retriever's
write lock, one document at a time, so a question never sees half a document.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from corpus.chunking import ChunkingConfig, chunk_document
from corpus.document import Chunk, Document
from embeddings.encoder import Encoder
from embeddings.stores import VectorStore

from .retrieval import Retriever
from .retrieval.lexical import passage_terms

__all__ = ["COMMIT_EVERY", "EMBED_GROUP", "IndexReport", "Indexer"]

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

    def add_documents(self, docs: Iterable[Document], *, progress: bool = False, commit: bool = True) -> IndexReport:
        """Chunk, embed and add documents not yet in the index (re-adding is a no-op)."""
        t0 = time.perf_counter()
        report = IndexReport()
        todo: list[Document] = []
        seen: set[str] = set()
        for d in docs:
            if d.id in self.index or d.id in seen:
                report.skipped.append(d.id)
            else:
                seen.add(d.id)
                todo.append(d)
        if not todo:
            report.seconds = time.perf_counter() - t0
            return report
        from tqdm.auto import tqdm

        tm = report.timings = dict.fromkeys(("chunk", "embed", "terms", "store", "refresh"), 0.0)
        chunked = [(d, self.chunk(d)) for d in tqdm(todo, desc="chunking", unit="doc", disable=not progress)]
        tm["chunk"] = time.perf_counter() - t0
        total = sum(len(c) for _, c in chunked)
        bar = tqdm(total=total, desc="embedding", unit="passage", disable=not progress)
        since_commit = 0
        groups: list[list] = [[]]
        for doc, chunks in chunked:
            if sum(len(c) for _, c in groups[-1]) >= EMBED_GROUP:
                groups.append([])
            groups[-1].append((doc, chunks))
        with self._lock:
            for group in groups:
                embedded = self._embed_group(group, tm)
                t = time.perf_counter()
                for (doc, chunks), (vectors, extras, sentence_vectors) in zip(group, embedded):
                    with self.retriever.writing():  # questions never see half a document
                        self.index.add(doc, chunks, vectors, extras, sentence_vectors)
                    report.added.append(doc.id)
                    report.passages += len(chunks)
                    bar.update(len(chunks))
                    since_commit += len(chunks)
                    if commit and self.index.path is not None and since_commit >= COMMIT_EVERY:
                        self.index.commit()
                        since_commit = 0
                tm["store"] += time.perf_counter() - t
            t = time.perf_counter()
            if commit and self.index.path is not None:
                self.index.commit()
            tm["store"] += time.perf_counter() - t
            t = time.perf_counter()
            with self.retriever.writing():
                self.retriever.refresh()
            tm["refresh"] += time.perf_counter() - t
        bar.close()
        report.seconds = time.perf_counter() - t0
        return report

    def _embed_group(self, group: list, tm: dict[str, float]) -> list[tuple]:
        """(passage vectors, lexical extras, sentence vectors) of each (document, chunks) of
        ``group``, from one encode call over all their passage and sentence texts."""
        t = time.perf_counter()
        texts, sentences, rows = [], [], []
        for doc, chunks in group:
            texts += [self.encoder.passage_input(doc.title, c.text) for c in chunks]
            spans = sorted({s for c in chunks for s in c.sentences})
            rows.append({span: len(sentences) + i for i, span in enumerate(spans)})
            sentences += [doc.text[a:b] for a, b in spans]
        vectors = self.encoder.encode_passages(texts + sentences)
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
