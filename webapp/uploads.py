"""Uploads into the index: type and size checks, safe file names, per-file reports.

Uploaded files are copied into :func:`upload_dir` (``<QA_CACHE_DIR>/uploads``) under a
sanitized name — the base name only, no path separators, no leading dots — and the resolved
target is checked to lie inside that folder, so no name ("../../etc/passwd.txt",
"C:\\\\x\\\\y.txt", "/abs/path.md") can write anywhere else (:func:`prepare`). The stored
files are then read, checked against the per-upload cap, embedded and committed by
:func:`qa.ingest.index_files`: in the app by the background indexer (:func:`start_ingest`, a
process of its own, so that questions are answered meanwhile), or here and now (:func:`ingest`).
:func:`finish` turns its result into one :class:`FileReport` per file: a file that cannot be
read is rejected with the reader's message, one over the cap with the limit, and a file that
brought nothing new is deleted again.
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
    from qa.background import BackgroundIndexer, Job
    from qa.pipeline import Pipeline

from corpus import SUPPORTED_SUFFIXES
from corpus.checksums import file_sha256
from corpus.readers import BUNDLED_DIR
from qa.config import cache_dir
from qa.ingest import LIMIT_KIND, BatchResult, index_files

from .ui_text import message_inline

__all__ = ["MAX_UPLOAD_BYTES", "FileReport", "UploadReport", "upload_dir", "safe_filename", "target_path",
           "prepare", "start_ingest", "finish", "ingest", "document_rows", "origin", "remove_documents"]

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


def prepare(files: Sequence[tuple[str, str | Path]], *, folder: Path | None = None
            ) -> tuple[UploadReport, list[tuple[FileReport, Path]]]:
    """Check and store uploaded files: (the report so far, the (report, stored path) of each file
    to index). ``files`` holds (name as uploaded, path of the uploaded bytes) pairs."""
    folder = folder or upload_dir()
    report = UploadReport()
    stored: list[tuple[FileReport, Path]] = []
    for name, src in files:
        fr = FileReport(name=str(name))
        report.files.append(fr)
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
        stored.append((fr, saved))
    return report, stored


def start_ingest(indexer: BackgroundIndexer, files: Sequence[tuple[str, str | Path]], *,
                 folder: Path | None = None) -> tuple[UploadReport, list[tuple[FileReport, Path]], Job | None]:
    """:func:`prepare`, then queue the stored files on the background indexer (None: nothing to
    index). :func:`finish` the report once the job is final."""
    report, stored = prepare(files, folder=folder)
    job = indexer.submit([str(p) for _, p in stored]) if stored else None
    return report, stored, job


def finish(report: UploadReport, stored: Sequence[tuple[FileReport, Path]], result: BatchResult | None,
           pipe: Pipeline) -> UploadReport:
    """Fill each stored file's report from the batch's result and delete the stored files that
    brought nothing (a failed or cancelled batch: every file that added nothing)."""
    by_path = {r.path: r for r in (result.files if result is not None else [])}
    for fr, path in stored:
        r = by_path.get(str(path))
        if r is not None:
            def public(text: str, path: Path = path, name: str = fr.name) -> str:
                return text.replace(str(path), name)

            fr.added, fr.skipped = list(r.added), list(r.skipped)
            fr.problems = [public(p) for p in r.problems]
            if r.error_kind == LIMIT_KIND:
                fr.rejected = message_inline("upload_limit", passages=f"{r.passages:,}", sentences=f"{r.sentences:,}",
                                             max_p=f"{result.max_passages:,}", max_s=f"{result.max_sentences:,}")
            elif r.error:
                kind = "no_text" if r.error_kind in ("empty", "no_text") else "unreadable"
                fr.rejected = message_inline(kind, detail=public(r.error))
        if not fr.added:
            _forget(path, pipe)
    return report


def ingest(pipe: Pipeline, files: Sequence[tuple[str, str | Path]], *, folder: Path | None = None,
           progress: Callable[[float, str], None] | None = None) -> UploadReport:
    """Check, store, read and index uploaded files here and now (the app does it in the
    background: :func:`start_ingest`); one :class:`FileReport` per file, in order."""
    report, stored = prepare(files, folder=folder)
    names = [fr.name for fr, _ in stored]

    def step(stage: str, done: int, total: int) -> None:
        if progress is not None and stage == "reading" and names:
            progress(done / max(1, total), names[min(done, len(names) - 1)])

    result = index_files(pipe, [str(p) for _, p in stored], on_progress=step) if stored else None
    return finish(report, stored, result, pipe)


def _forget(path: Path, pipe: Pipeline) -> None:
    """Delete a stored upload unless an indexed document was read from it."""
    if not any(d.path == str(path) for d in pipe.index.documents.values()):
        path.unlink(missing_ok=True)


def origin(path: str | None, *, folder: Path | None = None) -> str:
    """Where an indexed document came from: "bundled" (corpus/articles), "uploaded" (the upload
    folder) or "added" (anything else: ``python -m qa index``, the Python API)."""
    if not path:
        return "added"
    p = Path(path).resolve()
    if p.parent == BUNDLED_DIR.resolve():
        return "bundled"
    if p.parent == (folder or upload_dir()).resolve():
        return "uploaded"
    return "added"


def document_rows(pipe: Pipeline, *, folder: Path | None = None) -> list[list]:
    """One row per indexed document: id, headline, outlet, date, passages, origin (index order)."""
    docs = pipe.index.documents
    rows = []
    for d in pipe.index.manifest["documents"]:
        doc = docs.get(d["id"])
        rows.append([d["id"], d.get("title", ""), d.get("source", ""),
                     d.get("date") or (doc.date if doc else ""), d.get("passages", 0),
                     origin(d.get("path") or (doc.path if doc else None), folder=folder)])
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
