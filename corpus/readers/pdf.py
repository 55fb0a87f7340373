"""PDF articles: the text layer (pypdf), line-end hyphens undone where a typesetter put them."""

from __future__ import annotations

import re
from pathlib import Path

from ..cleaning import clean_article
from ..document import Document
from ..normalize import normalize_text
from .base import MAX_PDF_BYTES, ReadError, ReadProblem, make_document, one_document
from .decode import check_size
from .sidecar import sidecar_extra, sidecar_title

__all__ = ["dehyphenate", "read_pdf"]

# A line break right after a hyphen that follows a letter and precedes a letter: "inter-\nnational",
# "Al-\nQaeda". The letter after it is captured to decide (see dehyphenate).
_PDF_HYPHEN_RE = re.compile(r"(?<=[^\W\d_])-[ \t]*\n[ \t]*(?=([^\W\d_]))")
_LETTER_RE = re.compile(r"[^\W\d_]")
# Share of non-ASCII letters above which a text is taken to be Vietnamese: about a third of the
# letters of Vietnamese prose carry a diacritic; English and other ASCII-script text ~0 %.
_VIETNAMESE_NON_ASCII_SHARE = 0.05


def _looks_vietnamese(text: str) -> bool:
    letters = _LETTER_RE.findall(text)
    if not letters:
        return False
    return sum(not c.isascii() for c in letters) / len(letters) > _VIETNAMESE_NON_ASCII_SHARE


def dehyphenate(text: str) -> str:
    """Re-join words that a PDF broke at a line end with an ASCII hyphen.

    Before a lower-case letter the hyphen is a typesetter's: ``inter-\\nnational`` →
    ``international``. Before a capital it belongs to the word (``Al-\\nQaeda`` → ``Al-Qaeda``).
    Vietnamese is typeset without hyphenation (lines break between syllables), so in Vietnamese
    text a hyphen at a line end is always part of the word (``Giơ-ne-\\nvơ`` → ``Giơ-ne-vơ``).
    """
    keep_all = _looks_vietnamese(text)

    def join(m: re.Match[str]) -> str:
        return "-" if keep_all or not m.group(1).islower() else ""

    return _PDF_HYPHEN_RE.sub(join, text)


def read_pdf(path: Path, entry: dict, problems: list[ReadProblem] | None) -> list[Document]:
    """PDF: text layer via pypdf, pages joined with blank lines; one PDF is one article."""
    from pypdf import PdfReader

    # pypdf raises many exception types on damaged files (PdfReadError, KeyError, ValueError,
    # struct errors...); any of them means "this PDF cannot be read", reported with the path.
    check_size(path, MAX_PDF_BYTES)
    try:
        reader = PdfReader(path)
        encrypted = reader.is_encrypted
    except Exception as exc:
        raise ReadError(path, f"unreadable PDF ({type(exc).__name__}: {exc})") from exc
    if encrypted:
        # Many PDFs are "encrypted" with an empty user password, only to restrict printing.
        try:
            decrypted = reader.decrypt("")
        except Exception as exc:  # missing crypto backend, unsupported algorithm
            raise ReadError(path, f"encrypted PDF, cannot decrypt ({exc})") from exc
        if not decrypted:
            raise ReadError(path, "encrypted PDF (a password is required)")
    try:
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
        pdf_title = str(info.title) if info is not None and info.title else ""
    except Exception as exc:
        raise ReadError(path, f"unreadable PDF ({type(exc).__name__}: {exc})") from exc
    text = dehyphenate("\n\n".join(p.strip() for p in pages))
    if not text.strip():
        raise ReadError(path, "PDF has no text layer (scanned PDF?): run OCR on it first (e.g. ocrmypdf)",
                        kind="no-text-layer")
    title = sidecar_title(entry) or normalize_text(pdf_title).strip() or None
    cleaned = clean_article(text, title=title)
    doc = make_document(cleaned, path, fmt="pdf", meta=entry,
                           extra={"pages": len(pages), **sidecar_extra(entry)})
    return one_document(doc, path, problems)
