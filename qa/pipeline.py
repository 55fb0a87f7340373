"""The pipeline: documents → passages → index, and question → passages → cited answer.

One :class:`Pipeline` owns the encoder, the index, the retriever and the answerer for one
index directory. :func:`default_pipeline` lazily builds the one that :func:`qa.ask` uses: the
index over the bundled articles in the user cache, created on first use.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from corpus.chunking import ChunkingConfig, chunk_document
from corpus.document import Document
from embeddings.encoder import Encoder, load_encoder
from embeddings.stores import PassageFilter, VectorStore, open_store

from .answering import make_answerer
from .answering.citations import parse_markers
from .answering.extractive import NOT_FOUND
from .config import QAConfig
from .conversation import contextual_query, previous_quotes, validate_history
from .retrieval import Query, Retriever
from .retrieval.lexical import passage_terms
from .text.language import detect_language
from .text.questions import validate_question
from .types import Answer, Passage

__all__ = ["Pipeline", "IndexReport", "default_pipeline", "reset_default_pipeline"]

log = logging.getLogger(__name__)

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


class Pipeline:
    """Indexing and question answering over one index."""

    def __init__(self, config: QAConfig | None = None, *, encoder: Encoder | None = None,
                 index: VectorStore | None = None, in_memory: bool = False):
        self.config = config or QAConfig()
        self.encoder = encoder or load_encoder(
            self.config.embedding_model, device=self.config.device, batch_size=self.config.batch_size,
            query_prompt=self.config.query_prompt, passage_prompt=self.config.passage_prompt,
            precision=self.config.encoder_precision)
        self.chunking = ChunkingConfig(
            max_tokens=min(self.config.chunk_tokens, self.encoder.max_tokens),
            overlap_tokens=self.config.chunk_overlap_tokens)
        chunking = {"max_tokens": self.chunking.max_tokens, "overlap_tokens": self.chunking.overlap_tokens}
        if index is None:  # FAISS in index_dir, or Milvus when config.vector_store_uri is set
            index = open_store(index_dir=None if in_memory else self.config.resolved_index_dir,
                               uri=self.config.vector_store_uri, collection=self.config.vector_store_collection,
                               index_type=self.config.vector_store_index, model=self.encoder.name,
                               fingerprint=self.encoder.fingerprint, probe=self.encoder.probe_vector,
                               dim=self.encoder.dim, chunking=chunking)
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

    # ------------------------------------------------------------------ answering
    def query(self, question: str) -> Query:
        """Normalize, detect the language and embed a question.

        Raises :class:`~qa.text.questions.QuestionError` (a ValueError) for an empty, too long or
        non-Vietnamese/English question (see :mod:`qa.text.questions`)."""
        text = validate_question(question)
        q = Query(text=text, language=detect_language(text))
        q.vector = self.encoder.encode_queries([text])[0]
        return q

    def retrieve(self, question: str | Query, top_k: int | None = None, *,
                 filters: PassageFilter | dict | None = None) -> list[Passage]:
        """The best passages for a question (among those passing ``filters``, see :meth:`ask`)."""
        q = question if isinstance(question, Query) else self.query(question)
        if filters is not None:
            q.filters = PassageFilter.coerce(filters)
        with self.retriever.reading():
            return self.retriever.run(q, top_k or self.config.top_k)

    def is_relevant(self, query: Query, passages: list[Passage]) -> bool:
        """Whether the retrieved passages can answer ``query`` at all (else the answer declines).

        One calibrated cosine threshold per language (see qa/answering/relevance.py)."""
        from .answering.relevance import is_relevant

        thresholds = {lang: self.config.min_relevance(lang) for lang in ("vi", "en")}
        return is_relevant(query, passages, thresholds, getattr(self.index, "sentence_vectors", None))

    def ask(self, question: str, *, top_k: int | None = None, history: Sequence[dict] | None = None,
            language: str | None = None, filters: PassageFilter | dict | None = None) -> Answer:
        """Answer ``question`` with cited sentences from the indexed articles.

        ``history`` is the conversation so far as chat messages (``{"role": "user" |
        "assistant", "content": str}``, oldest first), for follow-up questions. ``language``
        ("vi"/"en") forces the language of the answer's framing; None follows the question.
        ``filters`` restricts the answer to some articles: a :class:`~embeddings.stores.PassageFilter`
        or a dict of its fields, e.g. ``{"sources": ["QĐND"], "date_from": "2016-01"}``.
        """
        answer = None
        for answer in self.ask_stream(question, top_k=top_k, history=history, language=language, filters=filters):
            pass
        assert answer is not None
        return answer

    def ask_stream(self, question: str, *, top_k: int | None = None,
                   history: Sequence[dict] | None = None, language: str | None = None,
                   filters: PassageFilter | dict | None = None) -> Iterator[Answer]:
        """Like :meth:`ask`, but yields the answer as it grows: zero or more partial answers
        (``partial=True``, text so far) and then the final one (``partial=False``).

        Generative answers stream as the model writes (markers repaired on the fly); extractive
        answers, computed at once, are yielded sentence by sentence. With ``history``, a
        follow-up is retrieved with its conversation's context (:mod:`qa.conversation`).
        """
        if language not in (None, "vi", "en"):
            raise ValueError(f"language must be None, 'vi' or 'en', not {language!r}")
        text = validate_question(question)
        history = validate_history(history)
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        ctx = contextual_query(text, history, self._rewriter())
        q = self.query(ctx.text)
        if ctx.method != "none":  # the answer's language is the question's, not the carried words'
            q.language = detect_language(text)
        q.filters = PassageFilter.coerce(filters)
        t1 = time.perf_counter()
        timings["embed_query"] = t1 - t0
        k = top_k or self.config.top_k
        stream = None
        with self.retriever.reading():  # thread safety: see qa.retrieval.retriever
            passages = self.retriever.run(q, k + FOLLOWUP_EXTRA if ctx.method != "none" else k)
            if ctx.method != "none":
                passages = prefer_previous_document(passages, previous_quotes(history), k)
            t2 = time.perf_counter()
            timings["retrieve"] = t2 - t1
            relevant = self.is_relevant(q, passages)
            if language is not None:  # retrieval used the detected language; the answer uses this one
                q = dataclasses.replace(q, language=language)
            if not relevant:
                parts = iter([Answer(question=q.text, text=NOT_FOUND[q.language], language=q.language,
                                     citations=[], passages=passages, timings={}, answerer=self.answerer.name,
                                     found=False)])
            elif (stream := getattr(self.answerer, "stream", None)) is None:
                parts = _sentence_stream(self.answerer.run(q, passages))
        if stream is not None:
            # A model may write for seconds: not under the lock, so that indexing never waits on it
            # (the passages are copies; the verifier reads stored sentence vectors by id).
            parts = stream(q, passages)
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
            lang = detect_language(validate_question(question))
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
            if pipe.config.index_dir is None and pipe.config.vector_store_uri is None:
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
