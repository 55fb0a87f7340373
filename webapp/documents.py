"""What the Documents tab does: upload (indexed in the background, with progress, cancellable),
remove, and the list of indexed articles (searchable, bundled and uploaded told apart).

Uploads run on the background indexer (:class:`qa.background.BackgroundIndexer`, a process of
its own, see :mod:`webapp.uploads`): the upload handler only checks and stores the files, then
reports the job's progress until it is final, so questions keep being answered meanwhile from
the index as it was. Every failure, a refused file or an indexing error, is reported in words
in the result area; nothing is reported as added that the index did not commit.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from corpus.normalize import fold_diacritics

from .handlers import Backends
from .render import escape
from .ui_text import STAGES, T, message, message_inline
from .uploads import UploadReport, document_rows, finish, ingest, remove_documents, start_ingest

if TYPE_CHECKING:  # pragma: no cover
    from qa.background import Job

__all__ = ["upload", "cancel_upload", "remove", "documents_html", "document_choices", "source_choices",
           "POLL_S", "summary"]

log = logging.getLogger("app")

#: How often the upload handler reports the background job's progress (seconds).
POLL_S = 0.5


def _paths(files: Sequence[object] | None) -> list[str]:
    return [f if isinstance(f, str) else getattr(f, "name", str(f)) for f in (files or [])]


def summary(report: UploadReport) -> str:
    """The Markdown summary of an :class:`~webapp.uploads.UploadReport`: one line per file."""
    lines = [message("upload_summary", added=report.added, skipped=report.skipped, rejected=report.rejected), ""]
    for f in report.files:
        if f.rejected:
            lines.append(f"- `{_md_code(f.name)}` — **{T['rejected']}**: {f.rejected}")
        else:
            lines.append(f"- `{_md_code(f.name)}` — "
                         + message_inline("file_added", added=len(f.added), skipped=len(f.skipped)))
            lines.extend(f"  - {T['skipped_part']}: {_md_code(p)}" for p in f.problems)
    return "\n".join(lines)


def _md_code(text: str) -> str:
    return text.replace("`", "'")


def _progress_line(job: Job) -> str:
    if job.state == "queued":
        return message("queued")
    vi, en = STAGES.get(job.state, (job.state, job.state))
    line = message("indexing", stage_vi=vi, stage_en=en, pct=int(round(100 * job.fraction)))
    if job.state == "embedding" and job.total:
        line += f"  \n<small>{job.done:,} / {job.total:,}</small>"
    return line


def upload(files: Sequence[object] | None, progress: Callable[..., object], *, backends: Backends,
           on_job: Callable[[str], None] | None = None, poll_s: float = POLL_S) -> Iterator[str]:
    """Upload handler: check and store the files, index them in the background, and yield the
    progress (Markdown) until the job is final, then the summary (one line per file).
    ``on_job(job_id)`` hears the job's id (the page keeps it for the cancel button)."""
    paths = _paths(files)
    if not paths:
        yield message("no_files")
        return
    try:
        pipe = backends.base()
    except Exception as exc:
        log.exception("index unavailable")
        yield message("index_missing", detail=str(exc))
        return
    if pipe.index.path is None:  # an in-memory index: no second process can open it, index here
        try:
            report = ingest(pipe, [(Path(p).name, p) for p in paths])
            backends.refresh()
        except Exception as exc:
            log.exception("upload failed")
            yield message("upload_failed", detail=f"{type(exc).__name__}: {exc}")
            return
        yield summary(report)
        return
    try:
        jobs = backends.jobs()
        report, stored, job = start_ingest(jobs, [(Path(p).name, p) for p in paths])
    except Exception as exc:  # e.g. the background indexer could not be started
        log.exception("upload failed")
        yield message("upload_failed", detail=f"{type(exc).__name__}: {exc}")
        return
    if job is not None:
        if on_job is not None:
            on_job(job.id)
        while not job.final:
            try:
                progress(job.fraction, desc=_progress_line(job).split("  \n")[1])
            except Exception:  # noqa: BLE001 - a progress bar that cannot be drawn is no failure
                pass
            yield _progress_line(job)
            jobs.wait(job.id, timeout=poll_s)
    result = job.result if job is not None else None
    try:
        finish(report, stored, result, pipe)
        backends.refresh()
    except Exception as exc:  # never a blank result: say what went wrong
        log.exception("upload failed")
        yield message("upload_failed", detail=f"{type(exc).__name__}: {exc}")
        return
    if job is not None and job.state == "failed":
        yield message("upload_failed", detail=job.error) + "\n\n" + summary(report)
        return
    if job is not None and job.state == "cancelled":
        head = message("cancelled_some", n=report.added) if report.added else message("cancelled")
        yield head + "\n\n" + summary(report)
        return
    yield summary(report)


def cancel_upload(job_id: str | None, *, backends: Backends) -> str:
    """Cancel button: ask the background indexer to stop the page's running upload."""
    if not job_id:
        return message("nothing_to_cancel")
    try:
        job = backends.jobs().cancel(job_id)
    except Exception as exc:
        return message("failed", detail=str(exc))
    if job is None or job.final:
        return message("nothing_to_cancel")
    return message("cancelling")


def remove(doc_ids: str | Sequence[str] | None, *, backends: Backends) -> str:
    """Removal handler (and the ``/remove`` API): remove the given documents by id; ids that are
    not in the index are named, each in a line of its own."""
    ids = [doc_ids] if isinstance(doc_ids, str) else list(doc_ids or [])
    ids = [str(i).strip() for i in ids if str(i).strip()]
    if not ids:
        return message("nothing_selected")
    try:
        removed, missing = remove_documents(backends.base(), ids)
    except Exception as exc:
        log.exception("removal failed")
        return message("remove_failed", detail=f"{type(exc).__name__}: {exc}")
    backends.refresh()
    out = message("removed", n=len(removed))
    for doc_id in missing:
        out += "  \n" + message_inline("not_in_index", doc_id=escape(doc_id))
    return out


def _rows(backends: Backends) -> list[list]:
    try:
        pipe = backends.base()
        pipe.sync()  # what another process (the CLI, another app) committed since
        return document_rows(pipe)
    except Exception:
        log.exception("index unavailable")
        return []


def _matches(row: list, query: str) -> bool:
    q = fold_diacritics(query.strip().lower())
    return not q or all(w in fold_diacritics(" ".join(str(x) for x in row).lower()) for w in q.split())


def documents_html(backends: Backends, query: str = "") -> str:
    """The list of indexed articles as an HTML table (headline, outlet, date, passages, origin;
    the id under the headline), filtered by ``query`` (words of headline, outlet, date or id,
    diacritics optional). Regular text, not a data grid: Vietnamese diacritics stay on their
    letters, and at phone width each row becomes a card."""
    rows = _rows(backends)
    shown = [r for r in rows if _matches(r, query)]
    cols = T["doc_cols"]
    head = "".join(f"<th>{escape(c)}</th>" for c in cols)
    body = []
    for doc_id, title, source, date, passages, origin in shown:
        body.append(
            f'<tr class="doc origin-{origin}"><td data-label="{html.escape(cols[0])}"><span class="doc-title">'
            f'{escape(title) or "—"}</span><br><code class="doc-id">{escape(doc_id)}</code></td>'
            f'<td data-label="{html.escape(cols[1])}">{escape(source) or "—"}</td>'
            f'<td data-label="{html.escape(cols[2])}">{escape(date) or "—"}</td>'
            f'<td data-label="{html.escape(cols[3])}" class="num">{int(passages)}</td>'
            f'<td data-label="{html.escape(cols[4])}"><span class="origin-tag">{escape(T["origin_" + origin])}</span></td></tr>')
    count = escape(T["doc_count"].format(shown=len(shown), total=len(rows)))
    if not shown:
        body.append(f'<tr><td colspan="5" class="empty">{escape(T["doc_none"] if rows else T["doc_empty"])}</td></tr>')
    return (f'<div class="doc-list"><p class="doc-count">{count}</p><table class="docs"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def document_choices(backends: Backends) -> list[tuple[str, str]]:
    """(label, id) of each indexed article, for the removal picker."""
    return [(f"{r[1][:70]} · {r[0]}", r[0]) for r in _rows(backends)]


def source_choices(backends: Backends) -> list[str]:
    """The outlets of the indexed articles, for the source filter."""
    try:
        docs = backends.base().index.documents
    except Exception:
        return []
    return sorted({d.source for d in docs.values() if d.source}, key=lambda s: fold_diacritics(s.lower()))
