"""The data that flows out of ``corpus/``: a cleaned :class:`Document` and its :class:`Chunk` s."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

__all__ = ["Document", "Chunk", "document_id"]


def document_id(title: str, text: str) -> str:
    """Stable id from the cleaned content: the same article read twice gets the same id.

    Only title and body count (not the path, URL or outlet), so a wire story re-added from
    another file is recognised; 16 hex digits of SHA-256 make collisions irrelevant at news scale.
    """
    digest = hashlib.sha256(f"{title.strip()}\n{text.strip()}".encode()).hexdigest()
    return digest[:16]


@dataclass(frozen=True)
class Document:
    """One cleaned article.

    ``text`` is the cleaned body (NFC, normalized tone marks, page furniture removed); every
    character span in a :class:`Chunk` or a citation refers to this string.
    """

    id: str
    title: str
    text: str
    source: str = ""  # outlet or source line, e.g. "QĐND", "Theo Vũ Anh Tuấn/VOV"
    url: str = ""
    date: str = ""
    path: str = ""  # where it was read from, for display only
    metadata: dict = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def create(cls, title: str, text: str, **kwargs) -> Document:
        """Build a document whose id is derived from its (already cleaned) title and text."""
        return cls(id=document_id(title, text), title=title, text=text, **kwargs)

    def to_dict(self) -> dict:
        return {
            "id": self.id, "title": self.title, "text": self.text, "source": self.source,
            "url": self.url, "date": self.date, "path": self.path, "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Document:
        return cls(**{k: d.get(k, "") for k in ("id", "title", "text", "source", "url", "date", "path")},
                   metadata=d.get("metadata") or {})


@dataclass(frozen=True)
class Chunk:
    """A passage of a document: ``text == document.text[start:end]``.

    ``sentences`` holds the (start, end) spans, in document coordinates, of the sentences the
    chunk is made of, so an answer can cite one exact sentence.
    """

    doc_id: str
    index: int  # position of the chunk within its document
    start: int
    end: int
    text: str
    sentences: tuple[tuple[int, int], ...]
    n_tokens: int
