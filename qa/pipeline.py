"""The pipeline: a thin facade over indexing and answering for one index.

One :class:`Pipeline` owns the encoder, the store, the retriever, the indexer
(:mod:`qa.indexing`) and the answerer (:mod:`qa.answering`) of one index directory or Milvus
collection. Asking: validate the question (:mod:`qa.text.questions`), build the retrieval query of
a follow-up (:mod:`qa.conversation`), embed, retrieve, let the refusal gate decide
(:mod:`qa.answering.relevance`), and stream the answerer's answer (:mod:`qa.answering.base`).
:func:`default_pipeline` lazily builds the one that :func:`qa.ask` uses: the index over the
bundled articles in the user cache, created on first use.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from corpus.chunking import ChunkingConfig
from corpus.document import Chunk, Document
from corpus.normalize import fold_diacritics
from embeddings.encoder import Encoder, load_encoder
from embeddings.stores import MergeReport, PassageFilter, VectorStore, open_store

from .answering import make_answerer
from .answering.relevance import is_relevant, refusal
from .config import QAConfig
from .conversation import (
    FOLLOWUP_EXTRA,
    answer_from_previous,
    contextual_query,
    llm_rewriter,
    prefer_previous_document,
    previous_quotes,
    validate_history,
)
from .indexing import Indexer, IndexReport, Progress
from .retrieval import Query, Retriever
from .text.chitchat import ANSWERER as CHITCHAT
from .text.chitchat import chitchat_reply, detect_chitchat
from .text.language import detect_language
from .text.questions import validate_question
from .types import Answer, Passage

__all__ = ["Pipeline", "IndexReport", "default_pipeline", "reset_default_pipeline"]


class Pipeline:
    """Indexing and question answering over one index."""

    def __init__(self, config: QAConfig | None = None, *, encoder: Encoder | None = None,
                 index: VectorStore | None = None, in_memory: bool = False, retriever: Retriever | None = None):
        """``encoder`` / ``index`` / ``retriever``: share another pipeline's (the app's backends
        share one index and its retriever, so that one lock guards searches and changes)."""
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
                               dim=self.encoder.dim, chunking=chunking, retry_s=self.config.vector_store_retry_s)
        index.check_compatible(model=self.encoder.name, dim=self.encoder.dim,
                               probe_matches=self.encoder.same_model_as(index.manifest["model"]["probe"]),
                               chunking=chunking)
        self.index = index
        if retriever is not None and retriever.index is not index:
            raise ValueError("retriever= must be the retriever of the index= it is shared with")
        self.retriever = retriever or Retriever(index, method=self.config.retrieval, candidates=self.config.candidates)
        self.indexer = Indexer(self.encoder, index, self.retriever, self.chunking)
        self.answerer = make_answerer(self.config, self.encoder, self.retriever.lexical, index)

    # ------------------------------------------------------------------ indexing (qa.indexing)
    def chunk(self, doc: Document) -> list[Chunk]:
        """The passages of one document, sized for this encoder."""
        return self.indexer.chunk(doc)

    def add_documents(self, docs: Iterable[Document], *, progress: bool = False, commit: bool = True,
                      on_progress: Progress | None = None, should_stop: Callable[[], bool] | None = None) -> IndexReport:
        """Chunk, embed and add documents not yet in the index (re-adding is a no-op). Only
        committed documents are reported added; ``on_progress`` / ``should_stop``: see
        :mod:`qa.indexing` (a stop raises :class:`qa.indexing.IndexingCancelled`)."""
        return self.indexer.add_documents(docs, progress=progress, commit=commit, on_progress=on_progress,
                                          should_stop=should_stop)

    def add_paths(self, paths: Sequence[str | Path], *, progress: bool = False) -> IndexReport:
        """Read files or folders (see :func:`corpus.read_path`) and add their documents."""
        return self.indexer.add_paths(paths, progress=progress)

    def remove(self, doc_id: str) -> int:
        """Remove a document by id and commit; returns the number of passages removed."""
        return self.indexer.remove(doc_id)

    def sync(self) -> MergeReport:
        """Take in what another process (``python -m qa index``, the app's background indexer)
        committed to this index since it was opened or last written; questions meanwhile are
        answered from the index as it was. Commits do this by themselves before writing."""
        return self.indexer.sync()

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

    def known_word(self, word: str) -> bool:
        """Whether the index knows ``word`` (its BM25 vocabulary, exact or folded, or an alias)."""
        low = word.lower()
        with self.retriever.reading():
            vocab = self.retriever.lexical.vocab
            if low in vocab or "~" + fold_diacritics(low) in vocab:
                return True
        return bool(self.retriever.lexical.aliases.tokens(word, normalized=False))

    def is_relevant(self, query: Query, passages: list[Passage]) -> bool:
        """Whether the retrieved passages can answer ``query`` at all (else the answer declines).

        One calibrated cosine threshold per language (see qa/answering/relevance.py)."""
        thresholds = {lang: self.config.min_relevance(lang) for lang in ("vi", "en")}
        return is_relevant(query, passages, thresholds, self.index.sentence_vectors)

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
        answers, computed at once, are yielded sentence by sentence. Small talk ("Xin chào",
        "thanks", "abc xyz?", see :mod:`qa.text.chitchat`) gets one answer with
        ``answerer="chitchat"``, ``found=False`` and no citations or passages: what the bot can do. With ``history``, a
        follow-up is retrieved with its conversation's context (:mod:`qa.conversation`).
        """
        if language not in (None, "vi", "en"):
            raise ValueError(f"language must be None, 'vi' or 'en', not {language!r}")
        text = validate_question(question)
        history = validate_history(history)
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        chat = detect_chitchat(text, known_word=self.known_word, in_conversation=bool(history))
        if chat is not None:  # small talk: what the bot can do, never a cited fragment (qa/text/chitchat.py)
            yield Answer(question=question, text=chitchat_reply(chat, articles=len(self.index.documents),
                                                                language=language),
                         language=language or chat.language, citations=[], passages=[],
                         timings={"total": time.perf_counter() - t0}, answerer=CHITCHAT, found=False)
            return
        generator = self.answerer.generator if self.config.rewrite_followups else None
        ctx = contextual_query(text, history, llm_rewriter(generator) if generator is not None else None)
        q = self.query(ctx.text)
        if ctx.method != "none":  # the answer's language is the question's, not the carried words'
            q.language = detect_language(text)
        q.filters = PassageFilter.coerce(filters)
        t1 = time.perf_counter()
        timings["embed_query"] = t1 - t0
        k = top_k or self.config.top_k
        parts: Iterator[Answer] | None = None
        with self.retriever.reading():  # thread safety: see qa.retrieval.retriever
            passages = self.retriever.run(q, k + FOLLOWUP_EXTRA if ctx.method != "none" else k)
            if ctx.method != "none":
                quotes = previous_quotes(history)
                passages = prefer_previous_document(passages, quotes, k, names=ctx.new_names)
                if ctx.refers_back:  # "When was that?": from what the previous answer quoted
                    passages = answer_from_previous(passages, quotes, text)
            t2 = time.perf_counter()
            timings["retrieve"] = t2 - t1
            relevant = self.is_relevant(q, passages)
            if language is not None:  # retrieval used the detected language; the answer uses this one
                q = dataclasses.replace(q, language=language)
            if not relevant:
                parts = iter([refusal(q, passages, self.answerer.name)])
            elif self.answerer.needs_index_lock:
                parts = self.answerer.stream(q, passages)
        if parts is None:
            # A model may write for seconds: not under the lock, so that indexing never waits on it
            # (the passages are copies; the verifier reads stored sentence vectors by id).
            parts = self.answerer.stream(q, passages)
        retrieval_query = ctx.text if ctx.method != "none" else None
        for answer in parts:
            t3 = time.perf_counter()
            answer.question = question
            answer.retrieval_query = retrieval_query
            answer.timings = dict(timings, answer=t3 - t2, total=t3 - t0)
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
