"""Answers and sources as HTML (webapp.render): links to every cited source, escaping."""

from __future__ import annotations

import html
import re

import pytest

from qa.types import Answer, Citation, Passage
from webapp.render import escape, plain_text, render_answer, render_sources

pytestmark = pytest.mark.usefixtures("one_torch_thread")



# --------------------------------------------------------------------------- rendering

def test_render_links_every_citation_to_its_source(bundled_pipeline, bundled_docs):
    answer = bundled_pipeline.ask("Where did Kerry and Lavrov meet in August 2016?")
    assert answer.citations
    out = render_answer(answer, bundled_pipeline.index.documents, turn=3)
    # English frame, after the bold short answer when there is one
    assert re.match(r'<div class="answer">(<strong>[^<]+</strong> – a|A)ccording to ', out)
    assert ("<strong>" in out) == answer.text.startswith("**")  # the lead span is bold, not literal **
    for c in answer.citations:
        assert f'<a class="cite" href="#src-3-{c.n}">&#91;{c.n}&#93;</a>' in out
        details = re.search(rf'<details class="src" id="src-3-{c.n}">(.*?)</details>', out).group(1)
        doc = bundled_pipeline.index.documents[c.doc_id]
        assert escape(doc.title) in details
        assert escape(c.source) in details
        if doc.date:
            assert doc.date in details
        # the passage is shown with exactly the cited sentence marked
        marked = re.search(r"<mark>(.*?)</mark>", details).group(1)
        assert html.unescape(marked.replace("<br>", "\n")).strip() == c.sentence
    # the article of 26 August 2016 is among the sources, with its date
    assert any(bundled_pipeline.index.documents[c.doc_id].date == "2016-08-26" for c in answer.citations)
    assert plain_text(out) == answer.text


def test_render_partial_answer_has_links_but_no_sources_yet(bundled_pipeline):
    final = bundled_pipeline.ask("Ông Kerry gặp ông Putin ở đâu?")
    partial = Answer(**{**final.__dict__, "partial": True, "text": final.text[: final.text.index("]") + 1]})
    out = render_answer(partial, bundled_pipeline.index.documents)
    assert 'class="answer partial"' in out and '<a class="cite" href="#src-0-1">' in out
    assert "<details" not in out


def test_render_escapes_markup_from_documents_and_answers():
    text = 'Tin <b>nóng</b>: "A & B" *đậm* `mã` $x$ ở [1].'
    passage_text = "Câu trước.\n\n" + text + "\n<script>alert(1)</script>"
    start = passage_text.index(text)
    p = Passage(id=7, doc_id="d1", title="<img src=x onerror=alert(1)>", source="Báo <i>X</i>",
                url="javascript:alert(1)", text=passage_text, start=100, end=100 + len(passage_text),
                sentences=[(100 + start, 100 + start + len(text))], score=1.0, rank=1, scores={"dense": 0.9})
    c = Citation(n=1, doc_id="d1", title=p.title, source=p.source, url=p.url, passage_id=7,
                 passage_text=passage_text, start=100 + start, end=100 + start + len(text),
                 sentence=text, score=1.0)
    a = Answer(question="q", text=text, language="vi", citations=[c], passages=[p], timings={})
    for out in (render_answer(a), render_sources(a)):
        for raw in ("<b>nóng", "<script>", "<img", "<i>X", "javascript:", "`", "*", "$"):
            assert raw not in out, raw
        assert "&lt;img src=x onerror=alert(1)&gt;" in out
        assert "\n\n" not in out  # a blank line would let Markdown parse the rest
    out = render_answer(a)
    assert out.count("<mark>") == 1
    assert '<a class="cite" href="#src-0-1">&#91;1&#93;</a>' in out


def test_sources_panel_lists_every_retrieved_passage_with_scores(bundled_pipeline):
    answer = bundled_pipeline.ask("Ai là người phát ngôn Bộ Quốc phòng Nga?", top_k=4)
    panel = render_sources(answer, bundled_pipeline.index.documents)
    items = re.findall(r'<li class="passage( is-cited)?">(.*?)</li>', panel)
    assert len(items) == len(answer.passages) == 4
    for (cited, body), p in zip(items, answer.passages):
        assert f"#{p.rank}" in body and f"{p.score:.3f}" in body
        assert f"dense {p.scores['dense']:.3f}" in body
        assert bool(cited) == any(c.passage_id == p.id for c in answer.citations)
    assert "No question yet" in render_sources(None)


