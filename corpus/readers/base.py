"""What every reader shares: the errors and size limits, the problem report, and the
:class:`~corpus.document.Document` built from a cleaned article (title fallback, metadata)."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ..cleaning import CleanedArticle
from ..document import Document
from ..normalize import normalize_text

__all__ = ["MAX_ARTICLE_BYTES", "MAX_PDF_BYTES", "NO_TEXT", "ReadError", "ReadProblem", "ReadReport", "make_document",
           "one_document", "record_problem", "str_field", "title_from_text"]

#: Largest single-article file (txt, md, html) read: 10 MiB. The longest real news articles are
#: ~100 KB of text; a file 100x that is a dump, a log or a book, not an article, and reading and
#: cleaning holds several copies of the text in memory. Such a file is rejected before it is read
#: (it should be split, or given as JSONL, which is streamed line by line).
MAX_ARTICLE_BYTES = 10 * 2**20
#: Largest PDF read: 100 MiB. PDFs carry images and fonts, so a one-article PDF can be tens of MB;
#: pypdf loads the whole file, so the cap bounds memory.
MAX_PDF_BYTES = 100 * 2**20


class ReadError(ValueError):
    """A file (or one JSONL line) that cannot be read as an article: names the file, the line
    (JSONL) and the reason. ``kind`` is a short code: "binary", "encoding", "too-large",
    "no-text-layer", "unreadable", "bad-line", "unsupported"."""

    def __init__(self, path: str | Path, reason: str, *, kind: str = "unreadable", line: int | None = None):
        self.path = str(path)
        self.reason = reason
        self.kind = kind
        self.line = line
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")


@dataclass
class ReadProblem:
    """One rejected or skipped item: a file, a JSONL line, or a duplicate document."""

    path: str
    reason: str
    kind: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}, line {self.line}" if self.line is not None else self.path
        return f"{where}: {self.reason}"


@dataclass
class ReadReport:
    """What :func:`read_paths_report` read: the good documents and every problem."""

    documents: list[Document] = field(default_factory=list)
    problems: list[ReadProblem] = field(default_factory=list)


def record_problem(problems: list[ReadProblem] | None, path: Path, reason: str, kind: str,
             line: int | None = None) -> None:
    """Record a skipped item (and warn, as readers always did)."""
    problem = ReadProblem(str(path), reason, kind, line)
    warnings.warn(f"skipped: {problem}", stacklevel=3)
    if problems is not None:
        problems.append(problem)


def str_field(record: dict, key: str) -> str:
    value = record.get(key)
    return normalize_text(str(value)).strip() if value not in (None, "") else ""


# A title made from the start of the body has at most this many words: about the length of a
# headline (seed headlines have 6–16 words).
_FALLBACK_TITLE_WORDS = 12


def title_from_text(text: str) -> str:
    """A stand-in title for an article without one: its first sentence, cut to a headline's length.

    Derived from the content (not the file name) so that document ids stay content-based: the same
    untitled article in two files gets the same id.
    """
    first = text.strip().split("\n", 1)[0]
    sentence = re.split(r"(?<=[.!?…])\s", first, maxsplit=1)[0]
    words = sentence.split()
    if len(words) <= _FALLBACK_TITLE_WORDS:
        return sentence.rstrip(".")
    return " ".join(words[:_FALLBACK_TITLE_WORDS]).rstrip(",;:") + "…"


def make_document(
    cleaned: CleanedArticle,
    path: Path,
    *,
    fmt: str,
    meta: dict | None = None,
    extra: dict | None = None,
    explicit_source: str = "",
) -> Document | None:
    """Build the Document; metadata from ``meta`` (sidecar/JSONL/HTML) fills what the text lacks.

    Returns None when the cleaned body is empty (the caller reports it): never an empty Document.
    """
    meta = meta or {}
    if not cleaned.text.strip():
        return None
    metadata: dict = {"format": fmt}
    title = cleaned.title
    if not title:
        title = title_from_text(cleaned.text)
        metadata["title_from"] = "body"
    author = cleaned.author or meta.get("author", "")
    if author:
        metadata["author"] = author
    if meta.get("outlet"):
        metadata["outlet"] = meta["outlet"]
    metadata.update(extra or {})
    return Document.create(
        title,
        cleaned.text,
        source=explicit_source or cleaned.source or meta.get("source", "") or meta.get("outlet", ""),
        url=meta.get("url", "") or cleaned.url,
        date=meta.get("date", "") or cleaned.date,
        path=str(path),
        metadata=metadata,
    )


#: Why a single-article file gave no document.
NO_TEXT = "no text left after cleaning (empty, or only page furniture)"


def one_document(doc: Document | None, path: Path, problems: list[ReadProblem] | None,
         reason: str = NO_TEXT) -> list[Document]:
    if doc is None:
        record_problem(problems, path, reason, "empty")
        return []
    return [doc]
