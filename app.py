"""Gradio chat over Vietnamese news with cited answers (also the Hugging Face Space entry point).

    python app.py            # http://127.0.0.1:7860 ; set GRADIO_SERVER_NAME=0.0.0.0 to expose

Chat tab: answers stream in; every [n] opens its source under the answer (headline, outlet,
date, the passage with the cited sentence highlighted); the side panel lists the retrieved
passages with their scores; settings choose the answer language, the number of passages and,
when a model is configured, the answering backend. Documents tab: upload .txt, .md, .html,
.pdf, .jsonl articles into the index, list and remove them.

The index of the bundled articles is built on the first start (about a minute on 2 cores) in
``QA_CACHE_DIR`` and loaded afterwards. A generative backend is offered when
``QA_GENERATOR_URL`` (an OpenAI-compatible server) or ``QA_GENERATOR_MODEL`` (a transformers
model id or folder) is set, and a reading-comprehension one when ``QA_READER_MODEL`` (a
transformers question-answering model id or folder) is; see the README's section on the Space.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import gradio as gr

from qa import Answer, Pipeline, QAConfig, default_pipeline
from webapp.render import CITE_JS, escape, plain_text, render_answer, render_sources
from webapp.ui_text import LANGUAGE_CHOICES, T, message, message_inline
from webapp.uploads import MAX_UPLOAD_BYTES, document_rows, ingest, remove_documents

log = logging.getLogger("app")

#: Longest accepted question, in characters. Questions about news are a sentence or two (the
#: MLQA dev questions are all under 300 characters); longer input is most likely a pasted
#: article, and the query encoder would cut it at 512 tokens anyway.
MAX_QUESTION_CHARS = 500

#: Most passages the settings allow: beyond 10 the extra passages rarely hold the answer (the
#: answerer cites at most two sentences) and the sources panel gets long.
MAX_TOP_K = 10

#: Example questions, answered by the bundled articles (Vietnamese and English).
EXAMPLES = [
    "Ông Kerry gặp ông Putin ở đâu?",
    "Where did Kerry and Lavrov meet in August 2016?",
    "Nga đã triển khai những lực lượng nào đến Syria?",
    "Who is the spokesman of the Russian Defence Ministry?",
    "Ai là người phát ngôn Bộ Quốc phòng Nga?",
    "What did Carter and Shoygu discuss?",
]

#: Styles: readable sources, and no horizontal overflow on a phone-width screen.
CSS = """
.answer mark, .src-passage mark { background: #ffe58a; color: inherit; padding: 0 .1em; }
a.cite { font-weight: 600; text-decoration: none; cursor: pointer; }
.sources { margin-top: .6em; }
details.src { border-left: 3px solid #d0d7de; padding: .1em .6em; margin: .3em 0; }
details.src[open] { border-left-color: #e3b341; }
details.src.src-flash { background: rgba(227, 179, 65, .15); }
details.src summary { cursor: pointer; }
.src-meta { font-size: .85em; opacity: .8; margin: .2em 0; }
.src-passage { font-size: .92em; line-height: 1.5; }
.sources-panel ol.passages { padding-left: 0; list-style: none; margin: 0; }
.sources-panel li.passage { border-bottom: 1px solid #d0d7de; padding: .4em 0; }
.sources-panel li.is-cited { border-left: 3px solid #e3b341; padding-left: .5em; }
.sources-panel .p-score { font-size: .8em; opacity: .75; }
.sources-panel .p-text { font-size: .88em; }
.cited-tag { font-size: .8em; background: #ffe58a; border-radius: 4px; padding: 0 .3em; }
.gradio-container { max-width: 1200px !important; overflow-wrap: anywhere; }
@media (max-width: 640px) { .gradio-container { padding: 4px !important; } }
"""

EXTRACTIVE, GENERATIVE, READER = "extractive", "generative", "reader"


# --------------------------------------------------------------------------- pipelines

def generative_config() -> QAConfig | None:
    """The generative answerer's settings from the environment, or None when no model is set:
    ``QA_GENERATOR_URL`` (OpenAI-compatible base URL, e.g. ``http://localhost:11434/v1``),
    ``QA_GENERATOR_MODEL`` (the model name there, or a transformers model id/folder);
    ``OPENAI_API_KEY`` is read by the client when the server needs a key."""
    url = os.environ.get("QA_GENERATOR_URL") or None
    model = os.environ.get("QA_GENERATOR_MODEL") or None
    if not url and not model:
        return None
    return QAConfig(answerer=GENERATIVE, generator_url=url, generator_model=model)


def reader_config() -> QAConfig | None:
    """The reading-comprehension answerer's settings from the environment, or None:
    ``QA_READER_MODEL`` (a transformers question-answering model id or folder)."""
    model = os.environ.get("QA_READER_MODEL") or None
    return QAConfig(answerer=READER, reader_model=model) if model else None


class Backends:
    """The pipelines the app answers with: the extractive one over the index, and a generative
    and a reader one sharing its encoder and index when their models are configured. Built
    lazily on first use: ``pipe`` if given, else a pipeline for ``config`` (an ``index_dir`` of
    its own), else the default pipeline over the bundled articles."""

    def __init__(self, pipe: Pipeline | None = None, generative: QAConfig | None = None,
                 config: QAConfig | None = None, reader: QAConfig | None = None):
        self._base = pipe
        self._config = config
        self._configs = {n: c for n, c in ((GENERATIVE, generative), (READER, reader)) if c is not None}
        self._pipes: dict[str, Pipeline] = {}
        self._lock = threading.Lock()  # two first requests must not build two pipelines

    @property
    def names(self) -> list[str]:
        return [EXTRACTIVE] + list(self._configs)

    def base(self) -> Pipeline:
        with self._lock:
            if self._base is None:
                if self._config is not None and self._config.index_dir is not None:
                    self._base = Pipeline(self._config)
                else:
                    self._base = default_pipeline(self._config, progress=True)
            return self._base

    def get(self, name: str = EXTRACTIVE) -> Pipeline:
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


# --------------------------------------------------------------------------- chat

def render(answer: Answer, documents=None, turn: int = 0) -> str:
    """The chat message for ``answer`` (see :func:`webapp.render.render_answer`)."""
    return render_answer(answer, documents, turn)


def check_question(question: str) -> str | None:
    """The message to show instead of an answer, or None when the question can be asked."""
    if not isinstance(question, str) or not question.strip():
        return message("empty_question")
    n = len(question.strip())
    if n > MAX_QUESTION_CHARS:
        return message("long_question", n=n, max=MAX_QUESTION_CHARS)
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


def _top_k(value) -> int | None:
    """The passages setting as an int in 1..MAX_TOP_K (None: the configured default)."""
    try:
        return max(1, min(int(value), MAX_TOP_K)) if value else None
    except (TypeError, ValueError):
        return None


def respond(message_text: str, history: list[dict] | None = None, language: str = "auto",
            top_k: int | None = None, backend: str = EXTRACTIVE, *,
            backends: Backends | None = None) -> Iterator[tuple[list[dict], str]]:
    """Chat handler: yields (chat messages, sources panel HTML) as the answer grows.

    Failures (empty or over-long question, missing index, pipeline errors) become a message in
    the chat, never an exception.
    """
    backends = backends or _BACKENDS
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


def ask_json(question: str, language: str = "auto", top_k: int = 5, *,
             backends: Backends | None = None) -> dict:
    """API endpoint ``/ask``: the final answer as JSON (text, language, citations, passages),
    or ``{"error": message}``."""
    problem = check_question(question)
    if problem is not None:
        return {"error": problem}
    try:
        pipe = (backends or _BACKENDS).get(EXTRACTIVE)
        answer = pipe.ask(question.strip(), top_k=_top_k(top_k),
                          language=language if language in ("vi", "en") else None)
    except Exception as exc:
        return {"error": message("failed", error=str(exc))}
    d = answer.to_dict()
    for p in d["passages"]:
        p.pop("sentences", None)
    return d


# --------------------------------------------------------------------------- documents

def documents_table(backends: Backends | None = None):
    """(rows for the document table, choices for the removal picker)."""
    backends = backends or _BACKENDS
    try:
        rows = document_rows(backends.base())
    except Exception:
        log.exception("index unavailable")
        rows = []
    choices = [(f"{r[1][:70]} · {r[0]}", r[0]) for r in rows]
    return rows, choices


def upload(files, progress=gr.Progress(track_tqdm=True), *, backends: Backends | None = None) -> str:
    """Upload handler: index the files, return a Markdown summary (one line per file)."""
    backends = backends or _BACKENDS
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


def remove(doc_ids, *, backends: Backends | None = None) -> str:
    """Removal handler: remove the chosen documents, return a summary."""
    backends = backends or _BACKENDS
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


# --------------------------------------------------------------------------- the page

_BACKENDS = Backends(generative=generative_config(), reader=reader_config())


def build_app(backends: Backends | None = None) -> gr.Blocks:
    """The Blocks app. ``backends`` defaults to the bundled-corpus index in ``QA_CACHE_DIR``."""
    be = backends or _BACKENDS
    with gr.Blocks(title=T["title"], fill_width=False) as demo:
        gr.Markdown(f"## {T['title']}\n{T['intro']}")
        with gr.Tabs():
            with gr.Tab(T["tab_chat"], id="chat"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=300):
                        chatbot = gr.Chatbot(label=T["chatbot"], height=520, elem_id="chat",
                                             latex_delimiters=[], feedback_options=None,
                                             buttons=["copy"], autoscroll=True)
                        with gr.Row(equal_height=True):
                            question = gr.Textbox(label=T["question"], placeholder=T["placeholder"],
                                                  lines=1, max_lines=4, scale=5, min_width=200,
                                                  elem_id="question", max_length=MAX_QUESTION_CHARS * 2)
                            send = gr.Button(T["send"], variant="primary", scale=1, min_width=80, elem_id="ask")
                        gr.Examples(EXAMPLES, inputs=question, label=T["examples"])
                        clear = gr.Button(T["clear"], size="sm")
                    with gr.Column(scale=2, min_width=280):
                        with gr.Accordion(T["settings"], open=False):
                            language = gr.Radio(LANGUAGE_CHOICES, value="auto", label=T["language"])
                            top_k = gr.Slider(1, MAX_TOP_K, value=QAConfig().top_k, step=1, label=T["top_k"])
                            backend = gr.Radio([(T[f"backend_{n}"], n) for n in be.names],
                                               value=EXTRACTIVE, label=T["backend"], visible=len(be.names) > 1)
                        gr.Markdown(f"#### {T['sources']}")
                        sources = gr.HTML(render_sources(None), elem_id="sources")
            with gr.Tab(T["tab_docs"], id="docs"):
                files = gr.File(label=T["upload"], file_count="multiple", elem_id="upload",
                                file_types=[".txt", ".md", ".html", ".htm", ".pdf", ".jsonl"])
                gr.Markdown(T["upload_help"].format(mb=MAX_UPLOAD_BYTES // 2**20))
                add = gr.Button(T["add"], variant="primary")
                upload_result = gr.Markdown(elem_id="upload-result")
                table = gr.Dataframe(headers=T["doc_cols"], datatype=["str", "str", "str", "str", "number"],
                                     interactive=False, wrap=True, label=T["doc_list"], elem_id="documents")
                with gr.Row():
                    pick = gr.Dropdown([], multiselect=True, label=T["remove_pick"], scale=4, min_width=200)
                    drop = gr.Button(T["remove"], variant="stop", scale=1, min_width=120)
                    refresh = gr.Button(T["refresh"], scale=1, min_width=100)
                remove_result = gr.Markdown()

        def _respond(msg, hist, lang, k, back):
            for chat, panel in respond(msg, hist, lang, k, back, backends=be):
                yield chat, panel, ""

        def _table():
            rows, choices = documents_table(be)
            return rows, gr.update(choices=choices, value=[])

        def _upload(fs, progress=gr.Progress(track_tqdm=True)):
            return upload(fs, progress, backends=be)

        def _remove(ids):
            return remove(ids, backends=be)

        ask_inputs = [question, chatbot, language, top_k, backend]
        ask_outputs = [chatbot, sources, question]
        question.submit(_respond, ask_inputs, ask_outputs, api_name="respond", concurrency_id="pipeline")
        send.click(_respond, ask_inputs, ask_outputs, api_visibility="private", concurrency_id="pipeline")
        clear.click(lambda: ([], render_sources(None)), None, [chatbot, sources], api_visibility="private")
        add.click(_upload, files, upload_result, api_name="upload", concurrency_id="pipeline") \
            .then(_table, None, [table, pick], api_visibility="private")
        drop.click(_remove, pick, remove_result, api_name="remove", concurrency_id="pipeline") \
            .then(_table, None, [table, pick], api_visibility="private")
        refresh.click(_table, None, [table, pick], api_visibility="private")
        demo.load(_table, None, [table, pick], api_visibility="private")
        def ask(question: str, language: str = "auto", top_k: int = 5) -> dict:
            """The answer to ``question`` as JSON: text with [n], language, citations, passages."""
            return ask_json(question, language, top_k, backends=be)

        gr.api(ask, api_name="ask", concurrency_id="pipeline")
    return demo


def launch_options() -> dict:
    """Options of ``launch()`` that the page needs (styles, the citation script, upload limit)."""
    return {"css": CSS, "js": CITE_JS, "max_file_size": MAX_UPLOAD_BYTES}


def use_persistent_storage() -> None:
    """On a Hugging Face Space with persistent storage (``/data``), keep the cache there so that
    the index survives restarts, unless ``QA_CACHE_DIR`` says otherwise."""
    data = Path("/data")
    if os.environ.get("SPACE_ID") and "QA_CACHE_DIR" not in os.environ and data.is_dir() and os.access(data, os.W_OK):
        os.environ["QA_CACHE_DIR"] = str(data / "vnnews-qa")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "bm25s", "urllib3", "faiss.loader"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    use_persistent_storage()
    _BACKENDS.base()  # build (first start) or load the index before the page comes up
    build_app().queue().launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                               **launch_options())


if __name__ == "__main__":
    main()
