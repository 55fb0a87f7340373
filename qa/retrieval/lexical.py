"""Lexical channel: BM25 (bm25s) over Vietnamese-aware terms.

Why bm25s: a maintained, pure-Python/NumPy BM25 on sparse matrices (scores 10k passages in
well under a millisecond per query, no JVM, no pickled state); we feed it our own terms.

Terms of a passage (see :func:`passage_terms`):

* exact syllables, lower-cased (``ngoại``, ``trưởng``);
* compound words from ``underthesea.word_tokenize`` (more accurate than pyvi on news text, and
  already our sentence splitter), joined with ``_`` (``ngoại_trưởng``) — a compound match is
  stronger evidence than two syllables that happen to co-occur;
* folded syllables prefixed ``~`` (``~ngoai``) so a question typed without diacritics matches;
* alias-group tokens (``@john_kerry``, see :mod:`qa.retrieval.aliases`).

Query terms depend on the question (see :func:`query_terms`): a Vietnamese question with
diacritics uses exact syllables, compounds and aliases; one typed without diacritics uses
folded syllables and aliases; an English question uses only what crosses languages — names
(capitalised words), numbers and aliases — since its other words never occur in Vietnamese
text except by accident ("an", "to", "con").
"""

from __future__ import annotations

import math
import re
import sys
from collections import Counter
from functools import lru_cache

import numpy as np

from corpus.normalize import fold_diacritics
from embeddings.stores import VectorStore

from ..text.analysis import EN_STOP, VI_STOP
from .aliases import AliasTable
from .base import Query, Ranking

__all__ = ["LexicalChannel", "passage_terms", "query_terms", "has_diacritics", "terms_of"]

_SYL = re.compile(r"\w+", re.U)
_NAME = re.compile(r"\b[A-ZĐ][\w'-]*|\b\w*\d\w*", re.U)
#: BM25 parameters: k1=1.2, b=0.75 are the Lucene/Robertson defaults; short news passages
#: of similar length leave little to gain from tuning b.
K1, B = 1.2, 0.75


def has_diacritics(text: str) -> bool:
    return fold_diacritics(text) != text.lower()


@lru_cache(maxsize=1)
def _word_tokenize():
    from underthesea import word_tokenize

    return word_tokenize


def passage_terms(text: str, aliases: AliasTable) -> list[str]:
    """All index terms of a passage (its title included by the caller)."""
    lower = text.lower()
    syl = _SYL.findall(lower)
    terms = list(syl)
    terms += ["~" + fold_diacritics(s) for s in syl]
    for w in _word_tokenize()(text):
        parts = _SYL.findall(w.lower())
        if len(parts) > 1:
            terms.append("_".join(parts))
    terms += aliases.tokens(text)
    return terms


def query_terms(query: Query, aliases: AliasTable) -> list[str]:
    """The terms a question is searched with (see module docstring)."""
    text = query.text
    alias = aliases.tokens(text)
    if query.language == "en":
        words = [m.group(0) for m in _NAME.finditer(text)]
        words = [w for w in words if w.lower() not in EN_STOP]
        out: list[str] = []
        for w in words:
            out += ["~" + fold_diacritics(s) for s in _SYL.findall(w.lower())]
        return out + alias
    syl = [s for s in _SYL.findall(text.lower()) if fold_diacritics(s) not in VI_STOP]
    if not has_diacritics(text):
        return ["~" + fold_diacritics(s) for s in syl] + alias
    compounds = ["_".join(p) for p in (_SYL.findall(w.lower()) for w in _word_tokenize()(text)) if len(p) > 1]
    compounds = [c for c in compounds if not all(fold_diacritics(p) in VI_STOP for p in c.split("_"))]
    return syl + compounds + alias


def terms_of(query: Query, aliases: AliasTable) -> list[str]:
    """``query``'s lexical terms (:func:`query_terms`), computed once and kept on the query."""
    if query.lexical_terms is None:
        query.lexical_terms = query_terms(query, aliases)
    return query.lexical_terms


class LexicalChannel:
    """BM25 over the terms stored with each passage (``StoredPassage.extra["terms"]``).

    Incremental: the channel keeps the collection's term statistics as a column-major
    (CSC) table, one column per term and one entry per (passage, distinct term): the
    passage's row and the term's frequency in it, plus every passage's length. Adding
    passages maps only their terms to column ids and inserts their entries; removing
    passages deletes their entries (and terms no passage holds any more). Every
    :meth:`refresh` then recomputes the BM25 weight of every entry from the current
    document frequencies, passage count and average length with bm25s's own IDF and
    term-frequency functions, vectorized (:func:`_bm25_from_columns`): BM25 weights are
    global (adding one passage changes N, the IDFs and the average length), so this keeps
    the scores identical to a bm25s index built from scratch over the same term lists,
    while skipping what made that slow (bm25s's per-passage Python loops over term strings:
    ~17 s of the 52 s refresh at 100k passages, BENCHMARKS.md).
    """

    name = "bm25"

    def __init__(self, index: VectorStore, aliases: AliasTable):
        self.index = index
        self.aliases = aliases
        self._bm25 = None
        self._ids: np.ndarray = np.zeros(0, dtype=np.int64)
        self._row: dict[int, int] = {}
        self._idf: dict[str, float] = {}
        self._reset()

    def _reset(self) -> None:
        """Forget every passage (the next :meth:`refresh` reads them all again)."""
        self._ids = np.zeros(0, dtype=np.int64)
        self._row = {}
        self._vocab: dict[str, int] = {}  # term -> column
        self._terms: list[str] = []  # column -> term
        self._indptr = np.zeros(1, dtype=np.int64)  # column c's entries: [indptr[c], indptr[c+1])
        self._rows = np.zeros(0, dtype=np.int32)  # entry -> row (rows ascending within a column)
        self._tf = np.zeros(0, dtype=np.int32)  # entry -> term frequency in that passage
        self._doclen = np.zeros(0, dtype=np.int64)  # row -> number of terms (with repeats)

    def refresh(self, full: bool = False) -> None:
        """Bring the BM25 matrix up to date with the index: forget removed passages, read the
        terms of added ones (computing any that are missing), recompute the weights. Rows
        follow the order of ``index.passages``. ``full=True`` reads every passage again."""
        passages = self.index.passages
        if full:
            self._reset()
        try:
            removed = [pid for pid in self._row if pid not in passages]
            if removed:
                self._remove(removed)
            added = [pid for pid in passages if pid not in self._row]
            if added and len(self._row) and list(passages)[len(self._row):] != added:
                # new passages not after the known ones (a store that reordered): read all again
                self._reset()
                added = list(passages)
            if added:
                self._append(added)
            self._build()
        except BaseException:
            self._reset()  # half-updated statistics: the next refresh starts from scratch
            self._bm25 = None
            raise

    def _append(self, pids: list[int]) -> None:
        """Add rows for ``pids`` (at the end, in this order)."""
        vocab, terms_of = self._vocab, self._terms
        cols, tfs, lens = [], [], []
        for pid in pids:
            p = self.index.passages[pid]
            terms = p.extra.get("terms")
            if terms is None:
                title = self.index.documents[p.doc_id].title
                terms = passage_terms(f"{title}\n{p.text}" if title else p.text, self.aliases)
            # one string object per distinct term across passages: the term lists held by the
            # store otherwise cost ~19 KB per passage in separate string objects
            terms = p.extra["terms"] = list(map(sys.intern, terms))
            counts = Counter(terms)
            unseen = [t for t in counts if t not in vocab]
            if unseen:
                vocab.update(zip(unseen, range(len(terms_of), len(terms_of) + len(unseen))))
                terms_of.extend(unseen)
            cols.append(np.fromiter(map(vocab.__getitem__, counts), dtype=np.int32, count=len(counts)))
            tfs.append(np.fromiter(counts.values(), dtype=np.int32, count=len(counts)))
            lens.append(len(terms))
        r0 = len(self._ids)
        sizes = [len(c) for c in cols]
        new_cols = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int32)
        new_rows = np.repeat(np.arange(r0, r0 + len(pids), dtype=np.int32), sizes)
        new_tf = np.concatenate(tfs) if tfs else np.zeros(0, dtype=np.int32)
        order = np.argsort(new_cols, kind="stable")  # by column, rows ascending within one
        new_cols, new_rows, new_tf = new_cols[order], new_rows[order], new_tf[order]
        n_vocab = len(terms_of)
        indptr = self._indptr
        if n_vocab + 1 > len(indptr):
            indptr = np.concatenate([indptr, np.full(n_vocab + 1 - len(indptr), indptr[-1], dtype=np.int64)])
        if len(self._rows):
            at = indptr[new_cols + 1]  # after the column's existing entries (the new rows are larger)
            self._rows = np.insert(self._rows, at, new_rows)
            self._tf = np.insert(self._tf, at, new_tf)
        else:
            self._rows, self._tf = new_rows, new_tf
        # a new array: the current bm25s object keeps serving the old one until replaced
        self._indptr = indptr + np.concatenate([[0], np.cumsum(np.bincount(new_cols, minlength=n_vocab))])
        self._doclen = np.concatenate([self._doclen, np.asarray(lens, dtype=np.int64)])
        self._ids = np.concatenate([self._ids, np.asarray(pids, dtype=np.int64)])
        self._row.update(zip(pids, range(r0, r0 + len(pids))))

    def _remove(self, pids: list[int]) -> None:
        """Delete the rows of ``pids`` and the terms no remaining passage holds."""
        dead = np.zeros(len(self._ids), dtype=bool)
        dead[[self._row[p] for p in pids]] = True
        keep = ~dead[self._rows]
        n_vocab = len(self._terms)
        entry_cols = np.repeat(np.arange(n_vocab, dtype=np.int32), np.diff(self._indptr))
        counts = np.bincount(entry_cols[keep], minlength=n_vocab)
        new_row = np.cumsum(~dead) - 1
        self._rows = new_row[self._rows[keep]].astype(np.int32)
        self._tf = self._tf[keep]
        self._doclen = self._doclen[~dead]
        self._ids = self._ids[~dead]
        self._row = {int(pid): i for i, pid in enumerate(self._ids.tolist())}
        used = counts > 0
        if not used.all():  # a term of the full rebuild's vocabulary only if some passage holds it
            self._terms = [t for t, u in zip(self._terms, used.tolist()) if u]
            self._vocab = {t: i for i, t in enumerate(self._terms)}
            counts = counts[used]
        self._indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def _build(self) -> None:
        """BM25 weights and the rescoring IDFs from the current statistics."""
        n = len(self._ids)
        if not n:
            self._bm25, self._idf = None, {}
            return
        df = np.diff(self._indptr)
        self._bm25 = _bm25_from_columns(self._indptr, self._rows, self._tf, self._doclen, self._vocab)
        # BM25's (Lucene) IDF of folded syllables and alias tokens, for sentence-level rescoring
        self._idf = {t.lstrip("~"): math.log(1 + (n - c + 0.5) / (c + 0.5))
                     for t, c in zip(self._terms, df.tolist()) if t[:1] in ("~", "@")}

    def _ensure(self) -> None:
        if self._bm25 is None or len(self._ids) != len(self.index.passages):
            self.refresh()

    def scores(self, query: Query) -> np.ndarray:
        """BM25 score of every passage (aligned with :attr:`ids`)."""
        self._ensure()
        terms = terms_of(query, self.aliases)
        if self._bm25 is None or not terms:
            return np.zeros(len(self._ids), dtype=np.float32)
        vocab = self._bm25.vocab_dict
        known = [t for t in terms if t in vocab]
        if not known:
            return np.zeros(len(self._ids), dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)

    @property
    def idf(self) -> dict[str, float]:
        """IDF of folded syllables (without ``~``) and alias tokens over the passages."""
        self._ensure()
        return self._idf

    @property
    def vocab(self) -> dict:
        """BM25 vocabulary (term -> column); empty for an empty index."""
        self._ensure()
        return self._bm25.vocab_dict if self._bm25 is not None else {}

    @property
    def ids(self) -> np.ndarray:
        self._ensure()
        return self._ids

    def search(self, query: Query, k: int) -> Ranking:
        s = self.scores(query)
        if not len(s):
            return []
        k = min(k, len(s))
        top = np.argpartition(-s, k - 1)[:k]
        top = top[np.argsort(-s[top], kind="stable")]
        return [(int(self._ids[i]), float(s[i])) for i in top if s[i] > 0]


def _bm25_from_columns(indptr: np.ndarray, rows: np.ndarray, tf: np.ndarray, doclen: np.ndarray,
                       vocab: dict[str, int]):
    """A ``bm25s.BM25`` (k1=:data:`K1`, b=:data:`B`, Lucene) over term statistics in CSC form.

    Does what ``BM25.index`` does after counting terms (bm25s's ``build_index_from_ids``:
    document frequencies, IDF array, per-entry scores, CSC matrix), with bm25s's own IDF and
    term-frequency functions, vectorized over all entries instead of one Python loop per
    passage. Same float operations in the same precision, so the matrix holds the same
    float32 weights (tests compare the scores for equality with ``BM25.index``); columns are
    our term ids rather than bm25s's, which changes no score.
    """
    import bm25s
    from bm25s.scoring import _build_idf_array, _select_idf_scorer, _select_tfc_scorer

    bm25 = bm25s.BM25(k1=K1, b=B)
    if bm25.method in bm25.methods_requiring_nonoccurrence:  # pragma: no cover - not our method
        raise ValueError(f"BM25 variant {bm25.method} needs a non-occurrence array")
    n_docs = len(doclen)
    df = np.diff(indptr)
    idf = _build_idf_array(dict(enumerate(df.tolist())), n_docs=n_docs,
                           compute_idf_fn=_select_idf_scorer(bm25.idf_method), dtype=bm25.dtype)
    if len(tf):
        # The term-frequency component depends only on (tf, passage length): bm25s's function
        # on the grid of the distinct values present (elementwise the same operations as on
        # each entry), then gathered per entry: ~4x fewer float64 passes over the entries.
        tf_values = np.flatnonzero(np.bincount(tf))
        tf_at = np.zeros(tf_values[-1] + 1, dtype=np.int32)
        tf_at[tf_values] = np.arange(len(tf_values), dtype=np.int32)
        len_values, len_at = np.unique(doclen, return_inverse=True)
        grid = _select_tfc_scorer(bm25.method)(tf_array=tf_values.astype(bm25.dtype)[:, None],
                                               l_d=len_values[None, :], l_avg=doclen.mean(), k1=bm25.k1,
                                               b=bm25.b, delta=bm25.delta)
        tfc = grid[tf_at[tf], len_at[rows]]
        cols = np.repeat(np.arange(len(df), dtype=np.int32), df)
        data = (idf[cols] * tfc).astype(bm25.dtype)
    else:
        data = np.zeros(0, dtype=bm25.dtype)
    bm25.scores = {"data": data, "indices": rows, "indptr": indptr, "num_docs": n_docs}
    bm25.vocab_dict = vocab
    bm25.unique_token_ids_set = set(vocab.values())
    bm25.nonoccurrence_array = None
    return bm25
