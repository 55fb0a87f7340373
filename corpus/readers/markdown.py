"""Markdown articles: the markup is stripped, a leading ``# Title`` is the title."""

from __future__ import annotations

import re
from pathlib import Path

from ..cleaning import clean_article
from ..document import Document
from .base import ReadProblem, make_document, one_document
from .decode import read_text
from .sidecar import sidecar_extra, sidecar_title

__all__ = ["read_md", "strip_markdown"]


# Markdown. No Markdown library: markdown-it-py is only present in this environment as a transitive
# dependency (of rich), and news articles in Markdown use a handful of constructs (headings,
# emphasis, links, images, lists, quotes, code spans). A parser would render HTML that then needs
# unescaping and tag stripping; these substitutions drop the markup and leave every character of
# the prose as written. Only blanks and tabs ([ \t], never \s) are matched around markers, so the
# blank lines that separate paragraphs survive.
_MD_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^[ \t]*(?:```|~~~).*$", re.MULTILINE), ""),  # code fences (the code is kept)
    (re.compile(r"<!--.*?-->", re.DOTALL), ""),  # HTML comments
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), ""),  # images ![alt](src): the alt is not prose
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # links [text](url) → text
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),  # reference links [text][ref] → text
    (re.compile(r"^[ \t]{0,3}\[[^\]]+\]:[ \t]*\S+.*$", re.MULTILINE), ""),  # link definitions
    (re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(.*?)[ \t]*#*[ \t]*$", re.MULTILINE), r"\1"),  # ATX headings
    (re.compile(r"^[ \t]{0,3}(?:[-*_][ \t]*){3,}$", re.MULTILINE), ""),  # thematic breaks
    (re.compile(r"^[ \t]{0,3}>[ \t]?", re.MULTILINE), ""),  # block quotes
    (re.compile(r"^([ \t]*)[-*+][ \t]+", re.MULTILINE), r"\1"),  # bullet markers
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),  # strong
    (re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?!\w)"), r"\1"),  # *em*
    (re.compile(r"(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?!\w)"), r"\1"),  # _em_
    (re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"), r"\1"),  # strikethrough
    (re.compile(r"`([^`\n]+)`"), r"\1"),  # code spans
)
# "# Title" as the first line (after optional YAML front matter).
_MD_TITLE_RE = re.compile(r"\A\s*(?:---\n.*?\n---\n\s*)?#[ \t]+([^\n]+?)[ \t]*#*[ \t]*$",
                          re.MULTILINE | re.DOTALL)
_MD_FRONT_MATTER_RE = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)


def strip_markdown(text: str) -> str:
    """Remove simple Markdown markup, keeping the text of headings, emphasis and links."""
    text = _MD_FRONT_MATTER_RE.sub("", text.replace("\r\n", "\n"))
    for pattern, repl in _MD_RULES:
        text = pattern.sub(repl, text)
    return text


def read_md(path: Path, entry: dict, problems: list[ReadProblem] | None) -> list[Document]:
    """Markdown: a leading ``# Title`` is the title; the markup is stripped before cleaning."""
    raw = read_text(path)
    title = sidecar_title(entry)
    m = _MD_TITLE_RE.match(raw.replace("\r\n", "\n"))
    if m and title is None:
        title = strip_markdown(m.group(1)).strip()
    cleaned = clean_article(strip_markdown(raw), title=title)
    doc = make_document(cleaned, path, fmt="md", meta=entry,
                           extra=sidecar_extra(entry))
    return one_document(doc, path, problems)
