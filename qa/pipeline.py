"""The pipeline: documents → passages → index, and question → passages → cited answer.

One :class:`Pipeline` owns the encoder, the index, the retriever and the answerer for one
index directory. :func:`default_pipeline` lazily builds the one that :func:`qa.ask` uses: the
index over the bundled articles in the user cache, created on first use.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from corpus.chunking import ChunkingConfig, chunk_document
from corpus.document import Document
from corpus.normalize import normalize_text
from embeddings.encoder import Encoder, load_encoder
from embeddings.vector_index import VectorIndex

from .answering import make_answerer
from .answering.citations import parse_markers
from .answering.extractive import NOT_FOUND
from .config import QAConfig
from .conversation import contextual_query, previous_quotes, validate_history
from .language import detect_language
from .retrieval import Query, Retriever
from .retrieval.lexical import passage_terms
from .types import Answer, Passage

__all__ = ["Pipeline", "IndexReport", "default_pipeline", "reset_default_pipeline"]

log = logging.getLogger(__name__)

#: Passages embedded between two commits when indexing many documents: a crash loses at most
#: this much work, and commits (which rewrite the metadata files) stay rare on big corpora.
COMMIT_EVERY = 2000


@dataclass
class IndexReport:
    """What :meth:`Pipeline.add_documents` did."""

    added: list[str] = field(default_factory=list)  # document ids
    skipped: list[str] = field(default_factory=list)  # already in the index
    passages: int = 0
    seconds: float = 0.0


class Pipeline:
    """Indexing and question answering over one index."""

    def __init__(self, config: QAConfig | None = None, *, encoder: Encoder | None = None,
                 index: VectorIndex | None = None, in_memory: bool = False):
        self.config = config or QAConfig()
        self.encoder = encoder or load_encoder(
            self.config.embedding_model, device=self.config.device, batch_size=self.config.batch_size,
            query_prompt=self.config.query_prompt, passage_prompt=self.config.passage_prompt)
        self.chunking = ChunkingConfig(
            max_tokens=min(self.config.chunk_tokens, self.encoder.max_tokens),
            overlap_tokens=self.config.chunk_overlap_tokens)
        chunking = {"max_tokens": self.chunking.max_tokens, "overlap_tokens": self.chunking.overlap_tokens}
        if index is None:
            path = None if in_memory else self.config.resolved_index_dir
            if path is not None and VectorIndex.exists(path):
                index = VectorIndex.open(path)
            else:
                index = VectorIndex.create(path, model=self.encoder.name, fingerprint=self.encoder.fingerprint,
                                           probe=self.encoder.probe_vector, dim=self.encoder.dim,
                                           chunking=chunking)
        index.check_compatible(model=self.encoder.name, dim=self.encoder.dim,
                               probe_matches=self.encoder.same_model_as(index.manifest["model"]["probe"]),
                               chunking=chunking)
        self.index = index
        self.retriever = Retriever(index, method=self.config.retrieval, candidates=self.config.candidates)
        self.answerer = make_answerer(self.config, self.encoder, self.retriever.lexical, index)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ indexing
    def chunk(self, doc: Document):
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

        chunked = [(d, self.chunk(d)) for d in tqdm(todo, desc="chunking", unit="doc", disable=not progress)]
        total = sum(len(c) for _, c in chunked)
        bar = tqdm(total=total, desc="embedding", unit="passage", disable=not progress)
        since_commit = 0
        with self._lock:
            for doc, chunks in chunked:
                texts = [self.encoder.passage_input(doc.title, c.text) for c in chunks]
                vectors = self.encoder.encode_passages(texts)
                extras = [{"terms": passage_terms(t, self.retriever.lexical.aliases)} for t in texts]
                self.index.add(doc, chunks, vectors, extras, self._sentence_vectors(doc, chunks))
                report.added.append(doc.id)
                report.passages += len(chunks)
                bar.update(len(chunks))
                since_commit += len(chunks)
                if commit and self.index.path is not None and since_commit >= COMMIT_EVERY:
                    self.index.commit()
                    since_commit = 0
            if commit and self.index.path is not None:
                self.index.commit()
        bar.close()
        self.retriever.refresh()
        report.seconds = time.perf_counter() - t0
        return report

    def _sentence_vectors(self, doc: Document, chunks) -> list:
        """One vector per sentence of each chunk; sentences shared by overlapping chunks are
        embedded once. Stored with the index so that rescoring and answer selection need no
        embedding at question time."""
        spans = sorted({s for c in chunks for s in c.sentences})
        if not spans:
            return [self.encoder.encode_passages([])[:0] for _ in chunks]
        vecs = self.encoder.encode_passages([doc.text[a:b] for a, b in spans])
        row = {span: i for i, span in enumerate(spans)}
        return [vecs[[row[s] for s in c.sentences]] for c in chunks]

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
            n = self.index.remove(doc_id)
            if self.index.path is not None:
                self.index.commit()
        self.retriever.refresh()
        return n

    # ------------------------------------------------------------------ answering
    def query(self, question: str) -> Query:
        """Normalize, detect the language and embed a question."""
        if not isinstance(question, str) or not question.strip():
            raise ValueError("the question is empty")
        text = normalize_text(question.strip())
        q = Query(text=text, language=detect_language(text))
        q.vector = self.encoder.encode_queries([text])[0]
        return q

    def retrieve(self, question: str | Query, top_k: int | None = None) -> list[Passage]:
        """The best passages for a question."""
        q = question if isinstance(question, Query) else self.query(question)
        return self.retriever.run(q, top_k or self.config.top_k)

    def is_relevant(self, query: Query, passages: list[Passage]) -> bool:
        """Whether the retrieved passages can answer ``query`` at all (else the answer declines)."""
        return bool(passages) and max(p.scores.get("dense", p.score) for p in passages) >= self.config.min_relevance(query.language)

    def ask(self, question: str, *, top_k: int | None = None, history: Sequence[dict] | None = None) -> Answer:
        """Answer ``question`` with cited sentences from the indexed articles.

        ``history`` is the conversation so far as chat messages (``{"role": "user" |
        "assistant", "content": str}``, oldest first), for follow-up questions.
        """
        answer = None
        for answer in self.ask_stream(question, top_k=top_k, history=history):
            pass
        assert answer is not None
        return answer

    def ask_stream(self, question: str, *, top_k: int | None = None,
                   history: Sequence[dict] | None = None) -> Iterator[Answer]:
        """Like :meth:`ask`, but yields the answer as it grows: zero or more partial answers
        (``partial=True``, text so far) and then the final one (``partial=False``).

        Generative answers stream as the model writes (markers repaired on the fly); extractive
        answers, computed at once, are yielded sentence by sentence. With ``history``, a
        follow-up is retrieved with its conversation's context (:mod:`qa.conversation`).
        """
        if not isinstance(question, str) or not question.strip():
            raise ValueError("the question is empty")
        history = validate_history(history)
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        ctx = contextual_query(question.strip(), history, self._rewriter())
        q = self.query(ctx.text)
        if ctx.method != "none":  # the answer's language is the question's, not the carried words'
            q.language = detect_language(normalize_text(question.strip()))
        t1 = time.perf_counter()
        timings["embed_query"] = t1 - t0
        k = top_k or self.config.top_k
        passages = self.retriever.run(q, k + FOLLOWUP_EXTRA if ctx.method != "none" else k)
        if ctx.method != "none":
            passages = prefer_previous_document(passages, previous_quotes(history), k)
        t2 = time.perf_counter()
        timings["retrieve"] = t2 - t1
        if self.is_relevant(q, passages):
            stream = getattr(self.answerer, "stream", None)
            parts = stream(q, passages) if stream is not None else _sentence_stream(self.answerer.run(q, passages))
        else:
            parts = iter([Answer(question=q.text, text=NOT_FOUND[q.language], language=q.language, citations=[],
                                 passages=passages, timings={}, answerer=self.answerer.name, found=False)])
        retrieval_query = ctx.text if ctx.method != "none" else None
        for answer in parts:
            t3 = time.perf_counter()
            answer.question = question
            answer.retrieval_query = retrieval_query
            answer.timings = dict(timings, answer=t3 - t2, total=t3 - t0)
            yield answer

    def _rewriter(self):
        """The LLM rewrite of follow-ups, when a generator is configured and allowed to."""
        gen = getattr(self.answerer, "generator", None)
        if gen is None or not self.config.rewrite_followups:
            return None
        from .answering.backends import strip_reasoning
        from .answering.prompt import rewrite_messages

        def rewrite(question: str, history: list[dict]) -> str:
            lang = detect_language(normalize_text(question))
            return strip_reasoning(gen.generate(rewrite_messages(question, history, lang), REWRITE_MAX_TOKENS))

        return rewrite


#: Extra candidates retrieved for a follow-up, among which passages of the previous answer's
#: article are preferred (:func:`prefer_previous_document`).
FOLLOWUP_EXTRA = 5
#: Tokens for an LLM rewrite of a follow-up: one question.
REWRITE_MAX_TOKENS = 64


def prefer_previous_document(passages: list[Passage], quotes: list[str], k: int) -> list[Passage]:
    """The ``k`` passages to answer a follow-up from: those of the article the previous answer
    quoted come first (in retrieval order), then the rest. Without quotes found, the first ``k``."""
    docs = {p.doc_id for p in passages if any(qt in p.text for qt in quotes)}
    if not docs:
        return passages[:k]
    ordered = [p for p in passages if p.doc_id in docs] + [p for p in passages if p.doc_id not in docs]
    out = ordered[:k]
    for i, p in enumerate(out, 1):
        p.rank = i
    return out


def _sentence_stream(answer: Answer) -> Iterator[Answer]:
    """An answer computed at once, yielded sentence by sentence (each partial carries the
    citations its text shows), then whole."""
    from .answering.citations import split_claims

    claims = split_claims(answer.text) if answer.found else []
    if len(claims) > 1:
        for c in claims[:-1]:
            shown = answer.text[:c.end].strip()
            cited = {n for m in parse_markers(shown) for n in m.numbers}
            yield replace(answer, text=shown, citations=[x for x in answer.citations if x.n in cited],
                          claims=list(answer.claims), partial=True)
    yield answer


_default: Pipeline | None = None
_default_lock = threading.Lock()


def default_pipeline(config: QAConfig | None = None, *, progress: bool = False) -> Pipeline:
    """The lazily built pipeline over the bundled corpus (indexed on first use)."""
    global _default
    with _default_lock:
        if _default is None or (config is not None and config != _default.config):
            pipe = Pipeline(config)
            if pipe.config.index_dir is None:
                # The bundled-corpus index: add whatever bundled article it lacks (all of
                # them on first use; re-adding present ones is a no-op).
                from corpus import load_bundled

                pipe.add_documents(load_bundled(), progress=progress)
            _default = pipe
        return _default


def reset_default_pipeline() -> None:
    """Forget the default pipeline (tests, or after changing the index on disk)."""
    global _default
    with _default_lock:
        _default = None
