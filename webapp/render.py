"""HTML for answers and their sources, as the chat shows them.

Every ``[n]`` of an answer becomes a link ``<a class="cite" href="#src-T-n">`` to a collapsed
``<details id="src-T-n">`` under the answer that holds source n: headline, outlet, date, link and
the passage with the cited sentence in ``<mark>``. Citations of the same article under the same
headline share one entry (``[1] [2] headline``, both sentences marked; each link points at it).
The app's page script (``webapp/static/page.js``) opens the details when its link is clicked;
without the script the link still jumps to it. ``T`` numbers the turn so that links of earlier
answers keep pointing at their own sources.

The sources panel lists the retrieved passages with their scores; when the answer is a
refusal, they are not evidence, and the panel says so and keeps them folded away.

All text that comes from documents or questions is HTML-escaped, and the characters that
Markdown or LaTeX would interpret (the chat renders Markdown) are written as character
references, so an article can neither inject markup nor be reformatted.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from corpus.document import Document
from qa.answering.citations import MARKER
from qa.types import Answer, Citation, Passage

from .ui_text import T, escape

__all__ = ["escape", "plain_text", "render_answer", "render_sources", "highlight", "source_groups", "PAGE_JS"]

#: Characters of a passage shown around the cited sentence in the sources panel's snippets.
SNIPPET_CHARS = 220

#: The page's script (citations, autoscroll, example clicks, copy): ``webapp/static/page.js``.
PAGE_JS = (Path(__file__).parent / "static" / "page.js").read_text(encoding="utf-8")


def _source_id(turn: int, n: int) -> str:
    return f"src-{turn}-{n}"


def _link_markers(text: str, known: set[int] | Mapping[int, int], turn: int) -> str:
    """Escape ``text`` and turn each known citation number of its markers into a link (to the
    entry ``known[n]`` when ``known`` maps numbers to their shared source entry)."""
    target = known if isinstance(known, Mapping) else {n: n for n in known}
    out, last = [], 0
    for m in MARKER.finditer(text):
        out.append(escape(text[last:m.start()]))
        nums = [int(x) for x in re.findall(r"\d+", m.group(1))]
        if any(n in known for n in nums):
            links = [f'<a class="cite" href="#{_source_id(turn, target[n])}">&#91;{n}&#93;</a>' if n in known
                     else f"&#91;{n}&#93;" for n in nums]
            out.append("".join(links))
        else:
            out.append(escape(m.group(0)))
        last = m.end()
    out.append(escape(text[last:]))
    return "".join(out)


def _span(citation: Citation, text: str, passage_start: int | None) -> tuple[int, int]:
    a = b = -1
    if passage_start is not None:
        a, b = citation.start - passage_start, citation.end - passage_start
        if not (0 <= a < b <= len(text)) or text[a:b].strip() != citation.sentence.strip():
            a = b = -1
    if a < 0 and citation.sentence:
        a = text.find(citation.sentence.strip())
        b = a + len(citation.sentence.strip()) if a >= 0 else -1
    return a, b


def highlight(citation: Citation | Sequence[Citation], passage_start: int | None = None) -> str:
    """The citation's passage, escaped, with the cited sentence in ``<mark>`` (several citations
    of one passage: each of their sentences marked).

    ``passage_start`` is the passage's offset in the document (from the retrieved passage);
    without it the sentence is located by its text.
    """
    cites = [citation] if isinstance(citation, Citation) else list(citation)
    text = cites[0].passage_text or ""
    spans = sorted(sp for sp in (_span(c, text, passage_start) for c in cites) if sp[0] >= 0)
    if not spans:  # the sentence is not in the passage text: show both
        return "".join(f"<mark>{escape(c.sentence)}</mark> " for c in cites).rstrip() + (
            f" … {escape(text)}" if text else "")
    out, last = [], 0
    for a, b in spans:
        a = max(a, last)
        if a >= b:
            continue
        out.append(escape(text[last:a]) + f"<mark>{escape(text[a:b])}</mark>")
        last = b
    return "".join(out) + escape(text[last:])


def _meta_line(source: str, date: str, url: str) -> str:
    parts = [escape(x) for x in (source, date) if x]
    if url and re.match(r"https?://", url):
        parts.append(f'<a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener noreferrer">'
                     f'{escape(T["link"])}</a>')
    return " · ".join(parts)


def source_groups(citations: Sequence[Citation]) -> list[list[Citation]]:
    """The citations in source entries: those of one article under one headline together, in
    the order of their first citation."""
    groups: dict[tuple[str, str], list[Citation]] = {}
    for c in citations:
        groups.setdefault((c.doc_id, c.title), []).append(c)
    return list(groups.values())


def _source_details(group: list[Citation], turn: int, passages: Mapping[int, Passage],
                    documents: Mapping[str, Document]) -> str:
    c = group[0]
    doc = documents.get(c.doc_id)
    title = c.title or (doc.title if doc else "") or c.doc_id
    date = doc.date if doc is not None else ""
    meta = _meta_line(c.source, date, c.url)
    by_passage: dict[int, list[Citation]] = {}
    for x in group:
        by_passage.setdefault(x.passage_id, []).append(x)
    bodies = []
    for pid, cites in by_passage.items():
        p = passages.get(pid)
        bodies.append(f'<div class="src-passage">{highlight(cites, p.start if p else None)}</div>')
    numbers = " ".join(f"<b>&#91;{x.n}&#93;</b>" for x in group)
    return (f'<details class="src" id="{_source_id(turn, c.n)}"><summary>{numbers} '
            f'<span class="src-title">{escape(title)}</span></summary>'
            + (f'<div class="src-meta">{meta}</div>' if meta else "")
            + "".join(bodies) + "</details>")


def render_answer(answer: Answer, documents: Mapping[str, Document] | None = None, turn: int = 0) -> str:
    """The chat message for an answer: the text with linked ``[n]`` and, once the answer is
    final, its sources (collapsed) under it, one entry per article and headline.
    ``documents`` (id → Document) supplies dates."""
    documents = documents or {}
    groups = source_groups(answer.citations)
    entry = {c.n: g[0].n for g in groups for c in g}
    body = _link_markers(answer.text, entry, turn)
    # The extractive answer leads with its short answer span in Markdown bold ("**Moskva** – …").
    body = _LEAD.sub(r"<strong>\1</strong>", body, count=1)
    if answer.partial:
        return f'<div class="answer partial">{body} ▍</div>'
    kind = " chitchat" if answer.answerer == "chitchat" else (" refused" if not answer.found else "")
    out = [f'<div class="answer{kind}">{body}</div>']
    if answer.citations:
        passages = {p.id: p for p in answer.passages}
        out.append('<div class="sources">'
                   + "".join(_source_details(g, turn, passages, documents) for g in groups)
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


def _passage_rows(answer: Answer, documents: Mapping[str, Document]) -> str:
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
    return "".join(rows)


def render_sources(answer: Answer | None, documents: Mapping[str, Document] | None = None) -> str:
    """The sources panel: every retrieved passage with its rank, scores, article and whether
    the answer cites it. For a refusal the passages are not evidence: a note says so and they
    stay folded; small talk retrieves nothing."""
    if answer is not None and answer.answerer == "chitchat":
        return f'<div class="sources-panel"><p class="panel-note">{escape(T["chitchat_note"])}</p></div>'
    if answer is None or not answer.passages:
        return f'<div class="sources-panel"><p>{escape(T["sources_empty"])}</p></div>'
    documents = documents or {}
    rows = _passage_rows(answer, documents)
    if not answer.found and not answer.partial:
        return (f'<div class="sources-panel refused"><p class="panel-note">{escape(T["refused_note"])}</p>'
                f'<details class="not-evidence"><summary>{len(answer.passages)} '
                f'{escape(T["closest"])}</summary><ol class="passages">{rows}</ol></details></div>')
    return f'<div class="sources-panel"><ol class="passages">{rows}</ol></div>'


_TAG = re.compile(r"<[^>]+>")
#: The bold lead span of an answer once escaped (``*`` is written as ``&#42;``).
_LEAD = re.compile(r"^&#42;&#42;(.+?)&#42;&#42;")


def plain_text(message_html: str) -> str:
    """The answer text of a rendered chat message (sources and markup dropped), so that the
    conversation can be handed back to the pipeline as history."""
    for marker in ('<div class="sources">', '<div class="stopped-note">'):
        cut = message_html.find(marker)
        if cut >= 0:
            message_html = message_html[:cut]
    message_html = message_html.replace("<strong>", "**").replace("</strong>", "**")
    text = _TAG.sub("", message_html.replace("<br>", "\n"))
    return html.unescape(text).replace("▍", "").strip()
