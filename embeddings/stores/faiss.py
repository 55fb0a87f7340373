"""The default passage store: FAISS in a directory (:class:`FaissStore`), embedded in the process.

Layout of an index directory::

    manifest.json            the commit point: model, fingerprint, dimension, chunking,
                             document list, and the generation the files below belong to
    vectors-<gen>.faiss      FAISS IndexIDMap2(IndexFlatIP): inner product on L2-normalized
                             vectors = cosine similarity; ids are passage row ids
    passages-<gen>.jsonl     one passage per line: id, doc_id, offsets, sentences, text
    documents-<gen>.jsonl    the cleaned documents (citations show spans of these texts)
    ann-<gen>.faiss          only at embeddings.stores.ann.ANN_THRESHOLD passages and more: the
                             approximate (IVF) index searched instead of the flat one
    sentences-<gen>.npy      float16 vectors of every passage sentence, rows in passage order
                             (each passage row names its slice), for sentence-level rescoring
                             and answer selection without embedding at question time
    .lock                    held while writing

Writes are atomic: a commit writes the files of a new generation, fsyncs them, then replaces
``manifest.json`` in one ``os.replace``. Several processes may write one folder: a commit holds
``.lock``, and one that finds a newer commit than the one it read merges it first (documents
another writer added or removed, see :mod:`embeddings.stores.merging`) instead of overwriting
it; :meth:`FaissStore.sync` takes such a commit in without writing. A crash at any point leaves the previous manifest,
which names only files of the previous generation, so the index stays loadable; leftovers of
an interrupted commit are removed by the next one. Nothing is pickled.

Integrity: the manifest records the size and SHA-256 of every file of its generation
(``"files"``), and :meth:`FaissStore.open` checks them (:func:`~embeddings.stores.integrity.verify_files`) before loading:
a truncated, damaged or missing file, or a truncated ``manifest.json``, raises
:class:`CorruptIndexError` naming the file, instead of a FAISS or JSON traceback (or, worse,
wrong answers from a flipped byte). Hashing reads every file once more: ~0.2 s per 100 MiB on one
core, small next to loading the same files; ``open(path, checksums=False)`` checks sizes only.
Indexes written before checksums existed (no ``"files"``) are loaded without these checks.

Exact (flat) search is the right default for small and medium collections: 10,000
passages x 384 dimensions is a 15 MB matrix searched in about a millisecond, with no training
step and no recall loss. From :data:`embeddings.stores.ann.ANN_THRESHOLD` passages on, searches go
to an approximate IVF index kept beside the flat one (see :mod:`embeddings.stores.ann`).

Why this module is long: construction, adding and removing, search, merging another writer's
commit and the atomic commit all work on one store's in-memory state (the FAISS index, the
passages, the manifest); what needs none of it lives beside it (``merging.py``,
``integrity.py``, ``ann.py``).
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import faiss

from corpus.document import Chunk, Document

from . import ann
from .base import (
    FORMAT_VERSION,
    ConcurrentChangeError,
    CorruptIndexError,
    IndexMismatchError,
    MergeReport,
    PassageFilter,
    StoredPassage,
    VectorStore,
)
from .integrity import (
    MANIFEST,
    file_record,
    fsync_dir,
    fsync_write,
    generation_files,
    verify_files,
)

__all__ = ["FaissStore", "load_faiss"]


_FAISS_READY = False


def load_faiss() -> ModuleType:
    """The faiss module, set to one OpenMP thread.

    Searches here are one query at a time against a flat index: a 10,000 x 384 scan takes
    ~0.3 ms on one core, while FAISS's OpenMP fan-out over 2 cores costs ~20 ms of thread
    synchronisation on a busy machine (measured: BENCHMARKS.md). Torch keeps its own threads.
    """
    global _FAISS_READY
    import faiss

    if not _FAISS_READY:
        faiss.omp_set_num_threads(1)
        _FAISS_READY = True
    return faiss


class FaissStore(VectorStore):
    """Passages, their documents and their vectors, with atomic persistence.

    Use :meth:`create` for a new index, :meth:`open` for an existing one, then :meth:`add`,
    :meth:`remove` and :meth:`search`; call :meth:`commit` to make changes durable.
    """

    def __init__(self, path: Path | None, manifest: dict, index: faiss.IndexIDMap2, passages: dict[int, StoredPassage],
                 documents: dict[str, Document], sentence_vectors: dict[int, np.ndarray] | None = None):
        self.path = Path(path) if path is not None else None
        self.manifest = manifest
        self._index = index
        self.passages = passages
        self.documents = documents
        #: passage id -> (n_sentences, dim) float16 vectors, when the passages were added with them
        self.sentence_vectors: dict[int, np.ndarray] = sentence_vectors or {}
        self._dirty = False
        #: approximate index used at :attr:`ann_threshold` passages and more (embeddings.stores.ann)
        self._ann = None
        #: None = :data:`embeddings.stores.ann.ANN_THRESHOLD`
        self.ann_threshold: int | None = None
        #: take in another writer's newer commit before writing (False: refuse to commit, the
        #: behaviour before several writers were supported)
        self.merge = True
        #: documents of the commit this store last read or wrote, and those it removed since
        #: (see embeddings.stores.merging)
        self._base_docs: set[str] = {d["id"] for d in manifest.get("documents", [])}
        self._removed_here: set[str] = set()
        #: what the last commit took in from another writer's newer commit
        self.last_merge = MergeReport()

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(cls, path: str | Path | None, *, model: str, fingerprint: str, probe: Sequence[float],
               dim: int, chunking: dict) -> FaissStore:
        """A new, empty index (in memory until :meth:`commit`; ``path=None`` never persists)."""
        if path is not None and (Path(path) / MANIFEST).exists():
            raise FileExistsError(f"an index already exists at {path}; open it instead")
        faiss = load_faiss()
        manifest = {
            "format_version": FORMAT_VERSION, "generation": 0, "created": time.time(), "updated": None,
            "model": {"name": model, "fingerprint": fingerprint, "probe": [float(x) for x in probe], "dim": dim},
            "chunking": dict(chunking), "next_id": 0, "documents": [],
        }
        return cls(path, manifest, faiss.IndexIDMap2(faiss.IndexFlatIP(dim)), {}, {})

    @classmethod
    def exists(cls, path: str | Path) -> bool:
        return (Path(path) / MANIFEST).is_file()

    @classmethod
    def open(cls, path: str | Path, *, checksums: bool = True) -> FaissStore:
        """Load a committed index; files of an interrupted later commit are ignored.

        Raises :class:`CorruptIndexError` when a file is missing, truncated or damaged (sizes
        always; SHA-256 hashes unless ``checksums=False``, see the module docstring)."""
        path = Path(path)
        mpath = path / MANIFEST
        if not mpath.is_file():
            raise FileNotFoundError(f"no index at {path} (missing {MANIFEST}); build one with `python -m qa index`")
        try:
            manifest = json.loads(mpath.read_text(encoding="utf-8"))
            if isinstance(manifest, dict) and manifest.get("format_version") not in (None, FORMAT_VERSION):
                # another version's index: say so, whatever else its manifest holds
                return cls._load(path, manifest, checksums=checksums)
            if not isinstance(manifest, dict) or "generation" not in manifest:
                raise ValueError("no generation")
        except (ValueError, UnicodeDecodeError) as exc:
            raise CorruptIndexError(path, MANIFEST, f"is truncated or not an index manifest ({exc})") from exc
        try:
            return cls._load(path, manifest, checksums=checksums)
        except (CorruptIndexError, IndexMismatchError):
            raise
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            # e.g. a pre-checksum index with a damaged file: FAISS/JSON/NumPy errors
            raise CorruptIndexError(path, f"generation {manifest.get('generation')}",
                                    f"cannot be loaded ({type(exc).__name__}: {exc})") from exc

    @classmethod
    def _load(cls, path: Path, manifest: dict, *, checksums: bool) -> FaissStore:
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexMismatchError(
                f"index at {path} has format {manifest.get('format_version')}, this version reads "
                f"{FORMAT_VERSION}; rebuild it")
        verify_files(path, manifest, checksums=checksums)
        gen = manifest["generation"]
        faiss = load_faiss()
        if gen == 0:
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(manifest["model"]["dim"]))
        else:
            index = faiss.read_index(str(path / f"vectors-{gen}.faiss"))
        passages: dict[int, StoredPassage] = {}
        documents: dict[str, Document] = {}
        if gen:
            with open(path / f"passages-{gen}.jsonl", encoding="utf-8") as f:
                for line in f:
                    row = json.loads(line)
                    row["sentences"] = [tuple(s) for s in row["sentences"]]
                    passages[row["id"]] = StoredPassage(**row)
            with open(path / f"documents-{gen}.jsonl", encoding="utf-8") as f:
                for line in f:
                    doc = Document.from_dict(json.loads(line))
                    documents[doc.id] = doc
        if index.ntotal != len(passages):
            raise CorruptIndexError(path, f"vectors-{gen}.faiss",
                                    f"holds {index.ntotal} vectors for {len(passages)} passages")
        sentence_vectors: dict[int, np.ndarray] = {}
        spath = path / f"sentences-{gen}.npy"
        if gen and spath.is_file():
            matrix = np.load(spath, allow_pickle=False)
            for pid, p in passages.items():
                rows = p.extra.pop("sentence_rows", None)
                if rows is not None:
                    sentence_vectors[pid] = matrix[rows[0]:rows[1]]
        opened = cls(path, manifest, index, passages, documents, sentence_vectors)
        apath = path / f"ann-{gen}.faiss"
        if gen and apath.is_file():
            stored_ann = faiss.read_index(str(apath))
            if stored_ann.ntotal == index.ntotal:  # else rebuilt on first search
                opened._ann = stored_ann
        return opened

    # ------------------------------------------------------------------ checks
    @property
    def where(self) -> str:
        return f"the index at {self.path}" if self.path is not None else "the in-memory index"

    # ------------------------------------------------------------------ mutation
    def add(self, document: Document, chunks: Sequence[Chunk], vectors: np.ndarray,
            extras: Sequence[dict] | None = None,
            sentence_vectors: Sequence[np.ndarray] | None = None) -> list[int]:
        """Add one document's passages; a document already present is left as it is.

        ``sentence_vectors``, if given, holds for each chunk one vector per sentence of it.
        """
        if document.id in self.documents:
            return []
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(chunks), self.dim):
            raise ValueError(f"expected {len(chunks)} vectors of dim {self.dim}, got {vectors.shape}")
        start = self.manifest["next_id"]
        ids = list(range(start, start + len(chunks)))
        if chunks:
            self._index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))
            if self._ann is not None:
                self._ann.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))
        for i, (row_id, chunk) in enumerate(zip(ids, chunks)):
            p = StoredPassage.from_chunk(row_id, chunk)
            if extras is not None:
                p.extra = dict(extras[i])
            if sentence_vectors is not None:
                sv = np.asarray(sentence_vectors[i], dtype=np.float16)
                if sv.shape != (len(chunk.sentences), self.dim):
                    raise ValueError(f"chunk {i}: expected {len(chunk.sentences)} sentence vectors, got {sv.shape}")
                self.sentence_vectors[row_id] = sv
            self.passages[row_id] = p
        self.documents[document.id] = document
        self._removed_here.discard(document.id)
        self.manifest["next_id"] = start + len(chunks)
        self.manifest["documents"].append({
            "id": document.id, "title": document.title, "source": document.source, "url": document.url,
            "date": document.date, "path": document.path, "passages": len(chunks),
        })
        self._dirty = True
        return ids

    def remove(self, doc_id: str) -> int:
        """Remove a document and its passages; returns how many passages were removed."""
        if doc_id not in self.documents:
            raise KeyError(f"no document with id {doc_id!r} in the index")
        if doc_id in self._base_docs:
            self._removed_here.add(doc_id)
        return self._remove(doc_id)

    def _remove(self, doc_id: str) -> int:
        ids = self._forget(doc_id)
        if ids:
            self._index.remove_ids(np.asarray(ids, dtype=np.int64))
            if self._ann is not None:
                self._ann.remove_ids(np.asarray(ids, dtype=np.int64))
        self._dirty = True
        return len(ids)

    # ------------------------------------------------------------------ search
    def search(self, query_vectors: np.ndarray, k: int,
               filter: PassageFilter | None = None) -> list[list[tuple[int, float]]]:
        """For each query vector, the ``k`` nearest passages (passing ``filter``) as (passage id, cosine)."""
        q = np.ascontiguousarray(np.atleast_2d(query_vectors), dtype=np.float32)
        allowed = self.filter_ids(filter)
        n = len(self.passages) if allowed is None else len(allowed)
        if n == 0 or k < 1:
            return [[] for _ in range(len(q))]
        if allowed is not None:  # exact within the filter: FAISS skips the other ids during the scan
            faiss = load_faiss()
            selector = faiss.IDSelectorBatch(np.fromiter(allowed, dtype=np.int64, count=len(allowed)))
            scores, ids = self._index.search(q, min(k, n), params=faiss.SearchParameters(sel=selector))
        else:
            scores, ids = self.search_index().search(q, min(k, n))
        return [[(int(i), float(s)) for i, s in zip(row_ids, row_scores) if i >= 0]
                for row_ids, row_scores in zip(ids, scores)]

    def search_index(self) -> faiss.Index:
        """The FAISS index searches use: the approximate one at :attr:`ann_threshold` passages
        and more (built on first need, rebuilt when the collection outgrew it), else the flat one."""
        n = len(self.passages)
        if not ann.use_ann(n, self.ann_threshold):
            self._ann = None
            return self._index
        if self._ann is None or ann.needs_rebuild(self._ann, n):
            self._ann = ann.build(*ann.flat_contents(self._index))
        return self._ann

    def vectors(self, ids: Iterable[int]) -> np.ndarray:
        """Stored vectors of the given passage ids."""
        ids = list(ids)
        if not ids:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack([self._index.reconstruct(int(i)) for i in ids])

    # ------------------------------------------------------------------ several writers
    def sync(self) -> MergeReport:
        """Take in another writer's newer commit, if any (see :mod:`embeddings.stores.merging`),
        keeping this store's uncommitted changes; nothing is written. The in-memory change runs
        through :attr:`change_guard`."""
        if self.path is None or not (self.path / MANIFEST).exists():
            return MergeReport()
        from filelock import FileLock

        with FileLock(str(self.path / ".lock")):  # a commit meanwhile would delete the files read
            disk = self._disk_manifest()
            if disk is None or disk["generation"] == self.manifest["generation"]:
                return MergeReport()
            return self._merge(disk)

    def _disk_manifest(self) -> dict | None:
        on_disk = self.path / MANIFEST
        if not on_disk.exists():
            return None
        try:
            manifest = json.loads(on_disk.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise CorruptIndexError(self.path, MANIFEST, f"is truncated or not an index manifest ({exc})") from exc
        if not isinstance(manifest, dict) or "generation" not in manifest:
            raise CorruptIndexError(self.path, MANIFEST, "is not an index manifest")
        return manifest

    def _merge(self, disk: dict) -> MergeReport:
        """Merge the commit ``disk`` (the newer manifest) into memory (the file lock is held)."""
        from .merging import plan_merge, read_documents

        if not self.merge:
            raise ConcurrentChangeError(
                f"the index at {self.path} was changed by another process since it was opened; "
                "re-open it and repeat the change")
        if disk.get("format_version") != FORMAT_VERSION or disk.get("model", {}).get("fingerprint") != \
                self.manifest["model"]["fingerprint"] or disk.get("chunking") != self.manifest["chunking"]:
            raise IndexMismatchError(
                f"{self.where} was replaced by another process with an index of another format, model or "
                "chunking; re-open it")
        verify_files(self.path, disk)
        on_disk = [d["id"] for d in disk.get("documents", [])]
        added, removed = plan_merge(self._base_docs, self._removed_here, self.documents, on_disk)
        incoming = read_documents(self.path, disk, added, load_faiss().read_index)

        def apply() -> MergeReport:
            pending = bool(self._removed_here) or any(d not in self._base_docs for d in self.documents)
            self.manifest["next_id"] = max(self.manifest["next_id"], int(disk.get("next_id", 0)))
            for doc_id in removed:
                self._remove(doc_id)
            for item in incoming:
                self.add(item.document, item.chunks, item.vectors, item.extras, item.sentence_vectors)
            self.manifest["generation"] = disk["generation"]
            self.manifest["files"] = disk.get("files")
            self._base_docs = set(on_disk)
            self._removed_here &= self._base_docs
            self._dirty = pending
            return MergeReport(added=[i.document.id for i in incoming], removed=removed,
                               generation=disk["generation"])

        return self._apply_change(apply)

    # ------------------------------------------------------------------ persistence
    def commit(self) -> bool:
        """Persist atomically (see module docstring). Returns False when there was nothing to write.

        A newer commit by another writer is merged first (:meth:`sync`), then the union written."""
        if self.path is None:
            raise ValueError("this index is in memory only (path=None)")
        if not self._dirty and (self.path / MANIFEST).exists():
            return False
        from filelock import FileLock

        self.path.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.path / ".lock")):
            on_disk = self.path / MANIFEST
            disk = self._disk_manifest()
            current = disk["generation"] if disk is not None else 0
            if current != self.manifest["generation"]:
                if disk is None:  # the folder was emptied meanwhile: write everything held
                    self._base_docs, self._removed_here = set(), set()
                else:
                    self.last_merge = self._merge(disk)
            gen = current + 1
            for leftover in generation_files(self.path, gen):  # of an interrupted commit
                leftover.unlink()
            faiss = load_faiss()
            vec_path = self.path / f"vectors-{gen}.faiss"
            tmp = vec_path.with_name(vec_path.name + ".tmp")
            faiss.write_index(self._index, str(tmp))
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp, vec_path)
            if self.search_index() is self._ann and self._ann is not None:
                atmp = self.path / f"ann-{gen}.faiss.tmp"
                faiss.write_index(self._ann, str(atmp))
                with open(atmp, "rb+") as f:
                    os.fsync(f.fileno())
                os.replace(atmp, self.path / f"ann-{gen}.faiss")
            rows, blocks, n = {}, [], 0
            for pid in self.passages:
                sv = self.sentence_vectors.get(pid)
                if sv is not None:
                    rows[pid] = [n, n + len(sv)]
                    blocks.append(sv)
                    n += len(sv)
            if blocks:
                buf = io.BytesIO()
                np.save(buf, np.concatenate(blocks).astype(np.float16), allow_pickle=False)
                fsync_write(self.path / f"sentences-{gen}.npy", buf.getvalue())
            lines = []
            for p in self.passages.values():
                row = asdict(p)
                if p.id in rows:
                    row["extra"] = dict(row["extra"], sentence_rows=rows[p.id])
                lines.append(json.dumps(row, ensure_ascii=False) + "\n")
            fsync_write(self.path / f"passages-{gen}.jsonl", "".join(lines).encode("utf-8"))
            fsync_write(self.path / f"documents-{gen}.jsonl", "".join(
                json.dumps(d.to_dict(), ensure_ascii=False) + "\n" for d in self.documents.values()).encode("utf-8"))
            files = {f.name: file_record(f) for f in generation_files(self.path, gen)}
            manifest = dict(self.manifest, generation=gen, updated=time.time(), files=files)
            fsync_write(on_disk, json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8"))
            fsync_dir(self.path)
            self.manifest = manifest
            self._dirty = False
            self._base_docs = set(self.documents)
            self._removed_here = set()
            self._remove_stale(gen)
        return True

    def _remove_stale(self, gen: int) -> None:
        keep = {f"vectors-{gen}.faiss", f"ann-{gen}.faiss", f"passages-{gen}.jsonl", f"documents-{gen}.jsonl",
                f"sentences-{gen}.npy", MANIFEST, ".lock"}
        for p in self.path.iterdir():
            if p.name not in keep and (p.name.startswith(("vectors-", "ann-", "passages-", "documents-", "sentences-"))
                                       or p.name.endswith(".tmp")):
                p.unlink(missing_ok=True)
