"""What the page does: the backends it answers with, the chat and API handlers, uploads and removals.

Every handler takes the :class:`Backends` it works on (``backends=``) and never raises: failures
(an empty or over-long question, a missing index, a pipeline error) become a message in the page.
The Gradio wiring is :mod:`webapp.layout`; ``app.py`` starts it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from qa import Answer, Pipeline, QAConfig, default_pipeline
from qa.text.questions import QuestionError, validate_question

from .render import escape, plain_text, render_answer, render_sources
from .ui_text import T, message, message_inline
from .uploads import document_rows, ingest, remove_documents

__all__ = ["Backends", "EXTRACTIVE", "GENERATIVE", "MAX_QUESTION_CHARS", "MAX_TOP_K", "READER", "ask_json",
           "check_question", "documents_table", "remove", "respond", "upload"]

log = logging.getLogger("app")

#: Longest question the chat accepts, in characters: shorter than the product's limit
#: (:data:`qa.text.questions.MAX_QUESTION_CHARS`, 2,000: what the encoder can read). Questions about
#: news are a sentence or two (the MLQA dev questions are all under 300 characters); longer input
#: in a chat box is most likely a pasted article.
MAX_QUESTION_CHARS = 500

#: Most passages the settings allow: beyond 10 the extra passages rarely hold the answer (the
#: answerer cites at most two sentences) and the sources panel gets long.
MAX_TOP_K = 10

EXTRACTIVE, GENERATIVE, READER = "extractive", "generative", "reader"


class Backends:
    """The pipelines the app answers with: the extractive one over the index, and a generative
    and a reader one sharing its encoder and index when their models are configured. Built
    lazily on first use: ``pipe`` if given, else a pipeline for ``config`` (an ``index_dir`` of
    its own), else the default pipeline over the bundled articles."""

    def __init__(self, pipe: Pipeline | None = None, generative: QAConfig | None = None,
                 config: QAConfig | None = None, reader: QAConfig | None = None) -> None:
        self._base = pipe
        self._config = config
        self._configs = {n: c for n, c in ((GENERATIVE, generative), (READER, reader)) if c is not None}
        self._pipes: dict[str, Pipeline] = {}
        self._lock = threading.Lock()  # two first requests must not build two pipelines

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Backends:
        """The backends the environment configures (:meth:`qa.QAConfig.from_env`): the extractive
        one over ``QA_INDEX_DIR`` (default: the bundled articles), a generative one when
        ``QA_GENERATOR_URL`` (an OpenAI-compatible base URL, e.g. ``http://localhost:11434/v1``) or
        ``QA_GENERATOR_MODEL`` (the model name there, or a transformers model id/folder) is set,
        and a reader when ``QA_READER_MODEL`` (a question-answering model id or folder) is.
        ``OPENAI_API_KEY`` / ``QA_GENERATOR_API_KEY`` is read by the client when the server needs a key."""
        config = QAConfig.from_env(environ)
        generative = config.with_(answerer=GENERATIVE) if config.generator_url or config.generator_model else None
        reader = config.with_(answerer=READER) if config.reader_model else None
        return cls(config=config.with_(answerer=EXTRACTIVE), generative=generative, reader=reader)

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

    def get(self, name: str = EXTRACTIVE) -> Pipeline:
        """The pipeline of backend ``name`` (sharing the base's encoder and index)."""
        base = self.base()
        if name not in self._configs:
            return base
        with self._lock:
            if name not in self._pipes:
                cfg = self._configs[name].with_(index_dir=base.config.index_dir)
                self._pipes[name] = Pipeline(cfg, encoder=base.encoder, index=base.index)
            return self._pipes[name]

    def refresh(self) -> None:
        """After the index changed through the base pipeline: let the others see it."""
        for pipe in self._pipes.values():
            pipe.retriever.refresh()


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
        return message("failed", error=str(exc))
    return None


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


def respond(message_text: str, history: list[dict] | None = None, language: str = "auto",
            top_k: int | None = None, backend: str = EXTRACTIVE, *,
            backends: Backends) -> Iterator[tuple[list[dict], str]]:
    """Chat handler: yields (chat messages, sources panel HTML) as the answer grows.

    Failures (empty or over-long question, missing index, pipeline errors) become a message in
    the chat, never an exception.
    """
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
        backends.base()
    except Exception as exc:  # the index cannot be loaded or built
        log.exception("index unavailable")
        yield chat + [{"role": "assistant", "content": message("index_missing", error=str(exc))}], render_sources(None)
        return
    try:
        pipe = backends.get(backend)
    except Exception as exc:  # e.g. the generative model's folder does not exist
        log.exception("backend unavailable")
        yield chat + [{"role": "assistant", "content": message("failed", error=str(exc))}], render_sources(None)
        return
    if not pipe.index.documents:
        yield chat + [{"role": "assistant", "content": message("index_empty")}], render_sources(None)
        return
    lang = language if language in ("vi", "en") else None
    documents = pipe.index.documents
    answer: Answer | None = None
    try:
        for answer in pipe.ask_stream(question, top_k=_top_k(top_k),
                                      history=_plain_history(history), language=lang):
            msg = {"role": "assistant", "content": render_answer(answer, documents, turn)}
            yield chat + [msg], render_sources(answer, documents)
    except Exception as exc:  # report, never a traceback in the page
        log.exception("question failed")
        yield chat + [{"role": "assistant", "content": message("failed", error=str(exc))}], render_sources(answer, documents)


def ask_json(question: str, language: str = "auto", top_k: int = 5, *, backends: Backends) -> dict:
    """API endpoint ``/ask``: the final answer as JSON (text, language, citations, passages),
    or ``{"error": message}``."""
    problem = check_question(question)
    if problem is not None:
        return {"error": problem}
    try:
        pipe = backends.get(EXTRACTIVE)
        answer = pipe.ask(question.strip(), top_k=_top_k(top_k),
                          language=language if language in ("vi", "en") else None)
    except Exception as exc:
        return {"error": message("failed", error=str(exc))}
    d = answer.to_dict()
    for p in d["passages"]:
        p.pop("sentences", None)
    return d


def documents_table(backends: Backends) -> tuple[list[list], list[tuple[str, str]]]:
    """(rows for the document table, choices for the removal picker)."""
    try:
        rows = document_rows(backends.base())
    except Exception:
        log.exception("index unavailable")
        rows = []
    choices = [(f"{r[1][:70]} · {r[0]}", r[0]) for r in rows]
    return rows, choices


def upload(files: Sequence[object] | None, progress: Callable[..., object], *, backends: Backends) -> str:
    """Upload handler: index the files, return a Markdown summary (one line per file)."""
    paths = [f if isinstance(f, str) else getattr(f, "name", str(f)) for f in (files or [])]
    if not paths:
        return message("no_files")
    try:
        pipe = backends.base()
    except Exception as exc:
        return message("index_missing", error=str(exc))

    def step(fraction: float, name: str) -> None:
        progress(fraction, desc=f"{T['reading']}: {name}")

    report = ingest(pipe, [(Path(p).name, p) for p in paths], progress=step)
    backends.refresh()
    lines = [message("upload_summary", added=report.added, skipped=report.skipped, rejected=report.rejected), ""]
    for f in report.files:
        if f.rejected:
            lines.append(f"- `{_md_code(f.name)}` — **{T['rejected']}**: {f.rejected}")
        else:
            lines.append(f"- `{_md_code(f.name)}` — "
                         + message_inline("file_added", added=len(f.added), skipped=len(f.skipped)))
            lines.extend(f"  - {T['skipped_part']}: {_md_code(p)}" for p in f.problems)
    return "\n".join(lines)


def _md_code(text: str) -> str:
    return text.replace("`", "'")


def remove(doc_ids: str | Sequence[str] | None, *, backends: Backends) -> str:
    """Removal handler: remove the chosen documents, return a summary."""
    ids = [doc_ids] if isinstance(doc_ids, str) else list(doc_ids or [])
    if not ids:
        return message("nothing_selected")
    try:
        removed, missing = remove_documents(backends.base(), ids)
    except Exception as exc:
        return message("failed", error=str(exc))
    backends.refresh()
    out = message("removed", n=len(removed))
    for doc_id in missing:
        out += "  \n" + message_inline("not_in_index", doc_id=doc_id)
    return out
