"""HTML for answers and their sources, as the chat shows them.

Every ``[n]`` of an answer becomes a link ``<a class="cite" href="#src-T-n">`` to a collapsed
``<details id="src-T-n">`` under the answer that holds source n: headline, outlet, date, link and
the passage with the cited sentence in ``<mark>``. The app's page script (:data:`CITE_JS`) opens
the details when its link is clicked; without the script the link still jumps to it. ``T``
numbers the turn so that links of earlier answers keep pointing at their own sources.

All text that comes from documents or questions is HTML-escaped, and the characters that
Markdown or LaTeX would interpret (the chat renders Markdown) are written as character
references, so an article can neither inject markup nor be reformatted.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

from corpus.document import Document
from qa.answering.citations import MARKER
from qa.types import Answer, Citation, Passage

from .ui_text import T

__all__ = ["escape", "plain_text", "render_answer", "render_sources", "highlight", "CITE_JS"]

#: Characters that Markdown (and the chat's LaTeX) would interpret in plain text.
#: One pass over the text: HTML's own specials and these become character references.
#: Line breaks become <br>: a blank line would end the HTML block and let Markdown in.
_ESCAPES = {**{c: f"&#{ord(c)};" for c in "\\`*_[]#|~$"},
            "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "\n": "<br>", "\r": ""}
#: Characters of a passage shown around the cited sentence in the sources panel's snippets.
SNIPPET_CHARS = 220

#: Page script: a click on a citation link opens (and scrolls to) the source it points to.
#: The chat's sanitizer keeps ``id``, ``class`` and ``href`` but drops ``data-*`` attributes,
#: hence the lookup by the link's fragment.
CITE_JS = """
() => {
  document.addEventListener('click', (event) => {
    const link = event.target.closest('a.cite');
    if (!link) return;
    const target = document.getElementById((link.getAttribute('href') || '').slice(1));
    if (!target) return;
    event.preventDefault();
    event.stopPropagation();
    target.open = true;
    target.classList.add('src-flash');
    setTimeout(() => target.classList.remove('src-flash'), 1200);
    target.scrollIntoView({block: 'nearest', behavior: 'smooth'});
  }, true);
}
"""


def escape(text: str) -> str:
    """HTML-escape ``text``, neutralise Markdown/LaTeX syntax characters, keep line breaks."""
    return "".join(_ESCAPES.get(c, c) for c in text or "")


def _source_id(turn: int, n: int) -> str:
    return f"src-{turn}-{n}"


def _link_markers(text: str, known: set[int], turn: int) -> str:
    """Escape ``text`` and turn each known citation number of its markers into a link."""
    out, last = [], 0
    for m in MARKER.finditer(text):
        out.append(escape(text[last:m.start()]))
        nums = [int(x) for x in re.findall(r"\d+", m.group(1))]
        if any(n in known for n in nums):
            links = [f'<a class="cite" href="#{_source_id(turn, n)}">&#91;{n}&#93;</a>' if n in known
                     else f"&#91;{n}&#93;" for n in nums]
            out.append("".join(links))
        else:
            out.append(escape(m.group(0)))
        last = m.end()
    out.append(escape(text[last:]))
    return "".join(out)


def highlight(citation: Citation, passage_start: int | None = None) -> str:
    """The citation's passage, escaped, with the cited sentence in ``<mark>``.

    ``passage_start`` is the passage's offset in the document (from the retrieved passage);
    without it the sentence is located by its text.
    """
    text = citation.passage_text or ""
    a = b = -1
    if passage_start is not None:
        a, b = citation.start - passage_start, citation.end - passage_start
        if not (0 <= a < b <= len(text)) or text[a:b].strip() != citation.sentence.strip():
            a = b = -1
    if a < 0 and citation.sentence:
        a = text.find(citation.sentence.strip())
        b = a + len(citation.sentence.strip()) if a >= 0 else -1
    if a < 0:  # the sentence is not in the passage text: show both
        return f"<mark>{escape(citation.sentence)}</mark>" + (f" … {escape(text)}" if text else "")
    return f"{escape(text[:a])}<mark>{escape(text[a:b])}</mark>{escape(text[b:])}"


def _meta_line(source: str, date: str, url: str) -> str:
    parts = [escape(x) for x in (source, date) if x]
    if url and re.match(r"https?://", url):
        parts.append(f'<a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener noreferrer">'
                     f'{escape(T["link"])}</a>')
    return " · ".join(parts)


def _source_details(c: Citation, turn: int, passages: Mapping[int, Passage],
                    documents: Mapping[str, Document]) -> str:
    doc = documents.get(c.doc_id)
    title = c.title or (doc.title if doc else "") or c.doc_id
    date = doc.date if doc is not None else ""
    p = passages.get(c.passage_id)
    meta = _meta_line(c.source, date, c.url)
    return (f'<details class="src" id="{_source_id(turn, c.n)}"><summary><b>&#91;{c.n}&#93;</b> '
            f'<span class="src-title">{escape(title)}</span></summary>'
            + (f'<div class="src-meta">{meta}</div>' if meta else "")
            + f'<div class="src-passage">{highlight(c, p.start if p else None)}</div></details>')


def render_answer(answer: Answer, documents: Mapping[str, Document] | None = None, turn: int = 0) -> str:
    """The chat message for an answer: the text with linked ``[n]`` and, once the answer is
    final, its sources (collapsed) under it. ``documents`` (id → Document) supplies dates."""
    documents = documents or {}
    known = {c.n for c in answer.citations}
    body = _link_markers(answer.text, known, turn)
    # The extractive answer leads with its short answer span in Markdown bold ("**Moskva** – …").
    body = _LEAD.sub(r"<strong>\1</strong>", body, count=1)
    if answer.partial:
        return f'<div class="answer partial">{body} ▍</div>'
    out = [f'<div class="answer">{body}</div>']
    if answer.citations:
        passages = {p.id: p for p in answer.passages}
        out.append('<div class="sources">'
                   + "".join(_source_details(c, turn, passages, documents) for c in answer.citations)
                   + "</div>")
    return "".join(out)


def _snippet(p: Passage, cited: list[Citation]) -> str:
    text = p.text
    if cited:  # around the first cited sentence of this passage
        c = cited[0]
        a = max(0, c.start - p.start - SNIPPET_CHARS // 2)
    else:
        a = 0
    b = min(len(text), a + SNIPPET_CHARS)
    return ("… " if a > 0 else "") + escape(text[a:b]) + (" …" if b < len(text) else "")


def render_sources(answer: Answer | None, documents: Mapping[str, Document] | None = None) -> str:
    """The sources panel: every retrieved passage with its rank, scores, article and whether
    the answer cites it."""
    if answer is None or not answer.passages:
        return f'<div class="sources-panel"><p>{escape(T["sources_empty"])}</p></div>'
    documents = documents or {}
    rows = []
    for p in answer.passages:
        cited = [c for c in answer.citations if c.passage_id == p.id]
        doc = documents.get(p.doc_id)
        channels = " ".join(f"{escape(k)} {v:.3f}" for k, v in sorted(p.scores.items()))
        tag = (f'<span class="cited-tag">{escape(T["cited"])} '
               + "".join(f"&#91;{c.n}&#93;" for c in cited) + "</span>") if cited else ""
        meta = _meta_line(p.source, doc.date if doc else "", p.url)
        rows.append(
            f'<li class="passage{" is-cited" if cited else ""}"><div class="p-head">'
            f'<span class="p-rank">#{p.rank}</span> <b>{escape(p.title or p.doc_id)}</b> {tag}</div>'
            + (f'<div class="src-meta">{meta}</div>' if meta else "")
            + f'<div class="p-score">{escape(T["score"])} {p.score:.3f}'
            + (f' <span class="p-channels">({channels})</span>' if channels else "") + "</div>"
            f'<div class="p-text">{_snippet(p, cited)}</div></li>')
    return f'<div class="sources-panel"><ol class="passages">{"".join(rows)}</ol></div>'


_TAG = re.compile(r"<[^>]+>")
#: The bold lead span of an answer once escaped (``*`` is written as ``&#42;``).
_LEAD = re.compile(r"^&#42;&#42;(.+?)&#42;&#42;")


def plain_text(message_html: str) -> str:
    """The answer text of a rendered chat message (sources and markup dropped), so that the
    conversation can be handed back to the pipeline as history."""
    cut = message_html.find('<div class="sources">')
    if cut >= 0:
        message_html = message_html[:cut]
    message_html = message_html.replace("<strong>", "**").replace("</strong>", "**")
    text = _TAG.sub("", message_html.replace("<br>", "\n"))
    return html.unescape(text).replace("▍", "").strip()
