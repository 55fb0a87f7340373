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

import logging
import os
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from ..document import Document
from .base import ReadError, ReadProblem, ReadReport, record_problem
from .html import read_html
from .jsonl import read_jsonl
from .markdown import read_md
from .pdf import read_pdf
from .sidecar import SIDECAR_NAME, sidecar_entry
from .txt import read_txt

__all__ = ["BUNDLED_DIR", "SUPPORTED_SUFFIXES", "load_bundled", "read_file", "read_path", "read_paths_report"]

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES: tuple[str, ...] = (".txt", ".md", ".html", ".htm", ".pdf", ".jsonl")
BUNDLED_DIR = Path(__file__).resolve().parents[1] / "articles"

_READERS: dict[str, Callable[[Path, dict, list[ReadProblem] | None], list[Document]]] = {
    ".txt": read_txt,
    ".md": read_md,
    ".html": read_html,
    ".htm": read_html,
    ".pdf": read_pdf,
    ".jsonl": read_jsonl,
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
        record_problem(problems, path, "empty file (0 bytes)", "empty")
        return []
    entry = sidecar_entry(path, sidecars) if path.suffix.lower() != ".jsonl" else {}
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
        record_problem(problems, p, "symbolic link to a file outside the folder, not read", "outside")
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
                record_problem(problems, file, exc.reason, exc.kind, exc.line)
            else:
                record_problem(problems, file, f"cannot read ({exc.strerror or exc})", "unreadable")
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
