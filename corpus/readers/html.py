"""HTML pages: the main text extracted with trafilatura, the page's metadata kept."""

from __future__ import annotations

import re
from pathlib import Path

from ..cleaning import clean_article
from ..document import Document
from ..normalize import normalize_text
from .base import MAX_ARTICLE_BYTES, ReadError, ReadProblem, make_document, one_document
from .decode import bom_encoding, read_limited
from .sidecar import sidecar_extra, sidecar_title

__all__ = ["read_html"]


def read_html(path: Path, entry: dict, problems: list[ReadProblem] | None) -> list[Document]:
    """HTML: main-text extraction with trafilatura (offline, from the file's bytes)."""
    import trafilatura  # imported lazily: it pulls in lxml, htmldate, justext

    data = read_limited(path, MAX_ARTICLE_BYTES)  # bytes: trafilatura honours the declared charset
    if b"\x00" in data[:8192] and bom_encoding(data) is None:
        raise ReadError(path, "binary data (NUL bytes), not an HTML page", kind="binary")
    try:
        tree = trafilatura.load_html(data)
    except Exception as exc:  # lxml raises a variety of parser errors
        raise ReadError(path, f"cannot parse HTML ({exc})") from exc
    if tree is None:
        raise ReadError(path, "cannot parse HTML (empty or not HTML)")
    meta = trafilatura.extract_metadata(tree)
    # <noscript> holds "enable JavaScript" notices, never the article; trafilatura keeps its
    # text, so a page of scripts would become an "article" saying "Bật JavaScript".
    for node in tree.xpath("//noscript"):
        node.drop_tree()
    body = trafilatura.extract(
        tree,
        output_format="txt",
        include_comments=False,  # reader comments are not the article
        include_tables=False,  # layout/stats tables read badly as prose
        favor_precision=True,  # rather lose a marginal line than keep navigation text
    ) or ""
    page = {
        "headline": (meta.title or "") if meta else "",
        "source": (meta.sitename or "") if meta else "",
        "url": (meta.url or "") if meta else "",
        "date": (meta.date or "") if meta else "",
        "author": (meta.author or "") if meta else "",
    }
    page = {k: normalize_text(v).strip() for k, v in page.items()}
    if page["source"]:  # "<headline> - <site name>" from a <title> tag: keep the headline
        suffix = re.compile(rf"\s+[-|–—:]\s+{re.escape(page['source'])}\s*$", re.IGNORECASE)
        page["headline"] = suffix.sub("", page["headline"])
    page.update({k: v for k, v in entry.items() if v})  # the sidecar, written by a person, wins
    cleaned = clean_article(body, title=sidecar_title(page))
    doc = make_document(cleaned, path, fmt="html", meta=page,
                           extra=sidecar_extra(entry))
    return one_document(doc, path, problems, "no article text in the page (only scripts, menus or markup?)")
