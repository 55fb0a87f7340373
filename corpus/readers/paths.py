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

Bad input: a file that cannot be read raises :class:`ReadError` (a ``ValueError`` naming the file,
the reason and, for JSONL, the line). :func:`read_paths_report` never raises for a bad file: it
returns a :class:`ReadReport` with the good documents and one :class:`ReadProblem` per rejected
file, JSONL line or duplicate, which is what ``python -m qa index`` prints. Text files are UTF-8;
a BOM (UTF-8, UTF-16, UTF-32) is honoured, and other encodings are detected with
charset-normalizer among the Windows code pages (:data:`LEGACY_ENCODINGS`: Windows-Vietnamese
cp1258, Western, Central European, Cyrillic...); binary data (NUL bytes, control characters) is rejected. Size limits:
:data:`MAX_ARTICLE_BYTES` per single-article file, :data:`MAX_PDF_BYTES` per PDF; JSONL is read
line by line in bounded memory (a line over :data:`MAX_ARTICLE_BYTES` is rejected, the others kept).
"""

from __future__ import annotations

import codecs
import hashlib
import json
import logging
import os
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..cleaning import CleanedArticle, clean_article
from ..document import Document
from ..normalize import normalize_text

__all__ = [
    "BUNDLED_DIR",
    "file_sha256",
    "LEGACY_ENCODINGS",
    "MAX_ARTICLE_BYTES",
    "MAX_PDF_BYTES",
    "SIDECAR_NAME",
    "SUPPORTED_SUFFIXES",
    "ReadError",
    "ReadProblem",
    "ReadReport",
    "load_bundled",
    "read_file",
    "read_path",
    "read_paths_report",
]

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES: tuple[str, ...] = (".txt", ".md", ".html", ".htm", ".pdf", ".jsonl")
SIDECAR_NAME = "metadata.json"
BUNDLED_DIR = Path(__file__).resolve().parents[1] / "articles"


# --------------------------------------------------------------------------- errors and limits

#: Largest single-article file (txt, md, html) read: 10 MiB. The longest real news articles are
#: ~100 KB of text; a file 100x that is a dump, a log or a book, not an article, and reading and
#: cleaning holds several copies of the text in memory. Such a file is rejected before it is read
#: (it should be split, or given as JSONL, which is streamed line by line).
MAX_ARTICLE_BYTES = 10 * 2**20
#: Largest PDF read: 100 MiB. PDFs carry images and fonts, so a one-article PDF can be tens of MB;
#: pypdf loads the whole file, so the cap bounds memory.
MAX_PDF_BYTES = 100 * 2**20
#: Encodings tried (with charset-normalizer) for a text file that is not UTF-8 and has no BOM: the
#: Windows code pages (cp1258 is Windows-Vietnamese). Multi-byte legacy encodings (GB18030, Big5,
#: Shift-JIS) and BOM-less UTF-16 are left out: on short Latin-1 input ("caf\xe9") the detector
#: picks them with full confidence and yields CJK garbage.
LEGACY_ENCODINGS: tuple[str, ...] = ("cp1258", "cp1252", "cp1250", "cp1251", "cp1253", "cp1254",
                                     "cp1257")
#: Share of control characters above which decoded "text" is binary data: real text has none;
#: 1 % tolerates a stray one in a long article. Tab, the line breaks and the separators that
#: Word exports and PDF extractors write (VT, FF, FS/GS/RS: see corpus.cleaning) are not counted.
_MAX_CONTROL_SHARE = 0.01
_CONTROL_RE = re.compile("[\x00-\x08\x0e-\x1b\x1f\x7f]")


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


def _problem(problems: list[ReadProblem] | None, path: Path, reason: str, kind: str,
             line: int | None = None) -> None:
    """Record a skipped item (and warn, as readers always did)."""
    problem = ReadProblem(str(path), reason, kind, line)
    warnings.warn(f"skipped: {problem}", stacklevel=3)
    if problems is not None:
        problems.append(problem)


# --------------------------------------------------------------------------- helpers


_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),  # before UTF-16: same prefix
    (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)


def _bom_encoding(data: bytes) -> str | None:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding
    return None


def _check_not_binary(text: str, path: Path) -> str:
    if "\x00" in text or (text and len(_CONTROL_RE.findall(text)) / len(text) > _MAX_CONTROL_SHARE):
        raise ReadError(path, "binary data, not text (is it really a text file?); save it as UTF-8 text",
                        kind="binary")
    return text


def _decode(data: bytes, path: Path) -> str:
    """Decode a text file: by its BOM when it has one (UTF-8, UTF-16, UTF-32: what Windows
    Notepad writes as "Unicode"), else UTF-8, else the legacy encoding charset-normalizer finds
    among :data:`LEGACY_ENCODINGS` (logged). Binary data and undetectable bytes raise
    :class:`ReadError` naming the file."""
    encoding = _bom_encoding(data)
    if encoding is not None:
        try:
            return _check_not_binary(data.decode(encoding), path)
        except UnicodeDecodeError as exc:
            raise ReadError(path, f"invalid {encoding.upper()} text ({exc.reason} at byte {exc.start})",
                            kind="encoding") from exc
    if b"\x00" in data:  # never in UTF-8 or single-byte text; UTF-16 without a BOM is not supported
        raise ReadError(path, "binary data (NUL bytes), not UTF-8 text; if it is UTF-16 text, save it "
                              "as UTF-8 (or UTF-16 with a BOM)", kind="binary")
    try:
        return _check_not_binary(data.decode("utf-8"), path)
    except UnicodeDecodeError as exc:
        utf8_error = f"not valid UTF-8 ({exc.reason} at byte {exc.start})"
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=list(LEGACY_ENCODINGS)).best()
    if best is None:
        raise ReadError(path, f"{utf8_error}, and no known encoding fits: not a text file, or convert it "
                              "to UTF-8 (e.g. `iconv -f WINDOWS-1258 -t UTF-8`)", kind="encoding")
    logger.info("%s: not UTF-8, decoded as %s", path, best.encoding)
    return _check_not_binary(str(best), path)


def _check_size(path: Path, limit: int) -> None:
    """Reject a file over ``limit`` bytes before reading any of it."""
    size = path.stat().st_size
    if size > limit:
        raise ReadError(path, f"file too large ({size / 2**20:.1f} MiB; the limit for one article is "
                              f"{limit / 2**20:.0f} MiB): split it, or give many articles as JSONL",
                        kind="too-large")


def _read_limited(path: Path, limit: int) -> bytes:
    _check_size(path, limit)
    return path.read_bytes()


def _read_text(path: Path) -> str:
    return _decode(_read_limited(path, MAX_ARTICLE_BYTES), path)


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


#: Why a single-article file gave no document.
_NO_TEXT = "no text left after cleaning (empty, or only page furniture)"


def _one(doc: Document | None, path: Path, problems: list[ReadProblem] | None,
         reason: str = _NO_TEXT) -> list[Document]:
    if doc is None:
        _problem(problems, path, reason, "empty")
        return []
    return [doc]


def _read_txt(path: Path, entry: dict, problems: list[ReadProblem] | None) -> list[Document]:
    """Plain text (UTF-8, or see :func:`_decode`): the whole file is one article."""
    cleaned = clean_article(_read_text(path), title=_apply_sidecar_title(entry))
    doc = _document(cleaned, path, fmt="txt", meta=entry,
                    extra=_sidecar_extra(entry))
    return _one(doc, path, problems)


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


def _read_md(path: Path, entry: dict, problems: list[ReadProblem] | None) -> list[Document]:
    """Markdown: a leading ``# Title`` is the title; the markup is stripped before cleaning."""
    raw = _read_text(path)
    title = _apply_sidecar_title(entry)
    m = _MD_TITLE_RE.match(raw.replace("\r\n", "\n"))
    if m and title is None:
        title = strip_markdown(m.group(1)).strip()
    cleaned = clean_article(strip_markdown(raw), title=title)
    doc = _document(cleaned, path, fmt="md", meta=entry,
                    extra=_sidecar_extra(entry))
    return _one(doc, path, problems)


def _read_html(path: Path, entry: dict, problems: list[ReadProblem] | None) -> list[Document]:
    """HTML: main-text extraction with trafilatura (offline, from the file's bytes)."""
    import trafilatura  # imported lazily: it pulls in lxml, htmldate, justext

    data = _read_limited(path, MAX_ARTICLE_BYTES)  # bytes: trafilatura honours the declared charset
    if b"\x00" in data[:8192] and _bom_encoding(data) is None:
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
    cleaned = clean_article(body, title=_apply_sidecar_title(page))
    doc = _document(cleaned, path, fmt="html", meta=page,
                    extra=_sidecar_extra(entry))
    return _one(doc, path, problems, "no article text in the page (only scripts, menus or markup?)")


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


def _read_pdf(path: Path, entry: dict, problems: list[ReadProblem] | None) -> list[Document]:
    """PDF: text layer via pypdf, pages joined with blank lines; one PDF is one article."""
    from pypdf import PdfReader

    # pypdf raises many exception types on damaged files (PdfReadError, KeyError, ValueError,
    # struct errors...); any of them means "this PDF cannot be read", reported with the path.
    _check_size(path, MAX_PDF_BYTES)
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
    title = _apply_sidecar_title(entry) or normalize_text(pdf_title).strip() or None
    cleaned = clean_article(text, title=title)
    doc = _document(cleaned, path, fmt="pdf", meta=entry,
                    extra={"pages": len(pages), **_sidecar_extra(entry)})
    return _one(doc, path, problems)


def _jsonl_lines(path: Path) -> Iterator[tuple[int, str | ReadError]]:
    """(line number, text) for each line of a JSONL file, streamed: memory stays bounded by
    :data:`MAX_ARTICLE_BYTES` whatever the file size. A line that is too long or not UTF-8 comes
    as a :class:`ReadError` in place of its text, and reading goes on with the next line.

    Lines are split on "\\n" only, never on U+2028 and the other characters that str.splitlines()
    treats as line ends (JSON strings may contain them).
    """
    with open(path, "rb") as f:
        head = f.read(4)
        f.seek(0)
        encoding = _bom_encoding(head)
        if encoding not in (None, "utf-8-sig"):  # UTF-16/32 with a BOM: decode as a stream
            text = _decode(_read_limited(path, MAX_ARTICLE_BYTES), path)
            for lineno, line in enumerate(text.split("\n"), start=1):
                yield lineno, line
            return
        if encoding == "utf-8-sig":
            f.read(len(codecs.BOM_UTF8))
        lineno = 0
        while True:
            raw = f.readline(MAX_ARTICLE_BYTES + 1)
            if not raw:
                return
            lineno += 1
            if len(raw) > MAX_ARTICLE_BYTES and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):  # skip the rest of the line in 1 MiB pieces
                    raw = None
                    raw = f.readline(2**20)
                yield lineno, ReadError(path, f"line longer than {MAX_ARTICLE_BYTES / 2**20:.0f} MiB, skipped",
                                        kind="too-large", line=lineno)
                continue
            if b"\x00" in raw:
                yield lineno, ReadError(path, "binary data (NUL bytes)", kind="binary", line=lineno)
                continue
            try:
                yield lineno, raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                yield lineno, ReadError(path, f"not valid UTF-8 ({exc.reason} at byte {exc.start}); JSON Lines "
                                              "files must be UTF-8", kind="encoding", line=lineno)


def _read_jsonl(path: Path, entry: dict, problems: list[ReadProblem] | None) -> list[Document]:
    """JSON Lines: one article per line, ``{"title", "text", "url"?, "date"?, "source"?}``.

    A broken line (malformed JSON, no "text", not UTF-8, too long) is reported with its number
    and skipped; the good lines are kept.
    """
    docs: list[Document] = []
    for lineno, line in _jsonl_lines(path):
        if isinstance(line, ReadError):
            _problem(problems, path, line.reason, line.kind, lineno)
            continue
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            _problem(problems, path, f"malformed JSON ({exc.msg}), line skipped", "bad-line", lineno)
            continue
        if not isinstance(record, dict):
            _problem(problems, path, f"expected a JSON object, got {type(record).__name__}", "bad-line", lineno)
            continue
        text = record.get("text")
        if not isinstance(text, str):
            _problem(problems, path, 'missing "text" string field', "bad-line", lineno)
            continue
        title = _str_field(record, "title") or None
        cleaned = clean_article(text, title=title)
        meta = {k: _str_field(record, k) for k in ("url", "date", "source", "author")}
        # The record's own "source" wins over a source line found in the text.
        doc = _document(cleaned, path, fmt="jsonl",
                        meta=meta, extra={"line": lineno}, explicit_source=meta["source"])
        if doc:
            docs.append(doc)
        else:
            _problem(problems, path, _NO_TEXT, "empty", lineno)
    return docs


_READERS: dict[str, Callable[[Path, dict, list[ReadProblem] | None], list[Document]]] = {
    ".txt": _read_txt,
    ".md": _read_md,
    ".html": _read_html,
    ".htm": _read_html,
    ".pdf": _read_pdf,
    ".jsonl": _read_jsonl,
}
assert set(_READERS) == set(SUPPORTED_SUFFIXES)


# --------------------------------------------------------------------------- public API


def _unsupported(path: Path) -> ReadError:
    return ReadError(
        path, f"unsupported file type {path.suffix or '(no extension)'!r}; "
        f"supported: {', '.join(SUPPORTED_SUFFIXES)}", kind="unsupported")


def _read_file(path: Path, sidecars: dict[Path, dict],
               problems: list[ReadProblem] | None = None) -> list[Document]:
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise _unsupported(path)
    if path.stat().st_size == 0:
        _problem(problems, path, "empty file (0 bytes)", "empty")
        return []
    entry = _sidecar_entry(path, sidecars) if path.suffix.lower() != ".jsonl" else {}
    return reader(path, entry, problems)


def read_file(path: str | Path) -> list[Document]:
    """Read one file into documents (several for ``.jsonl``), not de-duplicated.

    Raises FileNotFoundError when missing, :class:`ReadError` (a ValueError) when unsupported or
    unreadable.
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


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def _walk(root: Path) -> tuple[list[Path], list[Path], list[Path]]:
    """(supported files, skipped unsupported files, symbolic links leading outside ``root``)
    under ``root``, sorted by relative path. Folder links are not followed (os.walk's default);
    a file link whose target lies outside the folder is not read: reading a folder never reads
    files elsewhere (``a.txt -> /etc/passwd``)."""
    found: list[Path] = []
    unsupported: list[Path] = []
    outside: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not _is_hidden(d)]  # prune .git, .cache, …
        for name in filenames:
            if _is_hidden(name) or name == SIDECAR_NAME:
                continue
            p = Path(dirpath) / name
            if _is_readme(name):
                logger.info("skipping %s (README)", p)
            elif p.is_symlink() and not _inside(p, root):
                outside.append(p)
            elif p.suffix.lower() in _READERS:
                found.append(p)
            else:
                unsupported.append(p)
    key = lambda p: p.relative_to(root).as_posix()  # noqa: E731
    return sorted(found, key=key), sorted(unsupported, key=key), sorted(outside, key=key)


def _dedupe(docs: Iterable[Document], problems: list[ReadProblem] | None = None) -> list[Document]:
    """Keep the first document of each id (same title and body = same article)."""
    seen: dict[str, Document] = {}
    for doc in docs:
        if doc.id in seen:
            logger.info("duplicate of %s (%s) skipped: %s", doc.id, seen[doc.id].path, doc.path)
            if problems is not None:
                problems.append(ReadProblem(doc.path, f"duplicate of {seen[doc.id].path} (document {doc.id})",
                                            "duplicate", doc.metadata.get("line")))
            continue
        seen[doc.id] = doc
    return list(seen.values())


def _read_tree(root: Path, problems: list[ReadProblem] | None, *, strict: bool,
               progress: bool) -> list[Document]:
    """The documents of one file or folder, not de-duplicated. ``strict``: an unreadable file
    raises; otherwise it becomes a problem (and a warning)."""
    if not root.exists():
        raise FileNotFoundError(f"no such file or folder: {root}")
    if not root.is_dir():
        return _read_file(root, {}, problems)
    files, unsupported, outside = _walk(root)
    if unsupported:
        counts = Counter(p.suffix.lower() or "(none)" for p in unsupported)
        shown = ", ".join(p.relative_to(root).as_posix() for p in unsupported[:5])
        more = f" and {len(unsupported) - 5} more" if len(unsupported) > 5 else ""
        warnings.warn(
            f"{root}: skipped {len(unsupported)} file(s) of unsupported type "
            f"({', '.join(f'{s}: {n}' for s, n in sorted(counts.items()))}): {shown}{more}; "
            f"supported: {', '.join(SUPPORTED_SUFFIXES)}",
            stacklevel=3,
        )
        if problems is not None:
            problems.extend(ReadProblem(str(p), _unsupported(p).reason, "unsupported") for p in unsupported)
    for p in outside:
        _problem(problems, p, "symbolic link to a file outside the folder, not read", "outside")
    iterator: Iterable[Path] = files
    if progress:
        from tqdm import tqdm

        iterator = tqdm(files, desc=f"Reading {root.name or root}", unit="file")
    sidecars: dict[Path, dict] = {}
    docs: list[Document] = []
    for file in iterator:
        try:
            docs.extend(_read_file(file, sidecars, problems))
        except (ReadError, OSError) as exc:
            if strict:
                raise
            if isinstance(exc, ReadError):
                _problem(problems, file, exc.reason, exc.kind, exc.line)
            else:
                _problem(problems, file, f"cannot read ({exc.strerror or exc})", "unreadable")
    return docs


def read_path(path: str | Path, *, progress: bool = False, skip_errors: bool = False) -> list[Document]:
    """Read a file or a folder (recursively) into cleaned, de-duplicated documents.

    Folders: files are read in sorted relative-path order; hidden files and folders, README files
    and ``metadata.json`` sidecars are skipped; files of unsupported types are skipped with one
    warning listing them. A single file of an unsupported type raises :class:`ReadError`; a
    missing path raises FileNotFoundError. ``skip_errors``: in a folder, a file that cannot be
    read (binary, unknown encoding, too large, encrypted or scanned PDF) is skipped with a warning
    instead of raising. Empty files and broken JSONL lines are always skipped with a warning.
    :func:`read_paths_report` collects all of these instead. ``progress`` shows a progress bar.
    """
    root = Path(path)
    return _dedupe(_read_tree(root, None, strict=not (skip_errors and root.is_dir()), progress=progress))


def read_paths_report(paths: Iterable[str | Path], *, progress: bool = False) -> ReadReport:
    """Read files and folders, keeping every good document and reporting everything else.

    Never raises for bad input: a missing path, an unreadable or unsupported file, a broken JSONL
    line and a duplicate document each become a :class:`ReadProblem` (with the file, the line
    and the reason). Documents are de-duplicated across all ``paths``.
    """
    report = ReadReport()
    docs: list[Document] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # everything is in report.problems
        for p in paths:
            root = Path(p)
            try:
                docs.extend(_read_tree(root, report.problems, strict=False, progress=progress))
            except FileNotFoundError as exc:
                report.problems.append(ReadProblem(str(root), str(exc).split(": ", 1)[0], "missing"))
            except (ReadError, OSError) as exc:
                reason = exc.reason if isinstance(exc, ReadError) else f"cannot read ({exc.strerror or exc})"
                kind = exc.kind if isinstance(exc, ReadError) else "unreadable"
                report.problems.append(ReadProblem(str(root), reason, kind, getattr(exc, "line", None)))
        report.documents = _dedupe(docs, report.problems)
    return report


def load_bundled() -> list[Document]:
    """The default corpus: ``corpus/articles/*.txt`` with ``corpus/articles/metadata.json``.

    Located relative to this module, so it works from any working directory and when installed.
    """
    files = sorted(BUNDLED_DIR.glob("*.txt"))
    if not files:
        raise FileNotFoundError(f"bundled corpus missing: no .txt files in {BUNDLED_DIR}")
    sidecars: dict[Path, dict] = {}
    return _dedupe(doc for f in files for doc in _read_file(f, sidecars))


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks (any size, bounded memory): the
    checksum of index files and of the converted model's source, and the identity of uploads."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
