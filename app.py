"""Gradio chat over the bundled Vietnamese news (also the Hugging Face Space entry point).

    python app.py            # http://127.0.0.1:7860 ; set GRADIO_SERVER_NAME=0.0.0.0 to expose

Each answer shows its [n]-marked sentences and, under them, the numbered sources: article
title, outlet, link, and the exact cited sentence. The index of the bundled articles is
built on first start (about a minute on 2 cores) and reused afterwards.
"""

from __future__ import annotations

import html
import os

import gradio as gr

from qa import Answer, default_pipeline

EXAMPLES = [
    "Ông Kerry gặp ông Putin ở đâu?",
    "Where did Kerry and Lavrov meet in August 2016?",
    "Nga đã triển khai những lực lượng nào đến Syria?",
    "Who is the spokesman of the Russian Defence Ministry?",
]


def render(answer: Answer) -> str:
    """Markdown for one answer: the text, then its numbered sources with the cited sentence."""
    out = [html.escape(answer.text, quote=False)]
    if answer.citations:
        out.append("\n\n**" + ("Nguồn" if answer.language == "vi" else "Sources") + "**")
        for c in answer.citations:
            title = html.escape(c.title or c.doc_id, quote=False)
            link = f"[{title}]({c.url})" if c.url else title
            meta = f" — {html.escape(c.source, quote=False)}" if c.source else ""
            out.append(f"\n{c.n}. {link}{meta}  \n   > {html.escape(c.sentence, quote=False)}")
    return "\n".join(out)


def respond(message: str, history: list) -> str:
    if not message or not message.strip():
        return "Hãy đặt một câu hỏi. / Please ask a question."
    return render(default_pipeline().ask(message))


def build_app() -> gr.ChatInterface:
    return gr.ChatInterface(
        fn=respond,
        title="Hỏi đáp tin tức Việt Nam · Vietnamese news QA",
        description=("Trả lời bằng câu trích từ các bài báo, mỗi ý có trích dẫn [n]. "
                     "Answers quote the articles; every claim carries a citation [n]."),
        examples=EXAMPLES,
        cache_examples=False,
    )


if __name__ == "__main__":
    default_pipeline(progress=True)  # build or load the index before the UI comes up
    build_app().launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
