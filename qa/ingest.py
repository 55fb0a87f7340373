"""One batch of files into the index, file by file, within a size cap: what an upload does.

:func:`index_files` reads each file (:func:`corpus.read_paths_report`), chunks its documents,
checks the batch against the per-upload cap (:attr:`qa.QAConfig.max_upload_passages` and
:attr:`~qa.QAConfig.max_upload_sentences`), embeds and commits what fits, and says for every file
what became of it (:class:`FileResult`). It runs in the app's background indexing process
(:mod:`qa.background`) and, for a caller that wants to wait, in process.

Why a cap in passages and sentences besides the byte cap: the work an upload costs is
embedding, one text per passage and one per sentence, and bytes say little about it (a 9 MB
HTML page of 320,000 one-line paragraphs is 320,000 sentences: hours of embedding on two CPU
cores). The cap is checked after chunking, before any embedding, and a file that would take the
batch over it is refused with a message that names the limit; the other files go on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from corpus.document import Chunk, Document

from .indexing import IndexingCancelled, Progress

if TYPE_CHECKING:  # pragma: no cover
    from .pipeline import Pipeline

__all__ = ["FileResult", "BatchResult", "index_files", "LIMIT_KIND"]

#: ``FileResult.error_kind`` of a file refused by the per-upload cap.
LIMIT_KIND = "upload-limit"


@dataclass
class FileResult:
    """What became of one file of a batch."""

    path: str
    documents: list[str] = field(default_factory=list)  # ids read from it
    added: list[str] = field(default_factory=list)  # committed to the index by this batch
    skipped: list[str] = field(default_factory=list)  # already in the index (or earlier in the batch)
    problems: list[str] = field(default_factory=list)  # parts skipped (a broken JSONL line), "file, line n: why"
    error: str = ""  # why the file gives nothing ("" when it was read)
    #: the reader's ReadProblem.kind ("empty", "binary", "no_text", ...), "unreadable", or LIMIT_KIND
    error_kind: str = ""
    passages: int = 0  # passages and sentences its new documents make
    sentences: int = 0


@dataclass
class BatchResult:
    """What :func:`index_files` did: one :class:`FileResult` per file, in order."""

    files: list[FileResult] = field(default_factory=list)
    state: str = "done"  # "done" or "cancelled" (what was committed before stays)
    max_passages: int = 0  # the cap it was checked against
    max_sentences: int = 0

    @property
    def added(self) -> list[str]:
        return [d for f in self.files for d in f.added]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> BatchResult:
        return cls(files=[FileResult(**f) for f in d.get("files", [])], state=d.get("state", "done"),
                   max_passages=d.get("max_passages", 0), max_sentences=d.get("max_sentences", 0))


def _read(path: str) -> tuple[list[Document], FileResult]:
    from corpus import read_paths_report

    fr = FileResult(path=str(path))
    try:
        read = read_paths_report([path])
    except Exception as exc:  # every reader failure is reported, never raised
        fr.error, fr.error_kind = str(exc) or type(exc).__name__, "unreadable"
        return [], fr
    if not read.documents:
        first = read.problems[0] if read.problems else None
        fr.error = first.reason if first else "no article text in the file"
        fr.error_kind = first.kind if first else "no_text"
        return [], fr
    fr.problems = [str(p) for p in read.problems]
    fr.documents = [d.id for d in read.documents]
    return read.documents, fr


def index_files(pipe: Pipeline, paths: Sequence[str | Path], *, max_passages: int | None = None,
                max_sentences: int | None = None, on_progress: Progress | None = None,
                should_stop: Callable[[], bool] | None = None) -> BatchResult:
    """Read, check against the cap, embed and commit ``paths`` (see the module docstring).

    ``max_passages`` / ``max_sentences``: the cap (default: the pipeline's
    :attr:`~qa.QAConfig.max_upload_passages` / :attr:`~qa.QAConfig.max_upload_sentences`; 0: none).
    ``on_progress(stage, done, total)`` hears "reading" (files), then the indexer's stages;
    ``should_stop()`` returning True cancels (``state="cancelled"``)."""
    cfg = pipe.config
    cap_p = cfg.max_upload_passages if max_passages is None else max_passages
    cap_s = cfg.max_upload_sentences if max_sentences is None else max_sentences
    result = BatchResult(max_passages=cap_p, max_sentences=cap_s)
    accepted: list[tuple[Document, list[Chunk]]] = []
    owner: dict[str, FileResult] = {}  # document id -> the first file that holds it
    used_p = used_s = 0
    for i, path in enumerate(paths):
        if on_progress is not None:
            on_progress("reading", i, len(paths))
        if should_stop is not None and should_stop():
            result.state = "cancelled"
            return result
        docs, fr = _read(str(path))
        result.files.append(fr)
        fresh = [d for d in docs if d.id not in pipe.index and d.id not in owner]
        fr.skipped = [d.id for d in docs if d.id in pipe.index or d.id in owner]
        chunked = [(d, pipe.chunk(d)) for d in fresh]
        fr.passages = sum(len(c) for _, c in chunked)
        fr.sentences = sum(len({s for ch in c for s in ch.sentences}) for _, c in chunked)
        if (cap_p and used_p + fr.passages > cap_p) or (cap_s and used_s + fr.sentences > cap_s):
            fr.error_kind = LIMIT_KIND
            fr.error = (f"this file makes {fr.passages:,} passages ({fr.sentences:,} sentences); one upload may "
                        f"make at most {cap_p:,} passages and {cap_s:,} sentences"
                        + (f" ({used_p:,} and {used_s:,} are taken by the files before it)" if used_p else "")
                        + ": split the file, or index it with `python -m qa index`")
            fr.documents, fr.skipped, fr.problems = [], [], []
            continue
        used_p += fr.passages
        used_s += fr.sentences
        for d, c in chunked:
            owner[d.id] = fr
            accepted.append((d, c))
    if on_progress is not None:
        on_progress("reading", len(paths), len(paths))
    try:
        report = pipe.indexer.add_chunked(accepted, on_progress=on_progress, should_stop=should_stop)
        added = report.added
    except IndexingCancelled as exc:
        result.state = "cancelled"
        added = exc.report.added
    done = set(added)
    for d, _ in accepted:
        if d.id in done:
            owner[d.id].added.append(d.id)
        elif result.state == "done":  # another writer's commit brought it meanwhile
            owner[d.id].skipped.append(d.id)
    return result
