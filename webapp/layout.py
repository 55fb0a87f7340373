"""The page: Gradio components and their wiring to :mod:`webapp.handlers`, styles, launch options.

Chat tab: answers stream in; every [n] opens its source under the answer (headline, outlet,
date, the passage with the cited sentence highlighted); the side panel lists the retrieved
passages with their scores; settings choose the answer language, the number of passages and,
when a model is configured, the answering backend. Documents tab: upload .txt, .md, .html,
.pdf, .jsonl articles into the index, list and remove them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import gradio as gr

from qa import QAConfig

from .handlers import (
    EXTRACTIVE,
    MAX_QUESTION_CHARS,
    MAX_TOP_K,
    Backends,
    ask_json,
    documents_table,
    remove,
    respond,
    upload,
)
from .render import CITE_JS, render_sources
from .ui_text import LANGUAGE_CHOICES, T
from .uploads import MAX_UPLOAD_BYTES

__all__ = ["CSS", "EXAMPLES", "build_app", "launch_options", "use_persistent_storage"]

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


def build_app(backends: Backends | None = None) -> gr.Blocks:
    """The Blocks app over ``backends`` (default: :meth:`Backends.from_env`, built lazily: the page
    can be built before any index exists)."""
    be = backends if backends is not None else Backends.from_env()
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

        def _respond(msg: str, hist: list[dict], lang: str, k: int, back: str) -> Iterator[tuple[list[dict], str, str]]:
            for chat, panel in respond(msg, hist, lang, k, back, backends=be):
                yield chat, panel, ""

        def _table():
            rows, choices = documents_table(be)
            return rows, gr.update(choices=choices, value=[])

        def _upload(fs: list | None, progress: gr.Progress = gr.Progress(track_tqdm=True)) -> str:  # noqa: B008 - Gradio's way to ask for a progress bar
            return upload(fs, progress, backends=be)

        def _remove(ids: list[str] | None) -> str:
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
