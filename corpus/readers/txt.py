"""Plain-text articles."""

from __future__ import annotations

from pathlib import Path

from ..cleaning import clean_article
from ..document import Document
from .base import ReadProblem, make_document, one_document
from .decode import read_text
from .sidecar import sidecar_extra, sidecar_title

__all__ = ["read_txt"]


def read_txt(path: Path, entry: dict, problems: list[ReadProblem] | None) -> list[Document]:
    """Plain text (UTF-8, or see :func:`~corpus.readers.decode.decode`): the whole file is one article."""
    cleaned = clean_article(read_text(path), title=sidecar_title(entry))
    doc = make_document(cleaned, path, fmt="txt", meta=entry,
                           extra=sidecar_extra(entry))
    return one_document(doc, path, problems)
