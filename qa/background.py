"""Indexing in the background: uploads are read, embedded and committed by a separate process
while the app keeps answering questions from the index as it was.

Why a process, not a thread: reading and cleaning a large page (trafilatura, underthesea) is
pure Python and holds the interpreter lock for minutes, and embedding takes the CPU cores; in a
thread of the serving process either would slow every question (``python -m benchmarks upload``
measures it: BENCHMARKS.md, "Questions while an upload indexes"). A process of its own runs at a
lower scheduling priority (``nice`` :data:`WORKER_NICE`) with one torch thread, so questions,
which the serving process answers at normal priority, get the CPU first; and cancelling it can
never leave the serving process in a half state.

How it fits the index: the worker opens the same index folder (a second writer, see
:mod:`embeddings.stores.merging`), adds the upload with :func:`qa.ingest.index_files` and commits;
the serving pipeline then takes that commit in (:meth:`qa.Pipeline.sync`) before the job is
reported done, so an answer that mentions the new article is never asked for before it can be
given, and nothing is reported as added that was not committed.

:class:`BackgroundIndexer` runs one job at a time, in the order submitted; a :class:`Job` says
how far it got (stage, done/total, :attr:`Job.fraction`). :meth:`BackgroundIndexer.cancel` asks
the worker to stop between two encoder slices (the documents not committed are dropped) and,
when it does not stop within :data:`CANCEL_GRACE_S` (e.g. in the middle of reading a huge
page), ends the process: the index keeps its last commit either way (crash-safe commits).
The worker is started on the first job (loading the model takes seconds) and kept for the next.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing as mp
import os
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .ingest import BatchResult

if TYPE_CHECKING:  # pragma: no cover
    from .pipeline import Pipeline

__all__ = ["BackgroundIndexer", "Job", "WORKER_NICE", "CANCEL_GRACE_S", "FINAL_STATES"]

log = logging.getLogger(__name__)

#: Scheduling priority added to the worker process (0 = the server's, 19 = lowest): 10 weighs it
#: ~1/10 of a normal process, so questions get the cores first while indexing still progresses.
WORKER_NICE = 10
#: Seconds a cancelled job may take to stop by itself before its process is ended.
CANCEL_GRACE_S = 10.0
#: States after which a job does not change any more.
FINAL_STATES = frozenset({"done", "cancelled", "failed"})
#: Share of the progress bar per stage: reading, chunking, embedding (most of the work), saving.
_STAGES = {"queued": (0.0, 0.0), "starting": (0.0, 0.02), "reading": (0.02, 0.12), "chunking": (0.12, 0.15),
           "embedding": (0.15, 0.95), "saving": (0.95, 1.0)}


@dataclass
class Job:
    """One batch of files being indexed in the background."""

    id: str
    paths: list[str]
    #: "queued", "starting" (the worker loads the model), "reading", "chunking", "embedding",
    #: "saving", then one of FINAL_STATES
    state: str = "queued"
    done: int = 0  # units of the stage done (files, documents, texts)
    total: int = 0
    error: str = ""  # what went wrong ("failed"), in English
    result: BatchResult | None = None  # when done or cancelled
    created: float = field(default_factory=time.time)
    finished: float | None = None
    cancel_requested: float | None = None

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def fraction(self) -> float:
        """Overall progress in [0, 1]."""
        if self.final:
            return 1.0
        a, b = _STAGES.get(self.state, (0.0, 0.0))
        part = self.done / self.total if self.total else 0.0
        return a + (b - a) * min(1.0, part)


def _worker_main(config: dict, inbox: mp.Queue, outbox: mp.Queue, cancel: mp.Event, nice: int,
                 threads: int) -> None:  # pragma: no cover - runs in the worker process (tests drive it end to end)
    """The worker process: one pipeline over the index, one job after the other."""
    try:
        os.nice(nice)
    except (OSError, AttributeError):
        pass
    import torch

    torch.set_num_threads(max(1, threads))
    from .config import QAConfig
    from .ingest import index_files
    from .pipeline import Pipeline

    pipe = None
    while True:
        msg = inbox.get()
        if msg is None:
            return
        job_id, paths, caps = msg

        def progress(stage: str, done: int, total: int, job_id: str = job_id) -> None:
            outbox.put(("state", job_id, stage, done, total))

        try:
            progress("starting", 0, 0)
            if pipe is None:
                pipe = Pipeline(QAConfig.from_dict(config, ignore_unknown=True))
            else:
                pipe.sync()  # what the server or other writers changed since the last job
            result = index_files(pipe, paths, max_passages=caps[0], max_sentences=caps[1],
                                 on_progress=progress, should_stop=cancel.is_set)
            outbox.put(("finished", job_id, result.to_dict()))
        except BaseException as exc:  # reported to the server, which shows it in words
            outbox.put(("failed", job_id, f"{type(exc).__name__}: {exc}"))
            pipe = None  # open the index afresh for the next job
            if not isinstance(exc, Exception):
                return


class BackgroundIndexer:
    """Indexes batches of files in a worker process over ``pipe``'s index (see the module docstring).

    ``pipe``: the serving pipeline; it takes each finished job's commit in (:meth:`Pipeline.sync`)
    before the job is reported done. ``nice`` / ``threads``: the worker's priority and torch threads."""

    def __init__(self, pipe: Pipeline, *, nice: int = WORKER_NICE, threads: int = 1) -> None:
        if pipe.index.path is None:
            raise ValueError("background indexing needs an index on disk (QAConfig.index_dir), not an in-memory one")
        self.pipe = pipe
        self.config = pipe.config.with_(index_dir=Path(pipe.index.path)).to_dict()
        self.nice, self.threads = nice, threads
        self._jobs: dict[str, Job] = {}
        self._waiting: list[Job] = []
        self._current: Job | None = None
        self._lock = threading.Condition()
        self._ids = itertools.count(1)
        self._ctx = mp.get_context("spawn")  # never fork a process that holds torch threads and locks
        self._proc = None
        self._inbox = self._outbox = self._cancel = None
        self._collector: threading.Thread | None = None
        self._closed = False

    # ------------------------------------------------------------------ public
    def submit(self, paths: Sequence[str | Path], *, max_passages: int | None = None,
               max_sentences: int | None = None) -> Job:
        """Queue ``paths`` for indexing; returns the :class:`Job` (see :func:`qa.ingest.index_files`
        for the cap, default the pipeline's)."""
        cfg = self.pipe.config
        caps = (cfg.max_upload_passages if max_passages is None else max_passages,
                cfg.max_upload_sentences if max_sentences is None else max_sentences)
        with self._lock:
            if self._closed:
                raise RuntimeError("the background indexer was closed")
            job = Job(id=f"job-{next(self._ids)}", paths=[str(p) for p in paths])
            job._caps = caps  # type: ignore[attr-defined]
            self._jobs[job.id] = job
            self._waiting.append(job)
            self._start_next()
            return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        """Cancel a queued or running job (see the module docstring); returns it (None: unknown)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.final:
                return job
            if job in self._waiting:
                self._waiting.remove(job)
                self._finish(job, "cancelled", result=BatchResult(state="cancelled"))
                return job
            job.cancel_requested = time.time()
            if self._cancel is not None:
                self._cancel.set()
            return job

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job is final (or ``timeout`` seconds passed); returns it."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            job = self._jobs[job_id]
            while not job.final:
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._lock.wait(timeout=0.5 if left is None else min(0.5, left))
            return job

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._current is not None or bool(self._waiting)

    def close(self) -> None:
        """Cancel what is queued or running and end the worker."""
        with self._lock:
            self._closed = True
            for job in list(self._waiting):
                self._waiting.remove(job)
                self._finish(job, "cancelled", result=BatchResult(state="cancelled"))
            if self._current is not None and self._cancel is not None:
                self._cancel.set()
        self._stop_process(grace=CANCEL_GRACE_S if self._current is not None else 2.0)

    # ------------------------------------------------------------------ worker handling (under self._lock)
    def _start_next(self) -> None:
        if self._current is not None or not self._waiting:
            return
        job = self._waiting.pop(0)
        if self._proc is None or not self._proc.is_alive():
            self._spawn()
        self._cancel.clear()
        self._current = job
        job.state = "starting"
        self._inbox.put((job.id, job.paths, job._caps))  # type: ignore[attr-defined]

    def _spawn(self) -> None:
        self._inbox, self._outbox, self._cancel = self._ctx.Queue(), self._ctx.Queue(), self._ctx.Event()
        self._proc = self._ctx.Process(target=_worker_main, name="qa-background-indexer", daemon=True,
                                       args=(self.config, self._inbox, self._outbox, self._cancel,
                                             self.nice, self.threads))
        self._proc.start()
        self._collector = threading.Thread(target=self._collect, args=(self._proc, self._outbox),
                                           name="qa-background-collector", daemon=True)
        self._collector.start()

    def _finish(self, job: Job, state: str, *, error: str = "", result: BatchResult | None = None) -> None:
        job.state, job.error, job.result, job.finished = state, error, result, time.time()
        if self._current is job:
            self._current = None
        self._lock.notify_all()
        if not self._closed:
            self._start_next()

    def _collect(self, proc: mp.Process, outbox: mp.Queue) -> None:
        """Parent-side thread: apply the worker's messages to the jobs; notice a dead worker and
        cancellations that are not honoured in time."""
        while True:
            try:
                msg = outbox.get(timeout=0.25)
            except queue.Empty:
                msg = None
            except (EOFError, OSError):
                return
            if msg is not None:
                self._on_message(msg)
                continue
            action = None
            with self._lock:
                job = self._current
                if self._proc is not proc:
                    return
                if job is not None and job.cancel_requested and time.time() - job.cancel_requested > CANCEL_GRACE_S:
                    self._kill(proc)  # it did not stop by itself (e.g. reading a huge page)
                    action = (job, "cancelled", BatchResult(state="cancelled"), "")
                elif not proc.is_alive():
                    self._proc = None
                    if job is not None:
                        action = (job, "failed", None,
                                  f"the indexing process stopped unexpectedly (exit code {proc.exitcode})")
                    else:
                        return
            if action is not None:
                self._after_job(*action)
                return

    def _on_message(self, msg: tuple) -> None:
        kind, job_id = msg[0], msg[1]
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.final:
                return
            if kind == "state":
                job.state, job.done, job.total = msg[2], msg[3], msg[4]
                self._lock.notify_all()
                return
        if kind == "finished":
            result = BatchResult.from_dict(msg[2])
            self._after_job(job, "cancelled" if result.state == "cancelled" else "done", result, "")
        elif kind == "failed":
            self._after_job(job, "failed", None, msg[2])

    def _after_job(self, job: Job, state: str, result: BatchResult | None, error: str) -> None:
        """Take the worker's commit into the serving pipeline, then report the job final."""
        try:
            self.pipe.sync()
        except Exception as exc:  # the commit is on disk; this process could not read it
            log.exception("could not take in the background indexer's commit")
            state, error = "failed", f"indexed, but the app could not load the new index ({type(exc).__name__}: {exc})"
        if result is not None:  # only what the serving index now holds counts as added
            for f in result.files:
                f.added = [d for d in f.added if d in self.pipe.index]
        with self._lock:
            self._finish(job, state, error=error, result=result)

    def _kill(self, proc: mp.Process) -> None:
        proc.terminate()
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join(5)
        self._proc = None

    def _stop_process(self, grace: float) -> None:
        proc, inbox = self._proc, self._inbox
        if proc is None:
            return
        try:
            inbox.put(None)
        except (OSError, ValueError):
            pass
        proc.join(grace)
        if proc.is_alive():
            self._kill(proc)
        self._proc = None
