"""Uploads into the index: type and size checks, safe file names, per-file reports.

Uploaded files are copied into :func:`upload_dir` (``<QA_CACHE_DIR>/uploads``) under a
sanitized name — the base name only, no path separators, no leading dots — and the resolved
target is checked to lie inside that folder, so no name ("../../etc/passwd.txt",
"C:\\\\x\\\\y.txt", "/abs/path.md") can write anywhere else. Each file is then read with
:func:`corpus.read_path`; a file that cannot be read is rejected with the reader's message and
its copy removed, and the rest go on.
"""

from __future__ import annotations

import re
import shutil
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from qa.pipeline import Pipeline

from corpus import SUPPORTED_SUFFIXES, read_paths_report
from corpus.checksums import file_sha256
from corpus.document import Document
from qa.config import cache_dir

from .ui_text import message_inline

__all__ = ["MAX_UPLOAD_BYTES", "FileReport", "UploadReport", "upload_dir", "safe_filename",
           "target_path", "ingest", "document_rows", "remove_documents"]

#: Largest accepted file, 10 MB. A news article in any of the formats is well under 1 MB and a
#: PDF report a few MB; a 10 MB JSON Lines file already holds thousands of articles, which take
#: long enough to embed on a CPU that the command line (``python -m qa index``) suits them
#: better than a web request.
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
#: Longest kept file-name stem (characters): names stay readable and far below file-system limits.
MAX_NAME_CHARS = 100


@dataclass
class FileReport:
    """What happened to one uploaded file."""

    name: str  # the name as uploaded
    saved_as: str = ""  # the sanitized file name in the upload folder ("" when rejected early)
    added: list[str] = field(default_factory=list)  # document ids
    skipped: list[str] = field(default_factory=list)  # already in the index
    rejected: str = ""  # why the file was refused ("" when accepted)
    problems: list[str] = field(default_factory=list)  # parts of an accepted file that were skipped (JSONL lines)


@dataclass
class UploadReport:
    files: list[FileReport] = field(default_factory=list)

    @property
    def added(self) -> int:
        return sum(len(f.added) for f in self.files)

    @property
    def skipped(self) -> int:
        return sum(len(f.skipped) for f in self.files)

    @property
    def rejected(self) -> int:
        return sum(1 for f in self.files if f.rejected)


def upload_dir() -> Path:
    """Where uploaded files are kept: ``<QA_CACHE_DIR>/uploads``, next to the index."""
    return cache_dir() / "uploads"


def safe_filename(name: str) -> str:
    """A file name that is safe to create in the upload folder.

    The last path component only (``/`` and ``\\`` both count as separators), NFC, characters
    other than letters (Vietnamese included), digits, ``. _ -`` and space replaced by ``_``,
    leading dots and spaces removed (no hidden files, no ``..``), the stem cut to
    :data:`MAX_NAME_CHARS`. The extension is kept, lower-cased.
    """
    base = unicodedata.normalize("NFC", str(name)).replace("\\", "/").split("/")[-1]
    base = re.sub(r"[^\w.\- ]", "_", base).strip(" .")
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    stem = stem.strip(" .")[:MAX_NAME_CHARS].strip(" .") or "upload"
    return f"{stem}.{ext.lower()}" if ext else stem


def target_path(folder: Path, name: str) -> Path:
    """``folder / safe_filename(name)``, checked to resolve inside ``folder``."""
    root = folder.resolve()
    target = (root / safe_filename(name)).resolve()
    if target.parent != root:
        raise ValueError(f"unsafe file name: {name!r}")
    return target


def _store(src: Path, folder: Path, name: str) -> Path:
    """Copy ``src`` into ``folder`` under the safe form of ``name``; an existing file with other
    content keeps its name and the copy gets a numbered one."""
    folder.mkdir(parents=True, exist_ok=True)
    target = target_path(folder, name)
    stem, suffix = target.stem, target.suffix
    i = 1
    while target.exists() and file_sha256(target) != file_sha256(src):
        target = target_path(folder, f"{stem}-{i}{suffix}")
        i += 1
    if not target.exists():
        shutil.copyfile(src, target)
    return target


def _check(name: str, size: int) -> str:
    """Why the file must be refused before reading it ("" if it may be read)."""
    ext = Path(safe_filename(name)).suffix.lower()
    if ext not in SUPPORTED_SUFFIXES:
        return message_inline("unsupported", ext=ext or "(—)", allowed=" ".join(SUPPORTED_SUFFIXES))
    if size > MAX_UPLOAD_BYTES:
        return message_inline("too_big", size=f"{size / 2**20:.1f}", max=MAX_UPLOAD_BYTES // 2**20)
    return ""


def _read(path: Path, name: str) -> tuple[list[Document], str, list[str]]:
    """The file's documents, the reason it gives none, and the parts of it that were skipped
    (a broken JSONL line: the good lines are kept). The server path in a reader's message is
    replaced by the name the user knows."""
    def public(text: str) -> str:
        return text.replace(str(path), name)

    try:
        read = read_paths_report([path])
    except Exception as exc:  # every reader failure is reported, never raised to the UI
        return [], message_inline("unreadable", detail=public(str(exc) or type(exc).__name__)), []
    problems = [public(str(p)) for p in read.problems]
    if not read.documents:
        why = read.problems[0].reason if read.problems else ""
        kind = "no_text" if not read.problems or read.problems[0].kind in ("empty", "no_text") else "unreadable"
        return [], message_inline(kind, detail=public(why)), []
    return read.documents, "", problems


def ingest(pipe: Pipeline, files: Sequence[tuple[str, str | Path]], *, folder: Path | None = None,
           progress: Callable[[float, str], None] | None = None) -> UploadReport:
    """Check, store, read and index uploaded files.

    ``files`` holds (name as uploaded, path of the uploaded bytes) pairs; ``pipe`` is the
    :class:`qa.Pipeline` to add to. Returns one :class:`FileReport` per file, in order.
    """
    folder = folder or upload_dir()
    report = UploadReport()
    per_file: list[tuple[FileReport, list[Document]]] = []
    for i, (name, src) in enumerate(files):
        fr = FileReport(name=str(name))
        report.files.append(fr)
        if progress:
            progress(i / max(1, len(files)), name)
        src = Path(src)
        try:
            size = src.stat().st_size
        except OSError as exc:
            fr.rejected = message_inline("unreadable", detail=type(exc).__name__)
            continue
        fr.rejected = _check(name, size)
        if fr.rejected:
            continue
        try:
            saved = _store(src, folder, name)
        except (OSError, ValueError) as exc:
            fr.rejected = message_inline("unreadable", detail=str(exc).replace(str(folder), "…"))
            continue
        fr.saved_as = saved.name
        docs, why, fr.problems = _read(saved, name)
        if why:
            fr.rejected = why
            _forget(saved, pipe)
            continue
        per_file.append((fr, docs))
    docs = [d for _, ds in per_file for d in ds]
    if docs:
        result = pipe.add_documents(docs, progress=True)
        added = set(result.added)
        for fr, ds in per_file:
            for d in ds:
                if d.id in added:
                    added.discard(d.id)  # a document in two files counts once, as added
                    fr.added.append(d.id)
                else:
                    fr.skipped.append(d.id)
    for fr, _ in per_file:  # a file that brought nothing new need not be kept
        if not fr.added:
            _forget(folder / fr.saved_as, pipe)
    return report


def _forget(path: Path, pipe: Pipeline) -> None:
    """Delete a stored upload unless an indexed document was read from it."""
    if not any(d.path == str(path) for d in pipe.index.documents.values()):
        path.unlink(missing_ok=True)


def document_rows(pipe: Pipeline) -> list[list]:
    """One row per indexed document: id, headline, outlet, date, passages (index order)."""
    docs = pipe.index.documents
    rows = []
    for d in pipe.index.manifest["documents"]:
        doc = docs.get(d["id"])
        rows.append([d["id"], d.get("title", ""), d.get("source", ""),
                     d.get("date") or (doc.date if doc else ""), d.get("passages", 0)])
    return rows


def remove_documents(pipe: Pipeline, doc_ids: Sequence[str], *, folder: Path | None = None) -> tuple[list[str], list[str]]:
    """Remove documents by id; returns (removed, not found). An uploaded file whose documents
    are all gone is deleted from the upload folder."""
    folder = (folder or upload_dir()).resolve()
    removed, missing = [], []
    for doc_id in doc_ids:
        doc = pipe.index.documents.get(doc_id)
        if doc is None:
            missing.append(doc_id)
            continue
        pipe.remove(doc_id)
        removed.append(doc_id)
        path = Path(doc.path) if doc.path else None
        if path is not None and path.resolve().parent == folder:
            _forget(path, pipe)
    return removed, missing
