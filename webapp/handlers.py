"""What the chat does: the backends it answers with, the chat turn, regenerate and stop, and ``/ask``.

Every handler takes the :class:`Backends` it works on (``backends=``) and never raises: failures
(an empty or over-long question, a bad date, a missing index, a pipeline error) become a message
in the page, in both languages, each once. The Documents tab's handlers are
:mod:`webapp.documents`; the Gradio wiring is :mod:`webapp.layout`; ``app.py`` starts it.

Answers stream visibly: the pipeline yields partial answers (a generative model as it writes,
the extractive answerer sentence by sentence, computed at once), and the chat shows each new
piece word by word (:data:`TYPING_WORDS_PER_S`, at most :data:`TYPING_MAX_S` per answer), so a
reader sees it being written rather than a block that appears whole; the sources are added when
the answer is final.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from qa import Answer, Pipeline, QAConfig, default_pipeline
from qa.answering.reader_weights import BUNDLED_READER
from qa.text.questions import QuestionError, validate_question

from .render import escape, plain_text, render_answer, render_sources
from .ui_text import bilingual, message

if TYPE_CHECKING:  # pragma: no cover
    from qa.background import BackgroundIndexer

__all__ = ["Backends", "EXTRACTIVE", "GENERATIVE", "MAX_QUESTION_CHARS", "MAX_TOP_K", "READER", "ask_json",
           "check_question", "filters_from", "regenerate", "respond", "stopped", "TYPING_WORDS_PER_S", "TYPING_MAX_S"]

log = logging.getLogger("app")

#: Longest question the chat accepts, in characters: shorter than the product's limit
#: (:data:`qa.text.questions.MAX_QUESTION_CHARS`, 2,000: what the encoder can read). Questions about
#: news are a sentence or two (the MLQA dev questions are all under 300 characters); longer input
#: in a chat box is most likely a pasted article.
MAX_QUESTION_CHARS = 500

#: Most passages the settings allow: beyond 10 the extra passages rarely hold the answer (the
#: answerer cites at most two sentences) and the sources panel gets long.
MAX_TOP_K = 10

#: How fast a computed answer is written into the chat: 40 words a second (a fast reader's
#: pace), so a 40-word answer takes about a second; never more than TYPING_MAX_S per answer.
TYPING_WORDS_PER_S = 40.0
TYPING_MAX_S = 2.0

EXTRACTIVE, GENERATIVE, READER = "extractive", "generative", "reader"


class Backends:
    """The pipelines the app answers with: the extractive one over the index, and a generative
    and a reader one sharing its encoder, index and retriever when their models are configured.
    Built lazily on first use: ``pipe`` if given, else a pipeline for ``config`` (an ``index_dir``
    of its own), else the default pipeline over the bundled articles. Uploads are indexed by a
    background process (:meth:`jobs`) so that questions are answered meanwhile.

    ``typing``: write answers into the chat word by word (see the module docstring)."""

    def __init__(self, pipe: Pipeline | None = None, generative: QAConfig | None = None,
                 config: QAConfig | None = None, reader: QAConfig | None = None, *, typing: bool = True,
                 default: str = EXTRACTIVE) -> None:
        self._base = pipe
        self._config = config
        self._configs = {n: c for n, c in ((GENERATIVE, generative), (READER, reader)) if c is not None}
        #: the backend a question gets when it names none (the app's preselected choice)
        self.default = default if default in self.names else EXTRACTIVE
        self._pipes: dict[str, Pipeline] = {}
        self._jobs = None
        self.typing = typing
        self._lock = threading.Lock()  # two first requests must not build two pipelines

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Backends:
        """The backends the environment configures (:meth:`qa.QAConfig.from_env`): the extractive
        one over ``QA_INDEX_DIR`` (default: the bundled articles), a generative one when
        ``QA_GENERATOR_URL`` (an OpenAI-compatible base URL, e.g. ``http://localhost:11434/v1``) or
        ``QA_GENERATOR_MODEL`` (the model name there, or a transformers model id/folder) is set,
        and the reader: ``QA_READER_MODEL`` (a question-answering model id or folder) or, unset,
        the reader that ships in models/reader when it is there. The preselected backend is
        ``QA_ANSWERER``'s (default: the reader) when it is configured, else the extractive one.
        ``QA_GENERATOR_API_KEY`` (or ``OPENAI_API_KEY``) is read by the client when the server needs a key."""
        config = QAConfig.from_env(environ)
        generative = config.with_(answerer=GENERATIVE) if config.generator_url or config.generator_model else None
        shipped = (BUNDLED_READER / "reader.json").is_file()
        reader = config.with_(answerer=READER) if config.reader_model or shipped else None
        return cls(config=config.with_(answerer=EXTRACTIVE), generative=generative, reader=reader,
                   default=config.answerer)

    @property
    def configs(self) -> dict[str, QAConfig]:
        """The configured model backends by name (the extractive base is not among them)."""
        return dict(self._configs)

    @property
    def names(self) -> list[str]:
        return [EXTRACTIVE] + list(self._configs)

    def base(self) -> Pipeline:
        """The extractive pipeline over the index, built on first use."""
        with self._lock:
            if self._base is None:
                if self._config is not None and self._config.index_dir is not None:
                    self._base = Pipeline(self._config)
                else:
                    self._base = default_pipeline(self._config, progress=True)
            return self._base

    def get(self, name: str | None = None) -> Pipeline:
        """The pipeline of backend ``name`` (None: :attr:`default`; sharing the base's encoder,
        index and, when it retrieves the same way, retriever: one lock then guards searches and
        index changes)."""
        base = self.base()
        name = self.default if name is None else name
        if name not in self._configs:
            return base
        with self._lock:
            if name not in self._pipes:
                cfg = self._configs[name].with_(index_dir=base.config.index_dir)
                same = (cfg.retrieval, cfg.candidates) == (base.config.retrieval, base.config.candidates)
                self._pipes[name] = Pipeline(cfg, encoder=base.encoder, index=base.index,
                                             retriever=base.retriever if same else None)
            return self._pipes[name]

    def jobs(self) -> BackgroundIndexer:  # (imported lazily: multiprocessing)
        """The background indexer of the base pipeline's index, started on first use."""
        base = self.base()
        with self._lock:
            if self._jobs is None:
                from qa.background import BackgroundIndexer

                self._jobs = BackgroundIndexer(base)
            return self._jobs

    def refresh(self) -> None:
        """After the index changed through the base pipeline: let the pipelines with retrievers
        of their own see it."""
        base = self._base
        for pipe in self._pipes.values():
            if base is None or pipe.retriever is not base.retriever:
                with pipe.retriever.writing():
                    pipe.retriever.refresh()

    def close(self) -> None:
        """End the background indexer (its running job is cancelled)."""
        if self._jobs is not None:
            self._jobs.close()


def question_problem(exc: QuestionError) -> str:
    """A refused question's message: its own Vietnamese and English text, each once."""
    return bilingual(exc.message("vi").capitalize() + ".", exc.message("en").capitalize() + ".")


def check_question(question: str) -> str | None:
    """The message to show instead of an answer, or None when the question can be asked: the
    product's rules (:func:`qa.text.questions.validate_question`) with the chat's shorter limit."""
    try:
        validate_question(question, max_chars=MAX_QUESTION_CHARS)
    except QuestionError as exc:
        if exc.kind == "empty":
            return message("empty_question")
        if exc.kind == "too-long":
            return message("long_question", n=len(question.strip()), max=MAX_QUESTION_CHARS)
        return question_problem(exc)
    return None


def filters_from(sources: Sequence[str] | str | None = None, date_from: str | None = "",
                 date_to: str | None = "") -> dict | None:
    """The pipeline's ``filters`` from the settings (None: no filter). Raises ValueError for a
    date that is not one (see :func:`embeddings.stores.base.check_date`)."""
    from embeddings.stores import PassageFilter

    srcs = [sources] if isinstance(sources, str) else [s for s in (sources or []) if s]
    f = {"sources": srcs, "date_from": (date_from or "").strip() or None, "date_to": (date_to or "").strip() or None}
    PassageFilter.coerce(f)  # checks the dates
    return f if (srcs or f["date_from"] or f["date_to"]) else None


def _content_text(message: dict) -> str:
    """The text of a chat message, whether its content is a string or Gradio's list of parts."""
    content = message.get("content", "")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def _plain_history(history: list[dict]) -> list[dict]:
    """The chat so far as the pipeline wants it: plain-text turns (answers without their
    sources); turns that got a message instead of an answer are left out."""
    out: list[dict] = []
    for m in history or []:
        role, text = m.get("role"), _content_text(m)
        if role == "user":
            out.append({"role": "user", "content": plain_text(text)})
        elif role == "assistant":
            if '<div class="answer' in text:
                out.append({"role": "assistant", "content": plain_text(text)})
            elif out and out[-1]["role"] == "user":
                out.pop()
    return out


def _top_k(value: object) -> int | None:
    """The passages setting as an int in 1..MAX_TOP_K (None: the configured default)."""
    try:
        return max(1, min(int(value), MAX_TOP_K)) if value else None
    except (TypeError, ValueError):
        return None


def _cuts(text: str, start: int) -> list[int]:
    """Word boundaries of ``text`` after ``start`` where a prefix can be shown: not inside a
    citation marker or the bold lead."""
    out = []
    for i in range(start, len(text)):
        if text[i] == " " and text[:i].count("**") % 2 == 0 and text.rfind("[", 0, i) <= text.rfind("]", 0, i):
            out.append(i)
    return out + [len(text)]


def _typed(answer: Answer, shown: str, enabled: bool) -> Iterator[Answer]:
    """``answer`` written out word by word from the ``shown`` prefix on (partial answers, then
    ``answer`` itself), at :data:`TYPING_WORDS_PER_S`."""
    text = answer.text
    if not enabled or not text.startswith(shown):
        yield answer
        return
    cuts = _cuts(text, len(shown))
    step = max(1, int(len(cuts) / (TYPING_WORDS_PER_S * TYPING_MAX_S)) + 1)
    pause = step / TYPING_WORDS_PER_S
    for c in cuts[step - 1:-1:step]:
        prefix = text[:c]
        cited = {x.n for x in answer.citations if f"[{x.n}]" in prefix}
        yield dataclasses.replace(answer, text=prefix, partial=True,
                                  citations=[x for x in answer.citations if x.n in cited])
        time.sleep(pause)
    yield answer


def respond(message_text: str, history: list[dict] | None = None, language: str = "auto",
            top_k: int | None = None, backend: str | None = None, sources: Sequence[str] | None = None,
            date_from: str = "", date_to: str = "", *, backends: Backends) -> Iterator[tuple[list[dict], str]]:
    """Chat handler: yields (chat messages, sources panel HTML) as the answer grows.

    Failures (empty or over-long question, a bad date, missing index, pipeline errors) become a
    message in the chat, never an exception."""
    history = [{"role": m.get("role"), "content": _content_text(m)} for m in history or []]
    turn = sum(1 for m in history if m.get("role") == "user")
    problem = check_question(message_text)
    if problem is not None:
        yield history + [{"role": "user", "content": escape(message_text or "")},
                         {"role": "assistant", "content": problem}], render_sources(None)
        return
    question = message_text.strip()
    chat = history + [{"role": "user", "content": escape(question)}]
    try:
        filters = filters_from(sources, date_from, date_to)
    except ValueError as exc:
        yield chat + [{"role": "assistant", "content": message("bad_date", detail=str(exc))}], render_sources(None)
        return
    try:
        backends.base()
    except Exception as exc:  # the index cannot be loaded or built
        log.exception("index unavailable")
        yield chat + [{"role": "assistant", "content": message("index_missing", detail=str(exc))}], render_sources(None)
        return
    try:
        pipe = backends.get(backend)
    except Exception as exc:  # e.g. the generative model's folder does not exist
        log.exception("backend unavailable")
        yield chat + [{"role": "assistant", "content": message("failed", detail=str(exc))}], render_sources(None)
        return
    if not pipe.index.documents:
        yield chat + [{"role": "assistant", "content": message("index_empty")}], render_sources(None)
        return
    lang = language if language in ("vi", "en") else None
    documents = pipe.index.documents
    answer: Answer | None = None
    shown = ""
    try:
        for step in pipe.ask_stream(question, top_k=_top_k(top_k), history=_plain_history(history), language=lang,
                                    filters=filters):
            for answer in _typed(step, shown, backends.typing):
                msg = {"role": "assistant", "content": render_answer(answer, documents, turn)}
                yield chat + [msg], render_sources(answer, documents)
            shown = answer.text if answer is not None else shown
    except QuestionError as exc:
        yield chat + [{"role": "assistant", "content": question_problem(exc)}], render_sources(None)
    except Exception as exc:  # report, never a traceback in the page
        log.exception("question failed")
        yield (chat + [{"role": "assistant", "content": message("failed", detail=str(exc))}],
               render_sources(answer, documents))


def regenerate(history: list[dict] | None, index: int | None = None, language: str = "auto",
               top_k: int | None = None, backend: str | None = None, sources: Sequence[str] | None = None,
               date_from: str = "", date_to: str = "", *, backends: Backends) -> Iterator[tuple[list[dict], str]]:
    """Ask the question of turn ``index`` (a message index; default the last question) again,
    with the settings as they are now: the answer and everything after it are replaced."""
    history = [{"role": m.get("role"), "content": _content_text(m)} for m in history or []]
    users = [i for i, m in enumerate(history) if m.get("role") == "user" and (index is None or i <= index)]
    if not users:
        yield history, render_sources(None)
        return
    at = users[-1]
    yield from respond(plain_text(history[at]["content"]), history[:at], language, top_k, backend, sources,
                       date_from, date_to, backends=backends)


def stopped(history: list[dict] | None) -> list[dict]:
    """The chat after the stop button: an answer cut short keeps what was written, marked as stopped."""
    history = [{"role": m.get("role"), "content": _content_text(m)} for m in history or []]
    if history and history[-1]["role"] == "assistant" and 'class="answer partial"' in history[-1]["content"]:
        text = history[-1]["content"].replace('class="answer partial"', 'class="answer stopped"').replace(" ▍</div>", "")
        history[-1]["content"] = text + '<div class="stopped-note">' + escape(
            "(đã dừng · stopped)") + "</div>"
    elif history and history[-1]["role"] == "user":
        history.append({"role": "assistant", "content": message("stopped")})
    return history


def ask_json(question: str, language: str = "auto", top_k: int = 5, sources: Sequence[str] | None = None,
             date_from: str = "", date_to: str = "", *, backends: Backends) -> dict:
    """API endpoint ``/ask``: the final answer as JSON (text, language, citations, passages),
    or ``{"error": message}``."""
    problem = check_question(question)
    if problem is not None:
        return {"error": problem}
    try:
        filters = filters_from(sources, date_from, date_to)
    except ValueError as exc:
        return {"error": message("bad_date", detail=str(exc))}
    try:
        pipe = backends.get()
        answer = pipe.ask(question.strip(), top_k=_top_k(top_k),
                          language=language if language in ("vi", "en") else None, filters=filters)
    except QuestionError as exc:
        return {"error": question_problem(exc)}
    except Exception as exc:
        return {"error": message("failed", detail=str(exc))}
    d = answer.to_dict()
    for p in d["passages"]:
        p.pop("sentences", None)
    return d
