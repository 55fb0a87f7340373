"""Read articles from files and folders into cleaned :class:`~corpus.document.Document` s.

One reader per file type turns the file into plain text (plus whatever metadata the format
carries) and hands it to :func:`corpus.cleaning.clean_article`; :func:`read_path` dispatches by
extension, walks folders and de-duplicates by document id; :func:`load_bundled` reads the default
corpus shipped in ``corpus/articles``.

Sidecar metadata: a folder may hold a ``metadata.json`` mapping file names to
``{"headline", "outlet", "author", "url", "date", ...}`` (keys starting with ``_`` are notes). When a
single-article file (txt, md, html, pdf) has an entry, the headline is used as the title (a leading
line equal to it is dropped from the body), the outlet is the source when the text names none,
and the entry's url and date (written by a person) take precedence over what the file yields.
This is how the bundled corpus gets its metadata, and it makes ``read_path("corpus/articles")``
and :func:`load_bundled` return the same documents.

An article with no title at all gets the start of its first sentence (:func:`title_from_text`),
never the file name, so that ids stay derived from content alone.
"""

from __future__ import annotations

import json
import logging
import os
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from .cleaning import CleanedArticle, clean_article
from .document import Document
from .normalize import normalize_text

__all__ = [
    "SUPPORTED_SUFFIXES", "BUNDLED_DIR", "SIDECAR_NAME", "read_path", "read_file", "load_bundled",
]

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES: tuple[str, ...] = (".txt", ".md", ".html", ".htm", ".pdf", ".jsonl")
SIDECAR_NAME = "metadata.json"
BUNDLED_DIR = Path(__file__).resolve().parent / "articles"


# --------------------------------------------------------------------------- helpers


def _decode(data: bytes, path: Path) -> str:
    """Decode a text file: UTF-8 (a BOM is tolerated), or UTF-16 when it starts with a UTF-16 BOM
    (what Windows Notepad writes as "Unicode"). Anything else is a clear error naming the file."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path}: invalid UTF-16 text ({exc.reason} at byte {exc.start})") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start}); "
            "convert the file to UTF-8 (e.g. `iconv -f WINDOWS-1258 -t UTF-8`)"
        ) from exc


def _read_text(path: Path) -> str:
    return _decode(path.read_bytes(), path)


def _str_field(record: dict, key: str) -> str:
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


def _document(
    cleaned: CleanedArticle,
    path: Path,
    *,
    fmt: str,
    meta: dict | None = None,
    extra: dict | None = None,
    explicit_source: str = "",
) -> Document | None:
    """Build the Document; metadata from ``meta`` (sidecar/JSONL/HTML) fills what the text lacks.

    Returns None (with a warning) when the cleaned body is empty: never an empty Document.
    """
    meta = meta or {}
    if not cleaned.text.strip():
        warnings.warn(f"{path}: no text left after cleaning, skipped", stacklevel=3)
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


def _sidecar_entry(path: Path, cache: dict[Path, dict]) -> dict:
    """The ``metadata.json`` entry for ``path`` (normalized strings), or {}."""
    folder = path.parent
    if folder not in cache:
        table: dict = {}
        sidecar = folder / SIDECAR_NAME
        if sidecar.is_file():
            try:
                loaded = json.loads(_read_text(sidecar))
            except (ValueError, OSError) as exc:
                warnings.warn(f"{sidecar}: ignored, not readable JSON ({exc})", stacklevel=2)
                loaded = {}
            if isinstance(loaded, dict):
                table = {k: v for k, v in loaded.items() if isinstance(v, dict) and not k.startswith("_")}
        cache[folder] = table
    entry = cache[folder].get(path.name) or {}
    return {k: _str_field(entry, k) for k in entry if not k.startswith("_")}


def _apply_sidecar_title(entry: dict) -> str | None:
    return entry.get("headline") or entry.get("title") or None


def _sidecar_extra(entry: dict) -> dict:
    return {"headline_from": entry["headline_from"]} if entry.get("headline_from") else {}


# --------------------------------------------------------------------------- readers


def _read_txt(path: Path, entry: dict) -> list[Document]:
    """Plain UTF-8 text: the whole file is one article."""
    cleaned = clean_article(_read_text(path), title=_apply_sidecar_title(entry))
    doc = _document(cleaned, path, fmt="txt", meta=entry,
                    extra=_sidecar_extra(entry))
    return [doc] if doc else []


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


def _read_md(path: Path, entry: dict) -> list[Document]:
    """Markdown: a leading ``# Title`` is the title; the markup is stripped before cleaning."""
    raw = _read_text(path)
    title = _apply_sidecar_title(entry)
    m = _MD_TITLE_RE.match(raw.replace("\r\n", "\n"))
    if m and title is None:
        title = strip_markdown(m.group(1)).strip()
    cleaned = clean_article(strip_markdown(raw), title=title)
    doc = _document(cleaned, path, fmt="md", meta=entry,
                    extra=_sidecar_extra(entry))
    return [doc] if doc else []


def _read_html(path: Path, entry: dict) -> list[Document]:
    """HTML: main-text extraction with trafilatura (offline, from the file's bytes)."""
    import trafilatura  # imported lazily: it pulls in lxml, htmldate, justext

    data = path.read_bytes()  # bytes: trafilatura honours the page's declared charset
    try:
        tree = trafilatura.load_html(data)
    except Exception as exc:  # lxml raises a variety of parser errors
        raise ValueError(f"{path}: cannot parse HTML ({exc})") from exc
    if tree is None:
        raise ValueError(f"{path}: cannot parse HTML (empty or not HTML)")
    meta = trafilatura.extract_metadata(tree)
    body = trafilatura.extract(
        data,
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
    cleaned = clean_article(body, title=_apply_sidecar_title(page))
    doc = _document(cleaned, path, fmt="html", meta=page,
                    extra=_sidecar_extra(entry))
    return [doc] if doc else []


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


def _read_pdf(path: Path, entry: dict) -> list[Document]:
    """PDF: text layer via pypdf, pages joined with blank lines; one PDF is one article."""
    from pypdf import PdfReader

    # pypdf raises many exception types on damaged files (PdfReadError, KeyError, ValueError,
    # struct errors...); any of them means "this PDF cannot be read", reported with the path.
    try:
        reader = PdfReader(path)
        encrypted = reader.is_encrypted
    except Exception as exc:
        raise ValueError(f"{path}: unreadable PDF ({type(exc).__name__}: {exc})") from exc
    if encrypted:
        # Many PDFs are "encrypted" with an empty user password, only to restrict printing.
        try:
            decrypted = reader.decrypt("")
        except Exception as exc:  # missing crypto backend, unsupported algorithm
            raise ValueError(f"{path}: encrypted PDF, cannot decrypt ({exc})") from exc
        if not decrypted:
            raise ValueError(f"{path}: encrypted PDF (a password is required)")
    try:
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
        pdf_title = str(info.title) if info is not None and info.title else ""
    except Exception as exc:
        raise ValueError(f"{path}: unreadable PDF ({type(exc).__name__}: {exc})") from exc
    text = dehyphenate("\n\n".join(p.strip() for p in pages))
    if not text.strip():
        warnings.warn(f"{path}: PDF has no text layer (scanned?), skipped", stacklevel=2)
        return []
    title = _apply_sidecar_title(entry) or normalize_text(pdf_title).strip() or None
    cleaned = clean_article(text, title=title)
    doc = _document(cleaned, path, fmt="pdf", meta=entry,
                    extra={"pages": len(pages), **_sidecar_extra(entry)})
    return [doc] if doc else []


def _read_jsonl(path: Path, entry: dict) -> list[Document]:
    """JSON Lines: one article per line, ``{"title", "text", "url"?, "date"?, "source"?}``."""
    docs: list[Document] = []
    # split("\n"), not splitlines(): JSON strings may legally contain U+2028 and other characters
    # that splitlines() treats as line ends.
    for lineno, line in enumerate(_read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}, line {lineno}: malformed JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise ValueError(f"{path}, line {lineno}: expected a JSON object, got {type(record).__name__}")
        text = record.get("text")
        if not isinstance(text, str):
            raise ValueError(f'{path}, line {lineno}: missing "text" string field')
        title = _str_field(record, "title") or None
        cleaned = clean_article(text, title=title)
        meta = {k: _str_field(record, k) for k in ("url", "date", "source", "author")}
        # The record's own "source" wins over a source line found in the text.
        doc = _document(cleaned, path, fmt="jsonl",
                        meta=meta, extra={"line": lineno}, explicit_source=meta["source"])
        if doc:
            docs.append(doc)
    return docs


_READERS: dict[str, Callable[[Path, dict], list[Document]]] = {
    ".txt": _read_txt,
    ".md": _read_md,
    ".html": _read_html,
    ".htm": _read_html,
    ".pdf": _read_pdf,
    ".jsonl": _read_jsonl,
}
assert set(_READERS) == set(SUPPORTED_SUFFIXES)


# --------------------------------------------------------------------------- public API


def _unsupported(path: Path) -> ValueError:
    return ValueError(
        f"{path}: unsupported file type {path.suffix or '(no extension)'!r}; "
        f"supported: {', '.join(SUPPORTED_SUFFIXES)}"
    )


def _read_file(path: Path, sidecars: dict[Path, dict]) -> list[Document]:
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise _unsupported(path)
    entry = _sidecar_entry(path, sidecars) if path.suffix.lower() != ".jsonl" else {}
    return reader(path, entry)


def read_file(path: str | Path) -> list[Document]:
    """Read one file into documents (several for ``.jsonl``), not de-duplicated.

    Raises FileNotFoundError when missing, ValueError when unsupported or unreadable.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    return _read_file(path, {})


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _is_readme(name: str) -> bool:
    # A README in a corpus folder documents the corpus; it is not an article.
    return Path(name).stem.lower() == "readme"


def _walk(root: Path) -> tuple[list[Path], list[Path]]:
    """(supported files, skipped unsupported files) under ``root``, sorted by relative path."""
    found: list[Path] = []
    unsupported: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not _is_hidden(d)]  # prune .git, .cache, …
        for name in filenames:
            if _is_hidden(name) or name == SIDECAR_NAME:
                continue
            p = Path(dirpath) / name
            if _is_readme(name):
                logger.info("skipping %s (README)", p)
            elif p.suffix.lower() in _READERS:
                found.append(p)
            else:
                unsupported.append(p)
    key = lambda p: p.relative_to(root).as_posix()  # noqa: E731
    return sorted(found, key=key), sorted(unsupported, key=key)


def _dedupe(docs: Iterable[Document]) -> list[Document]:
    """Keep the first document of each id (same title and body = same article)."""
    seen: dict[str, Document] = {}
    for doc in docs:
        if doc.id in seen:
            logger.info("duplicate of %s (%s) skipped: %s", doc.id, seen[doc.id].path, doc.path)
            continue
        seen[doc.id] = doc
    return list(seen.values())


def read_path(path: str | Path, *, progress: bool = False, skip_errors: bool = False) -> list[Document]:
    """Read a file or a folder (recursively) into cleaned, de-duplicated documents.

    Folders: files are read in sorted relative-path order; hidden files and folders, README files
    and ``metadata.json`` sidecars are skipped; files of unsupported types are skipped with one
    warning listing them. A single file of an unsupported type raises ValueError; a missing path
    raises FileNotFoundError. ``skip_errors``: in a folder, a file that cannot be read (invalid
    UTF-8, malformed JSONL, encrypted PDF) is skipped with a warning instead of raising.
    ``progress`` shows a tqdm progress bar over the files.
    """
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"no such file or folder: {root}")
    if not root.is_dir():
        return _dedupe(_read_file(root, {}))
    files, unsupported = _walk(root)
    if unsupported:
        counts = Counter(p.suffix.lower() or "(none)" for p in unsupported)
        shown = ", ".join(p.relative_to(root).as_posix() for p in unsupported[:5])
        more = f" and {len(unsupported) - 5} more" if len(unsupported) > 5 else ""
        warnings.warn(
            f"{root}: skipped {len(unsupported)} file(s) of unsupported type "
            f"({', '.join(f'{s}: {n}' for s, n in sorted(counts.items()))}): {shown}{more}; "
            f"supported: {', '.join(SUPPORTED_SUFFIXES)}",
            stacklevel=2,
        )
    iterator: Iterable[Path] = files
    if progress:
        from tqdm import tqdm

        iterator = tqdm(files, desc=f"Reading {root.name or root}", unit="file")
    sidecars: dict[Path, dict] = {}
    docs: list[Document] = []
    for file in iterator:
        try:
            docs.extend(_read_file(file, sidecars))
        except ValueError as exc:
            if not skip_errors:
                raise
            warnings.warn(f"skipped: {exc}", stacklevel=2)
    return _dedupe(docs)


def load_bundled() -> list[Document]:
    """The default corpus: ``corpus/articles/*.txt`` with ``corpus/articles/metadata.json``.

    Located relative to this module, so it works from any working directory and when installed.
    """
    files = sorted(BUNDLED_DIR.glob("*.txt"))
    if not files:
        raise FileNotFoundError(f"bundled corpus missing: no .txt files in {BUNDLED_DIR}")
    sidecars: dict[Path, dict] = {}
    return _dedupe(doc for f in files for doc in _read_file(f, sidecars))
