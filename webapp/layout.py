"""The page: Gradio components and their wiring to :mod:`webapp.handlers`, styles, launch options.

Chat tab: answers stream in (a stop button cuts one short, regenerate asks again, each answer
has a copy button); every [n] opens its source under the answer (headline, outlet, date, the
passage with the cited sentence highlighted) and the chat keeps following the newest answer
(``webapp/static/page.js``); clicking an example asks it; the side panel lists the retrieved
passages with their scores; settings choose the answer language, the number of passages and,
when a model is configured, the answering backend; filters restrict the outlets and dates.
Documents tab: upload .txt, .md, .html, .pdf, .jsonl articles (indexed in the background, with
progress and a cancel button), search the list of articles (bundled and uploaded told apart),
remove them. ``/ask``, ``/respond``, ``/upload``, ``/cancel_upload`` and ``/remove`` are the API.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import gradio as gr

from qa import QAConfig

from .documents import cancel_upload, document_choices, documents_html, remove, source_choices, upload
from .handlers import (
    MAX_QUESTION_CHARS,
    MAX_TOP_K,
    Backends,
    ask_json,
    regenerate,
    respond,
    stopped,
)
from .render import PAGE_JS, render_sources
from .ui_text import LANGUAGE_CHOICES, T
from .uploads import MAX_UPLOAD_BYTES

__all__ = ["CSS", "EXAMPLES", "I18N", "build_app", "launch_options", "use_persistent_storage"]

#: Example questions, answered by the bundled articles (Vietnamese and English). Not "Who is the
#: spokesman of the Russian Defence Ministry?": the default answerer cites the wrong sentence for
#: it in English (BENCHMARKS.md, "The reader"); its Vietnamese form is right.
EXAMPLES = [
    "Ông Kerry gặp ông Putin ở đâu?",
    "Where did Kerry and Lavrov meet in August 2016?",
    "Nga đã triển khai những lực lượng nào đến Syria?",
    "Where were the earlier rounds of talks among 17 countries on Syria held?",
    "Ai là người phát ngôn Bộ Quốc phòng Nga?",
    "What did Carter and Shoygu discuss?",
]

#: Styles: readable sources in the light and the dark theme (explicit text colours on every
#: coloured background), and no horizontal overflow on a phone-width screen.
CSS = """
.answer mark, .src-passage mark { background: #ffe58a; color: #1f2328; padding: 0 .1em; border-radius: 2px; }
.dark .answer mark, .dark .src-passage mark { background: #7a5b00; color: #fff8e1; }
a.cite { font-weight: 600; text-decoration: none; cursor: pointer; }
.sources { margin-top: .6em; }
details.src { border-left: 3px solid #d0d7de; padding: .1em .6em; margin: .3em 0; }
details.src[open] { border-left-color: #e3b341; }
details.src.src-flash { background: rgba(227, 179, 65, .15); }
details.src summary { cursor: pointer; }
.src-meta { font-size: .85em; opacity: .8; margin: .2em 0; }
.src-passage { font-size: .92em; line-height: 1.5; }
.src-passage + .src-passage { border-top: 1px dashed #d0d7de; margin-top: .3em; padding-top: .3em; }
.sources-panel ol.passages { padding-left: 0; list-style: none; margin: 0; }
.sources-panel li.passage { border-bottom: 1px solid #d0d7de; padding: .4em 0; }
.sources-panel li.is-cited { border-left: 3px solid #e3b341; padding-left: .5em; }
.sources-panel .p-score { font-size: .8em; opacity: .75; }
.sources-panel .p-text { font-size: .88em; }
.sources-panel .panel-note { font-style: italic; }
.cited-tag { font-size: .8em; background: #ffe58a; color: #1f2328; border-radius: 4px; padding: 0 .3em; }
.dark .cited-tag { background: #7a5b00; color: #fff8e1; }
.stopped-note { font-size: .85em; opacity: .75; }
.doc-list table.docs { width: 100%; border-collapse: collapse; font-family: inherit; font-size: .92em; }
.doc-list th { text-align: left; font-weight: 600; padding: .3em .4em; line-height: 1.3;
               border-bottom: 2px solid #d0d7de; }
.doc-list td { padding: .3em .4em; border-bottom: 1px solid #d0d7de; vertical-align: top; }
.doc-list td.num { text-align: right; }
.doc-list code.doc-id { font-size: .8em; opacity: .7; }
.doc-list .origin-tag { font-size: .85em; border: 1px solid #d0d7de; border-radius: 4px; padding: 0 .3em;
                        white-space: nowrap; }
.doc-list .doc-count { margin: .2em 0; font-size: .9em; opacity: .8; }
#top-k input[type=number] { min-width: 3.5em; }
#top-k .min_value, #top-k .max_value { white-space: nowrap; overflow-wrap: normal; min-width: max-content; }
.gradio-container { max-width: 1200px !important; overflow-wrap: anywhere; }
@media (max-width: 640px) {
  .gradio-container { padding: 4px !important; }
  .doc-list table.docs, .doc-list tbody, .doc-list tr, .doc-list td { display: block; width: 100%; }
  .doc-list thead { display: none; }
  .doc-list tr { border: 1px solid #d0d7de; border-radius: 6px; margin: .4em 0; padding: .2em; }
  .doc-list td { border: none; padding: .15em .4em; }
  .doc-list td[data-label]:not(:first-child)::before { content: attr(data-label) ": "; opacity: .7; }
}
"""

#: The page's texts Gradio writes itself (the upload area), in both languages.
I18N = {"upload_text.drop_file": T["drop"], "upload_text.click_to_upload": T["click_upload"],
        "common.or": T["or"], "upload_text.drop_file_or": T["drop"]}


def build_app(backends: Backends | None = None) -> gr.Blocks:
    """The Blocks app over ``backends`` (default: :meth:`Backends.from_env`, built lazily: the page
    can be built before any index exists).

    Questions and uploads run in concurrency groups of their own: an upload is indexed by a
    background process (:mod:`qa.background`) and its handler only reports progress, so it
    never holds up a question; the cancel button and ``/remove`` are answered at once."""
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
                            stop = gr.Button(T["stop"], variant="stop", scale=1, min_width=80, elem_id="stop")
                        examples = gr.Examples(EXAMPLES, inputs=question, label=T["examples"])
                        with gr.Row():
                            again = gr.Button(T["regenerate"], size="sm", elem_id="regenerate")
                            clear = gr.Button(T["clear"], size="sm")
                    with gr.Column(scale=2, min_width=280):
                        with gr.Accordion(T["settings"], open=False):
                            language = gr.Radio(LANGUAGE_CHOICES, value="auto", label=T["language"])
                            top_k = gr.Slider(1, MAX_TOP_K, value=QAConfig().top_k, step=1, label=T["top_k"],
                                              elem_id="top-k")
                            backend = gr.Radio([(T[f"backend_{n}"], n) for n in be.names],
                                               value=be.default, label=T["backend"], visible=len(be.names) > 1)
                            if GENERATIVE_HELP and len(be.names) == 1:
                                gr.Markdown(T["space_help"], elem_id="space-help")
                        with gr.Accordion(T["filters"], open=False, elem_id="filters"):
                            only = gr.Dropdown([], multiselect=True, label=T["filter_sources"], elem_id="filter-sources")
                            with gr.Row():
                                date_from = gr.Textbox("", label=T["date_from"], placeholder=T["date_ph"],
                                                       elem_id="date-from", min_width=120)
                                date_to = gr.Textbox("", label=T["date_to"], placeholder=T["date_ph"],
                                                     elem_id="date-to", min_width=120)
                        gr.Markdown(f"#### {T['sources']}")
                        sources = gr.HTML(render_sources(None), elem_id="sources")
            with gr.Tab(T["tab_docs"], id="docs"):
                files = gr.File(label=T["upload"], file_count="multiple", elem_id="upload",
                                file_types=[".txt", ".md", ".html", ".htm", ".pdf", ".jsonl"])
                gr.Markdown(T["upload_help"].format(mb=MAX_UPLOAD_BYTES // 2**20))
                with gr.Row():
                    add = gr.Button(T["add"], variant="primary", elem_id="add", scale=3)
                    cancel = gr.Button(T["cancel"], variant="stop", elem_id="cancel-upload", scale=1)
                upload_result = gr.Markdown(elem_id="upload-result")
                job_id = gr.State("")
                gr.Markdown(f"#### {T['doc_list']}")
                search = gr.Textbox(label=T["doc_search"], placeholder=T["doc_search_ph"], elem_id="doc-search")
                table = gr.HTML(elem_id="documents")
                with gr.Row():
                    pick = gr.Dropdown([], multiselect=True, label=T["remove_pick"], scale=4, min_width=200,
                                       elem_id="remove-pick")
                    drop = gr.Button(T["remove"], variant="stop", scale=1, min_width=120)
                    refresh = gr.Button(T["refresh"], scale=1, min_width=100)
                remove_result = gr.Markdown(elem_id="remove-result")

        settings = [language, top_k, backend, only, date_from, date_to]

        def _respond(msg: str, hist: list[dict], lang: str = "auto", k: int = 5, back: str | None = None,
                     srcs: list[str] | None = None, d_from: str = "", d_to: str = "",
                     ) -> Iterator[tuple[list[dict], str, str]]:
            for chat, panel in respond(msg, hist, lang, k, back, srcs, d_from, d_to, backends=be):
                yield chat, panel, ""

        def _regenerate(hist: list[dict], lang: str, k: int, back: str, srcs: list[str] | None, d_from: str,
                        d_to: str) -> Iterator[tuple[list[dict], str]]:
            yield from regenerate(hist, None, lang, k, back, srcs, d_from, d_to, backends=be)

        def _lists(query: str = "") -> tuple[str, dict, dict]:
            return (documents_html(be, query or ""), gr.update(choices=document_choices(be), value=[]),
                    gr.update(choices=source_choices(be)))

        def _upload(fs: list | None, progress: gr.Progress = gr.Progress()) -> Iterator[tuple[str, str]]:  # noqa: B008 - Gradio's way to ask for a progress bar
            seen: list[str] = []
            for text in upload(fs, progress, backends=be, on_job=seen.append):
                yield text, (seen[-1] if seen else "")

        def _cancel(job: str) -> str:
            return cancel_upload(job, backends=be)

        def _remove(ids: list[str] | None) -> str:
            return remove(ids, backends=be)

        ask_inputs = [question, chatbot, *settings]
        ask_outputs = [chatbot, sources, question]
        asked = [question.submit(_respond, ask_inputs, ask_outputs, api_name="respond", concurrency_id="ask",
                                 concurrency_limit=4),
                 send.click(_respond, ask_inputs, ask_outputs, api_visibility="private", concurrency_id="ask"),
                 examples.load_input_event.then(_respond, ask_inputs, ask_outputs, api_visibility="private",
                                                concurrency_id="ask")]
        asked.append(again.click(_regenerate, [chatbot, *settings], [chatbot, sources], api_visibility="private",
                                 concurrency_id="ask"))
        stop.click(stopped, chatbot, chatbot, cancels=asked, api_visibility="private", queue=False)
        clear.click(lambda: ([], render_sources(None)), None, [chatbot, sources], api_visibility="private")
        lists = [table, pick, only]
        add.click(_upload, files, [upload_result, job_id], api_name="upload", concurrency_id="upload") \
            .then(_lists, search, lists, api_visibility="private")
        cancel.click(_cancel, job_id, upload_result, api_name="cancel_upload", queue=False)
        drop.click(_remove, pick, remove_result, api_visibility="private", concurrency_id="documents") \
            .then(_lists, search, lists, api_visibility="private")
        refresh.click(_lists, search, lists, api_visibility="private")
        search.change(lambda q: documents_html(be, q or ""), search, table, api_visibility="private",
                      queue=False)
        demo.load(_lists, search, lists, api_visibility="private")

        def ask(question: str, language: str = "auto", top_k: int = 5, sources: list[str] | None = None,
                date_from: str = "", date_to: str = "") -> dict:
            """The answer to ``question`` as JSON: text with [n], language, citations, passages;
            ``sources`` / ``date_from`` / ``date_to`` restrict the articles searched."""
            return ask_json(question, language, top_k, sources, date_from, date_to, backends=be)

        def remove_documents(doc_ids: list[str]) -> str:
            """Remove articles from the index by id (``python -m qa list`` or the Documents tab
            shows them); ids that are not in the index are named in the answer."""
            return remove(doc_ids, backends=be)

        gr.api(ask, api_name="ask", concurrency_id="ask")
        gr.api(remove_documents, api_name="remove", concurrency_id="documents")
    return demo


#: Show how a Space owner turns on generative answers when none is configured.
GENERATIVE_HELP = True


def launch_options() -> dict:
    """Options of ``launch()`` that the page needs (styles, the page script, upload limit, the
    upload area's texts in both languages)."""
    return {"css": CSS, "js": PAGE_JS, "max_file_size": MAX_UPLOAD_BYTES, "i18n": gr.I18n(en=I18N, vi=I18N)}


def use_persistent_storage() -> None:
    """On a Hugging Face Space with persistent storage (``/data``), keep the cache there so that
    the index survives restarts, unless ``QA_CACHE_DIR`` says otherwise."""
    data = Path("/data")
    if os.environ.get("SPACE_ID") and "QA_CACHE_DIR" not in os.environ and data.is_dir() and os.access(data, os.W_OK):
        os.environ["QA_CACHE_DIR"] = str(data / "vnnews-qa")
