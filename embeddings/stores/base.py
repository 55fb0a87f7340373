"""The vector-store contract: :class:`VectorStore`, what it stores (:class:`StoredPassage`), how it is
filtered (:class:`PassageFilter`), its errors (all :class:`StoreError`) and :data:`FORMAT_VERSION`.

Two stores implement :class:`VectorStore`:

- :class:`embeddings.stores.faiss.FaissStore`: FAISS in a directory, embedded, the default.
- :class:`embeddings.stores.milvus.MilvusStore`: a Milvus collection through ``pymilvus``, either a
  local Milvus Lite file (``.../index.db``) or a Milvus standalone/cluster server
  (``http://host:19530``).

Everything above the store (retrieval, fusion, answering, citations, the app) reads the same
attributes: ``passages`` (id -> :class:`StoredPassage`, with the BM25
terms in ``extra["terms"]``), ``documents`` (id -> cleaned :class:`~corpus.document.Document`,
which citations point into), ``sentence_vectors`` (passage id -> float16 matrix) and
``manifest`` (model, chunking, document list), and calls :meth:`VectorStore.search` /
:meth:`VectorStore.vectors` for the dense channel. :func:`embeddings.stores.factory.open_store` picks
the store a configuration names; tests/embeddings/stores/test_contract.py holds every store to this
contract.

Two kinds of store (:attr:`VectorStore.in_memory`): FAISS holds those maps as dicts in the
process, and the retriever's channels scan them (BM25 matrix, sentence matrix). Milvus keeps
nothing per passage in the process: its maps are views that fetch by id, and the per-question
reads go through :meth:`~VectorStore.get_passages`, :meth:`~VectorStore.get_documents`,
:meth:`~VectorStore.get_sentence_vectors` (the candidates only) and the searches that run in the
engine, :meth:`~VectorStore.search_sentences` and :meth:`~VectorStore.lexical_search`. Those
methods have exact reference implementations here over the in-memory maps, so the contract
suite holds both kinds to the same results.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from corpus.document import Chunk, Document

__all__ = ["BM25_B", "BM25_K1", "FORMAT_VERSION", "bm25_idf", "bm25_term", "ConcurrentChangeError", "CorruptIndexError",
           "IndexMismatchError", "MergeReport", "PassageFilter", "StoreError", "StoreUnavailableError", "StoredPassage",
           "VectorStore", "check_date"]

#: Version of the FAISS directory layout: a store of another version is refused with
#: :class:`IndexMismatchError` (rebuild it). The Milvus collections have their own
#: (:data:`embeddings.stores.milvus.FORMAT`).
FORMAT_VERSION = 1
#: BM25 parameters of :meth:`VectorStore.lexical_search` (Lucene/Robertson defaults; the same as
#: :data:`qa.retrieval.lexical.K1` / ``B``, which a test checks).
BM25_K1, BM25_B = 1.2, 0.75


class StoreError(RuntimeError):
    """Any failure of a passage store that is the store's, not the caller's: the base of the errors
    below, so a command line or an app catches one type."""


class IndexMismatchError(StoreError):
    """The index was built with another embedding model or chunking than the one requested."""


class CorruptIndexError(StoreError):
    """An index file is missing, truncated or damaged. ``file`` names it."""

    def __init__(self, path: Path, file: str, problem: str):
        self.path = Path(path)
        self.file = file
        super().__init__(
            f"the index at {path} is damaged: {file} {problem}. It cannot be repaired; delete the folder "
            f"{path} and build the index again (`python -m qa index --index {path} PATH...`)")


class ConcurrentChangeError(StoreError):
    """The store was changed by another process since it was opened and cannot take that change
    in (a store opened with ``merge=False``, or a newer commit that cannot be read): re-open it
    and repeat the change. Stores merge other writers' commits by default (:meth:`VectorStore.sync`)."""


@dataclass
class MergeReport:
    """What :meth:`VectorStore.sync` (or a commit that found a newer one) took in from other
    writers: the documents they added and removed since this store last read or wrote the index."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    generation: int | None = None  # the commit merged (None: nothing to merge)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)


class StoreUnavailableError(StoreError):
    """The store cannot be opened here: its client library is missing, or its file is held by
    another process."""


@dataclass
class StoredPassage:
    """A passage row as stored: the chunk plus its row id and lexical fields."""

    id: int
    doc_id: str
    index: int
    start: int
    end: int
    text: str
    sentences: list[tuple[int, int]]
    n_tokens: int
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_chunk(cls, row_id: int, chunk: Chunk) -> StoredPassage:
        return cls(id=row_id, doc_id=chunk.doc_id, index=chunk.index, start=chunk.start, end=chunk.end,
                   text=chunk.text, sentences=[tuple(s) for s in chunk.sentences], n_tokens=chunk.n_tokens)


_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


def check_date(value: str, name: str = "date") -> str:
    """``value`` if it is a real date written ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``; else a
    ValueError naming ``name`` and what is wrong (``2016-13-45``: there is no month 13)."""
    if not _DATE.match(value):
        raise ValueError(f"{name} must look like 2016, 2016-08 or 2016-08-26, not {value!r}")
    parts = [int(x) for x in value.split("-")]
    if len(parts) > 1 and not 1 <= parts[1] <= 12:
        raise ValueError(f"{name} {value!r} is not a date: there is no month {parts[1]}")
    if len(parts) > 2:
        import calendar

        days = calendar.monthrange(parts[0], parts[1])[1]
        if not 1 <= parts[2] <= days:
            raise ValueError(f"{name} {value!r} is not a date: {parts[0]}-{parts[1]:02d} has {days} days")
    return value


@dataclass(frozen=True)
class PassageFilter:
    """Which documents' passages a search may return. Empty fields do not restrict.

    ``sources``: outlets (``Document.source``, exact match, e.g. ``("QĐND",)``);
    ``date_from`` / ``date_to``: inclusive bounds as ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``
    compared with the document's ISO date (``date_to="2016-08"`` includes the whole month); a
    document without a date never passes a date bound; ``doc_ids``: document ids.
    """

    sources: tuple[str, ...] = ()
    date_from: str | None = None
    date_to: str | None = None
    doc_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("sources", "doc_ids"):
            value = getattr(self, name)
            if isinstance(value, str):
                value = (value,)
            object.__setattr__(self, name, tuple(value or ()))
        for name in ("date_from", "date_to"):
            value = getattr(self, name)
            if value is not None:
                check_date(str(value), name)

    @classmethod
    def coerce(cls, value: PassageFilter | Mapping | None) -> PassageFilter | None:
        """A filter from a :class:`PassageFilter`, a dict of its fields, or None (no filter)."""
        if value is None or isinstance(value, PassageFilter):
            return None if value is None or value.empty else value
        if isinstance(value, Mapping):
            unknown = set(value) - {"sources", "date_from", "date_to", "doc_ids"}
            if unknown:
                raise ValueError(f"unknown filter field(s): {', '.join(sorted(unknown))}; "
                                 "use sources, date_from, date_to, doc_ids")
            f = cls(**value)
            return None if f.empty else f
        raise TypeError(f"filters must be a PassageFilter or a dict, not {type(value).__name__}")

    @property
    def empty(self) -> bool:
        return not (self.sources or self.doc_ids or self.date_from or self.date_to)

    def matches(self, doc: Document) -> bool:
        """Whether the passages of ``doc`` pass this filter."""
        if self.sources and doc.source not in self.sources:
            return False
        if self.doc_ids and doc.id not in self.doc_ids:
            return False
        if self.date_from or self.date_to:
            date = doc.date or ""
            if not date:
                return False
            if self.date_from and date < self.date_from:
                return False
            if self.date_to and date[:len(self.date_to)] > self.date_to:
                return False
        return True


class VectorStore(ABC):
    """What the retrieval and answering layers use of a passage store.

    ``passages``, ``documents``, ``sentence_vectors`` and ``manifest`` are readable mappings:
    dicts held in memory where :attr:`in_memory` (the BM25 and sentence channels scan them), views
    that fetch by id otherwise. Changes are made with :meth:`add` / :meth:`remove` and made
    durable by :meth:`commit`.
    """

    path: object
    manifest: dict
    passages: Mapping
    documents: Mapping
    sentence_vectors: Mapping
    #: True: the maps above are dicts in this process and the retriever's own channels scan them.
    #: False: nothing per passage is held here; retrieval reads candidates by id and runs the
    #: sentence and lexical searches in the store (the methods below).
    in_memory: bool = True
    #: How the store changes its in-memory state by itself (when it merges another writer's
    #: commit, see :meth:`sync`): ``change_guard(apply)`` must call ``apply()`` and return its
    #: :class:`MergeReport`. The layer above sets it to run the change under its search lock and
    #: bring its search structures up to date (``qa.retrieval.Retriever`` does); None: applied as is.
    change_guard: Callable[[Callable[[], MergeReport]], MergeReport] | None = None

    def sync(self) -> MergeReport:
        """Take in what other writers committed since this store last read or wrote the index,
        keeping this store's own uncommitted changes. Stores that every writer shares live (a
        Milvus collection) have nothing to merge: the default does nothing."""
        return MergeReport()

    def _apply_change(self, apply: Callable[[], MergeReport]) -> MergeReport:
        guard = self.change_guard
        return guard(apply) if guard is not None else apply()

    @abstractmethod
    def add(self, document: Document, chunks: Sequence[Chunk], vectors: np.ndarray,
            extras: Sequence[dict] | None = None,
            sentence_vectors: Sequence[np.ndarray] | None = None) -> list[int]:
        """Add one document's passages (a document already present is left as it is)."""

    @abstractmethod
    def remove(self, doc_id: str) -> int:
        """Remove a document and its passages; returns how many passages were removed."""

    @abstractmethod
    def search(self, query_vectors: np.ndarray, k: int,
               filter: PassageFilter | None = None) -> list[list[tuple[int, float]]]:
        """For each query vector, the ``k`` nearest passages passing ``filter`` as (id, cosine)."""

    @abstractmethod
    def vectors(self, ids: Iterable[int]) -> np.ndarray:
        """Stored vectors of the given passage ids, in that order."""

    @abstractmethod
    def commit(self) -> bool:
        """Make the changes durable; False when there was nothing to write."""

    @property
    @abstractmethod
    def where(self) -> str:
        """How error messages name this store ("the index at …", "the Milvus store … at …")."""

    @property
    def dim(self) -> int:
        return int(self.manifest["model"]["dim"])

    @property
    def model_name(self) -> str:
        return self.manifest["model"]["name"]

    def check_compatible(self, *, model: str, probe_matches: bool, dim: int, chunking: dict | None = None) -> None:
        """Raise :class:`IndexMismatchError` unless the store was built
        by this model (same dimension and probe vector) and chunking."""
        m = self.manifest["model"]
        if dim != m["dim"] or not probe_matches:
            raise IndexMismatchError(
                f"{self.where} was built with embedding model {m['name']!r} (fingerprint "
                f"{m['fingerprint']}, dim {m['dim']}), not with {model!r} (dim {dim}). Open it with the "
                "same model, or build a new one (another directory or collection).")
        if chunking is not None and chunking != self.manifest["chunking"]:
            raise IndexMismatchError(
                f"{self.where} was chunked with {self.manifest['chunking']}, not {chunking}; use the "
                "same chunking settings or build a new one (another directory or collection)")

    def __contains__(self, doc_id: str) -> bool:
        return doc_id in self.documents

    # ------------------------------------------------------------------ reads by id, searches
    # Exact reference implementations over the in-memory maps; a store with ``in_memory`` False
    # implements them in its engine (tests/embeddings/stores/test_contract.py: the same results).

    def has_documents(self, doc_ids: Iterable[str]) -> set[str]:
        """The ids among ``doc_ids`` whose documents are in the store (complete ones only)."""
        return {d for d in doc_ids if d in self.documents}

    def get_passages(self, ids: Iterable[int], *, extra: bool = True) -> dict[int, StoredPassage]:
        """The stored passages among ``ids`` (unknown ids are left out). ``extra=False``: their
        ``extra`` (BM25 terms) may be left empty, which is all retrieval needs of them."""
        passages = self.passages
        return {i: passages[i] for i in map(int, ids) if i in passages}

    def get_documents(self, doc_ids: Iterable[str], *, text: bool = True) -> dict[str, Document]:
        """The documents among ``doc_ids``. ``text=False``: their ``text`` may be left empty
        (titles, outlets and URLs are what a citation list needs; passages carry their text)."""
        documents = self.documents
        return {d: documents[d] for d in doc_ids if d in documents}

    def get_sentence_vectors(self, ids: Iterable[int]) -> dict[int, np.ndarray]:
        """Stored sentence vectors (float16, one row per sentence) of the passages among ``ids``
        that have them."""
        stored = self.sentence_vectors
        return {i: stored[i] for i in map(int, ids) if i in stored}

    def search_sentences(self, query_vector: np.ndarray, k: int,
                         filter: PassageFilter | None = None) -> list[tuple[int, float]]:
        """The ``k`` passages passing ``filter`` whose best sentence is nearest to
        ``query_vector``: (passage id, that sentence's cosine), best first."""
        allowed = self.filter_ids(filter)
        q = np.asarray(query_vector, dtype=np.float32)
        best = [(pid, float(np.max(sv.astype(np.float32) @ q))) for pid, sv in self.sentence_vectors.items()
                if len(sv) and (allowed is None or pid in allowed)]
        best.sort(key=lambda x: -x[1])
        return best[:max(k, 0)]

    def lexical_search(self, terms: Sequence[str], k: int,
                       filter: PassageFilter | None = None) -> list[tuple[int, float]]:
        """The ``k`` best passages passing ``filter`` by BM25 (:data:`BM25_K1`, :data:`BM25_B`,
        Lucene IDF: bm25s's scores) of the query ``terms`` (repeats count) against each passage's
        ``extra["terms"]``: (passage id, score > 0), best first."""
        qtf: dict[str, int] = {}
        for t in terms:
            qtf[t] = qtf.get(t, 0) + 1
        allowed = self.filter_ids(filter)
        rows = [(pid, p.extra.get("terms") or []) for pid, p in self.passages.items()]
        n = len(rows)
        if not qtf or not n or k < 1:
            return []
        avgdl = sum(len(t) for _, t in rows) / n or 1.0
        counts = [(pid, _counts(t), len(t)) for pid, t in rows]
        df = {t: sum(1 for _, c, _ in counts if t in c) for t in qtf}
        scored = []
        for pid, c, dl in counts:
            if allowed is not None and pid not in allowed:
                continue
            s = sum(q * bm25_term(c[t], dl, df[t], n, avgdl) for t, q in qtf.items() if t in c)
            if s > 0:
                scored.append((pid, s))
        scored.sort(key=lambda x: -x[1])
        return scored[:k]

    def document_frequencies(self, terms: Iterable[str]) -> tuple[int, dict[str, int]]:
        """(passages in the store, {term: passages whose ``extra["terms"]`` hold it}) for the
        lexical channel's IDF weights."""
        wanted = set(terms)
        df = dict.fromkeys(wanted, 0)
        for p in self.passages.values():
            for t in wanted.intersection(p.extra.get("terms") or ()):
                df[t] += 1
        return len(self.passages), df

    def __len__(self) -> int:
        return len(self.passages)

    def filter_ids(self, flt: PassageFilter | None) -> set[int] | None:
        """Ids of the passages that pass ``flt`` (None = no filter).

        One pass over the passages (~50 ms per 100,000 in Python), cached for the last filter
        until the store changes: one question asks for it once per channel, and a user who
        filters usually keeps the same filter for several questions.
        """
        if flt is None or flt.empty:
            return None
        key = (flt, self._state_key())
        cached = getattr(self, "_filter_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        ok_docs = {doc_id for doc_id, doc in self.documents.items() if flt.matches(doc)}
        ids = {pid for pid, p in self.passages.items() if p.doc_id in ok_docs}
        self._filter_cache = (key, ids)
        return ids

    def _forget(self, doc_id: str) -> list[int]:
        """Drop a document and its passages from the in-memory maps (the implementation removes
        them from its own storage); returns the removed passage ids."""
        ids = [pid for pid, p in self.passages.items() if p.doc_id == doc_id]
        for pid in ids:
            del self.passages[pid]
            self.sentence_vectors.pop(pid, None)
        del self.documents[doc_id]
        self.manifest["documents"] = [d for d in self.manifest["documents"] if d["id"] != doc_id]
        return ids

    def _state_key(self) -> tuple:
        """Changes whenever passages are added or removed (a store may keep a finer counter)."""
        return (len(self.passages), len(self.documents), self.manifest.get("next_id"),
                getattr(self, "_version", None))


def _counts(terms: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in terms:
        out[t] = out.get(t, 0) + 1
    return out


def bm25_idf(df: int, n: int) -> float:
    """BM25's Lucene IDF (bm25s's ``lucene`` method, and Milvus')."""
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


def bm25_term(tf: int, dl: int, df: int, n: int, avgdl: float, k1: float = BM25_K1, b: float = BM25_B) -> float:
    """One term's BM25 contribution on bm25s's scale (Lucene: no ``(k1 + 1)`` factor, which
    Milvus keeps; the ranking is the same)."""
    return bm25_idf(df, n) * tf / (tf + k1 * (1.0 - b + b * dl / avgdl))
