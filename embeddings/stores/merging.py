"""Several writers on one FAISS folder: what another writer's commit changed, read back.

A :class:`~embeddings.stores.faiss.FaissStore` keeps the whole index in memory and writes it
whole on :meth:`~embeddings.stores.faiss.FaissStore.commit`. When another process (``python -m qa
index``, the app's background indexer, a second app) committed since this store read the
index, writing would drop that commit. Instead the store *merges*: by document id, since a
document is the unit every writer adds and removes.

* added there: a document in the newer commit that this store neither holds nor removed
  itself since it last read the index. Its passages, vectors, terms and sentence vectors are
  read back from the commit's files (no re-embedding) and added here under new row ids (row
  ids are this process's own; the next commit writes a consistent set);
* removed there: a document this store read from the index, still holds, and the newer
  commit no longer has;
* this store's own changes since it last read (documents it added, documents it removed)
  stay, and the next commit writes them on top.

So two writers that add different documents both keep theirs, a removal on either side
sticks, and re-adding a document that is there already stays a no-op.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpus.document import Chunk, Document

from .base import StoredPassage

__all__ = ["IncomingDocument", "read_documents", "plan_merge"]


@dataclass
class IncomingDocument:
    """One document of another writer's commit, as :meth:`FaissStore.add` takes it."""

    document: Document
    chunks: list[Chunk]
    vectors: np.ndarray
    extras: list[dict]
    sentence_vectors: list[np.ndarray] | None


def plan_merge(base: set[str], removed_here: set[str], held: Iterable[str],
               on_disk: list[str]) -> tuple[list[str], list[str]]:
    """(documents added by the other writer, documents removed by it), see the module docstring.

    ``base``: the documents of the commit this store last read or wrote; ``removed_here``: the
    ones it removed itself since; ``held``: the ones it holds now; ``on_disk``: the newer commit's."""
    held = set(held)
    disk = set(on_disk)
    added = [d for d in on_disk if d not in held and d not in removed_here]
    removed = sorted(d for d in base & held if d not in disk)
    return added, removed


def read_documents(path: Path, manifest: dict, doc_ids: Iterable[str],
                   read_index: Callable[[str], object]) -> list[IncomingDocument]:
    """The given documents of the commit ``manifest`` describes (its files already verified),
    with their stored passages, vectors and sentence vectors. ``read_index``: ``faiss.read_index``
    (passed in: this module is below :mod:`embeddings.stores.faiss`, which imports it)."""
    wanted = set(doc_ids)
    if not wanted:
        return []
    gen = manifest["generation"]
    docs: dict[str, Document] = {}
    with open(path / f"documents-{gen}.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row.get("id") in wanted:
                doc = Document.from_dict(row)
                docs[doc.id] = doc
    rows: dict[str, list[StoredPassage]] = {d: [] for d in docs}
    with open(path / f"passages-{gen}.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row["doc_id"] in rows:
                row["sentences"] = [tuple(s) for s in row["sentences"]]
                rows[row["doc_id"]].append(StoredPassage(**row))
    index = read_index(str(path / f"vectors-{gen}.faiss"))
    spath = path / f"sentences-{gen}.npy"
    matrix = np.load(spath, mmap_mode="r", allow_pickle=False) if spath.is_file() else None
    out = []
    for doc_id in [d for d in manifest_order(manifest) if d in docs]:
        passages = sorted(rows[doc_id], key=lambda p: p.index)
        chunks = [Chunk(doc_id=p.doc_id, index=p.index, start=p.start, end=p.end, text=p.text,
                        sentences=tuple(tuple(s) for s in p.sentences), n_tokens=p.n_tokens) for p in passages]
        dim = int(manifest["model"]["dim"])
        vectors = (np.vstack([index.reconstruct(int(p.id)) for p in passages]) if passages
                   else np.zeros((0, dim), dtype=np.float32))
        extras, sentence_vectors = [], []
        for p in passages:
            extra = dict(p.extra)
            span = extra.pop("sentence_rows", None)
            extras.append(extra)
            sentence_vectors.append(np.array(matrix[span[0]:span[1]]) if span is not None and matrix is not None
                                    else None)
        whole = all(v is not None for v in sentence_vectors)
        out.append(IncomingDocument(docs[doc_id], chunks, vectors, extras, sentence_vectors if whole else None))
    return out


def manifest_order(manifest: dict) -> list[str]:
    """The document ids of a manifest, in its order."""
    return [d["id"] for d in manifest.get("documents", [])]
