"""The lexical (BM25) channel inside Milvus, without a per-passage index in the process.

Two paths, chosen from :func:`embeddings.stores.milvus_features.detect` when the collection is created
(and recorded in its manifest, so every reader uses the writer's schema); both return scores on
bm25s's scale (Milvus' divided by ``k1 + 1``), so the hybrid fusion and the ``bm25`` method see
the numbers the FAISS path gives:

``milvus-bm25`` (Milvus 2.5+ and Milvus Lite 3): a VARCHAR field ``bm25_text`` holding the
passage's terms (the project's Vietnamese analysis: syllables, ``_``-joined compounds, ``~``
folded forms, ``@`` aliases) encoded by :func:`~embeddings.stores.milvus_features.encode_term`, analyzed
by the ``standard`` tokenizer (with ``enable_match``: a term's document frequency is a
``count(*)`` with ``text_match``), and a BM25 function producing the ``bm25_sparse`` field. A
question is one ``search`` on ``bm25_sparse`` with its encoded query terms; Milvus' scores are
(k1 + 1) x bm25s' (measured equal to float32 precision on 451 dev contexts, 634 questions:
docs/scale-out-notes.md).

``fallback`` (Milvus 2.3/2.4: no BM25 function): an ``ARRAY<VARCHAR>`` field ``terms`` with the
passage's terms (repeats kept: term frequency and length come from it). :class:`CandidateBM25`
computes the same BM25 formula over *candidates* fetched from Milvus: the rows containing the
question's rarest terms (``array_contains``, a bounded number per term) plus any ids the caller
adds (the dense and sentence channels' hits). Document frequencies are exact: one id-only
``array_contains`` scan per new query term, sent in parallel, is the count of a term in at most
``per_term`` passages and gives its candidate ids at once; a ``count(*)`` for commoner terms.
N exact (``count(*)``), the average length estimated from a sample of rows (ids are uniform
hashes: the rows below an id threshold are a random sample). Exact BM25 scores; the ranking is
exact when the true top passages are among the candidates (measured: docs/scale-out-notes.md).

Nothing here keeps anything per passage between questions: only N, the average length and
small caches of recent query terms' document frequencies and (rare terms) candidate ids.
"""

from __future__ import annotations

import math
import time
from array import array
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

from .milvus_client import quote as _quote
from .milvus_features import ANALYZER_PARAMS, bm25_index_params, bm25_score, encode_term, encode_terms

if TYPE_CHECKING:  # pragma: no cover
    from pymilvus import CollectionSchema, MilvusClient
    from pymilvus.milvus_client import IndexParams

__all__ = ["add_bm25_fields", "add_fallback_terms_field", "bm25_text", "fallback_terms", "search_bm25",
           "CandidateBM25", "MAX_TERMS", "bm25_weight", "df_expression", "parallel", "READ_CONSISTENCY"]

_T = TypeVar("_T")
_R = TypeVar("_R")

#: Terms kept per passage in the fallback's ARRAY field (Milvus' max_capacity is 4,096). A
#: 200-token passage has ~450 terms (with repeats); a whole 2,000-word dev context had 3,957.
MAX_TERMS = 4096
#: Consistency of every read of the store. "Strong" makes each read on a Milvus 2.3.5 server wait
#: for the next time tick: 200 ms per call measured, against 3-6 ms with "Session" (sees this
#: client's own writes at once, other writers' within the server's staleness bound), "Bounded"
#: or "Eventually" (docs/scale-out-notes.md).
READ_CONSISTENCY = "Session"
#: Bytes of one term in the fallback's ARRAY field (longer terms, which no question matches in
#: practice, are left out).
TERM_BYTES = 256
#: Filter scans sent at once for one question's terms (document frequencies, candidate ids). A
#: question has ~13 terms; on the 2.3.5 server each is a scan of the collection, and they were
#: the whole of a question's time at 10,000 passages (20 questions: 391 scans, 28.7 s of 34 s).
PROBE_THREADS = 4
#: Sampled rows (of :meth:`CandidateBM25.stats`' ~2,000) a term must be in for its document
#: frequency to be estimated from the sample instead of counted: relative error ~1/sqrt(30) = 18%,
#: which moves a common term's IDF (df >= 1.5% of N: IDF <= 4.2) by at most ~0.2.
SAMPLE_MIN_HITS = 30
#: Terms whose candidate ids :meth:`CandidateBM25.probe` keeps for the search that follows it
#: (at most ``per_term`` ids each, 8 bytes an id: at most 1.6 MB in all).
POSTINGS_CACHE = 512
#: Bytes of one BM25 text field (VARCHAR max_length): 4,096 encoded terms of 15 bytes are 61 KB.
BM25_TEXT_BYTES = 65_535


# ---------------------------------------------------------------- schema
def add_bm25_fields(schema: CollectionSchema, index_params: IndexParams, *, k1: float, b: float) -> None:
    """Add ``bm25_text`` (VARCHAR, analyzed), ``bm25_sparse`` (its BM25 function's output) and
    the sparse index to a collection being created (Milvus 2.5+ / Lite 3)."""
    from pymilvus import DataType, Function, FunctionType

    schema.add_field("bm25_text", DataType.VARCHAR, max_length=BM25_TEXT_BYTES, enable_analyzer=True,
                     enable_match=True, analyzer_params=ANALYZER_PARAMS)
    schema.add_field("bm25_sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                 input_field_names=["bm25_text"], output_field_names=["bm25_sparse"]))
    index_params.add_index("bm25_sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                           params=bm25_index_params(k1, b))


def add_fallback_terms_field(schema: CollectionSchema) -> None:
    """Add the fallback's ``terms`` field (ARRAY of VARCHAR, Milvus 2.3+)."""
    from pymilvus import DataType

    schema.add_field("terms", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=MAX_TERMS,
                     max_length=TERM_BYTES)


def bm25_text(terms: Sequence[str]) -> str:
    """The ``bm25_text`` value of a passage (its first :data:`MAX_TERMS` terms, encoded)."""
    return encode_terms(list(terms)[:MAX_TERMS])


def fallback_terms(terms: Sequence[str]) -> list[str]:
    """The ``terms`` value of a passage: its first :data:`MAX_TERMS` terms that fit the field."""
    return [t for t in terms if len(t.encode("utf-8")) <= TERM_BYTES][:MAX_TERMS]


def df_expression(path: str, term: str) -> str:
    """The filter of the passages holding ``term``, on either path."""
    if path == "milvus-bm25":
        return f"text_match(bm25_text, {_quote(encode_term(term))})"
    return f"array_contains(terms, {_quote(term)})"


def parallel(fn: Callable[[_T], _R], items: Sequence[_T], threads: int = PROBE_THREADS) -> list[_R]:
    """``[fn(x) for x in items]`` with up to ``threads`` calls in flight (pymilvus clients are
    thread-safe: one gRPC channel)."""
    if len(items) <= 1 or threads <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(threads, len(items))) as pool:
        return list(pool.map(fn, items))


# ---------------------------------------------------------------- milvus-bm25 path
def search_bm25(client: MilvusClient, collection: str, query_terms: Sequence[str], k: int, *, k1: float, filter: str = "",
                consistency_level: str = READ_CONSISTENCY) -> list[tuple[int, float, str]]:
    """Top ``k`` passages by Milvus' BM25 for ``query_terms`` (the project's query analysis),
    among rows passing ``filter`` (a Milvus expression): (id, score on bm25s's scale, doc_id),
    best first, scores positive."""
    if not query_terms or k < 1:
        return []
    hits = client.search(collection, data=[encode_terms(query_terms)], anns_field="bm25_sparse",
                         limit=min(k, 16384), filter=filter, output_fields=["doc_id"],
                         search_params={"metric_type": "BM25"}, consistency_level=consistency_level)
    out = [(int(h["id"]), bm25_score(h["distance"]) / (k1 + 1.0), h["entity"]["doc_id"]) for h in hits[0]]
    return [x for x in out if x[1] > 0]


# ---------------------------------------------------------------- fallback path
def bm25_weight(tf: int, dl: int, df: int, n: int, avgdl: float, k1: float, b: float) -> float:
    """One term's BM25 contribution on bm25s's scale (Lucene IDF, without Milvus' (k1 + 1) factor)."""
    idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
    return idf * tf / (tf + k1 * (1.0 - b + b * dl / avgdl))


class CandidateBM25:
    """BM25 over candidates fetched from a collection's ``terms`` ARRAY field (see the module
    docstring). ``per_term`` rows are fetched per query term (rarest first) until ``budget``
    candidates; terms in more than ``max_df_ratio`` of the passages (and more than ``per_term``) fetch nothing (they still
    score). ``stats_ttl`` seconds between refreshes of N and the average length. ``df``: where
    document frequencies come from (default: one ``count(*)`` per term, cached here)."""

    def __init__(self, client: MilvusClient, collection: str, *, k1: float, b: float, per_term: int = 400,
                 budget: int = 2000, max_df_ratio: float = 0.2, avgdl_sample: int = 2000,
                 stats_ttl: float = 60.0, df_cache: int = 4096, consistency_level: str = READ_CONSISTENCY,
                 df: Callable[[Iterable[str]], dict[str, int]] | None = None, terms_field: str = "terms"):
        self.client, self.collection = client, collection
        #: where a row's terms are: the fallback's ``terms`` ARRAY, or (the BM25-function path,
        #: rescoring its candidates) the ``extra`` JSON's "terms"
        self.terms_field = terms_field
        self.k1, self.b = k1, b
        self.per_term, self.budget, self.max_df_ratio = per_term, budget, max_df_ratio
        self.avgdl_sample, self.stats_ttl = avgdl_sample, stats_ttl
        self._stats: tuple[float, int, float] | None = None  # (time, N, avgdl)
        self._sample: tuple[int, Counter] = (0, Counter())  # (rows sampled, term -> sampled rows holding it)
        self._df: OrderedDict[str, tuple[int, int]] = OrderedDict()  # term -> (N when counted, df)
        self._df_cache = df_cache
        self._postings: OrderedDict[str, tuple[int, array]] = OrderedDict()  # term -> (N when read, ids)
        self.consistency_level = consistency_level
        self.last: dict = {}  # what the last search did (candidates, round trips), for tests/benchmarks
        self._df_fn = df  # the store's cached document frequencies, else this object's own

    def _count(self, expr: str) -> int:
        rows = self.client.query(self.collection, filter=expr, output_fields=["count(*)"],
                                 consistency_level=self.consistency_level)
        return int(rows[0]["count(*)"]) if rows else 0

    def stats(self) -> tuple[int, float]:
        """(passages, average terms per passage), cached for ``stats_ttl`` seconds."""
        now = time.monotonic()
        if self._stats is None or now - self._stats[0] > self.stats_ttl:
            n = self._count("")
            # passage ids are uniform 63-bit hashes: ``id < T`` is a random sample of ~n*T/2^63 rows
            cut = 2**63 - 1 if n <= self.avgdl_sample else int((2**63 - 1) * self.avgdl_sample / n * 1.2)
            rows = self.client.query(self.collection, filter=f"id < {cut}", limit=min(self.avgdl_sample, 16384),
                                     output_fields=[self.terms_field], consistency_level=self.consistency_level) if n else []
            avgdl = sum(len(self._terms(r)) for r in rows) / len(rows) if rows else 1.0
            self._stats = (now, n, avgdl or 1.0)
            self._sample = (len(rows), Counter(t for r in rows for t in set(self._terms(r))))
        return self._stats[1], self._stats[2]

    def sampled_df(self, term: str) -> int | None:
        """A term's document frequency read off the row sample of :meth:`stats`, where that is
        good enough: exact when the sample is the whole collection (up to ``avgdl_sample``
        passages), else an estimate for a term in at least :data:`SAMPLE_MIN_HITS` sampled rows;
        None otherwise (count it)."""
        n, _ = self.stats()
        rows, hits = self._sample
        if rows and rows >= n:
            return hits.get(term, 0)
        got = hits.get(term, 0)
        return round(got * n / rows) if got >= SAMPLE_MIN_HITS else None

    def _terms(self, row: dict) -> list[str]:
        got = row.get(self.terms_field)
        if self.terms_field == "extra":
            got = (got or {}).get("terms")
        return got or []

    def rescore(self, query_terms: Sequence[str], ids: Iterable[int], k: int) -> list[tuple[int, float, str]]:
        """Exact BM25 (collection-wide statistics, bm25s's scale) of the passages ``ids``: the
        BM25-function path's candidates, which Milvus Lite scores with per-segment statistics."""
        qtf = Counter(query_terms)
        ids = list(dict.fromkeys(int(i) for i in ids))
        if not qtf or not ids or k < 1:
            return []
        n, avgdl = self.stats()
        dfs = {t: d for t, d in (self._df_fn or self.df)(qtf).items() if d > 0}
        rows = {}
        for i in range(0, len(ids), 1000):
            for r in self.client.query(self.collection, ids=ids[i:i + 1000], output_fields=["id", self.terms_field, "doc_id"],
                                       consistency_level=self.consistency_level):
                rows[int(r["id"])] = (self._terms(r), r["doc_id"])
        return self._score(qtf, dfs, n, avgdl, rows)[:k]

    def _score(self, qtf: Counter, dfs: dict[str, int], n: int, avgdl: float,
               rows: dict[int, tuple[list[str], str]]) -> list[tuple[int, float, str]]:
        scored = []
        for pid, (terms, doc_id) in rows.items():
            tf = Counter(terms)
            dl = len(terms)
            s = sum(q * bm25_weight(tf[t], dl, dfs[t], n, avgdl, self.k1, self.b)
                    for t, q in qtf.items() if t in dfs and tf.get(t))
            if s > 0:
                scored.append((pid, s, doc_id))
        scored.sort(key=lambda x: (-x[1], x[0]))
        return scored

    def settle(self, terms: Sequence[str], path: str) -> dict[str, int]:
        """Document frequencies of ``terms`` on lexical ``path``: from the row sample where it
        settles them (:meth:`sampled_df`), else one ``count(*)`` each, in parallel."""
        out = {t: self.sampled_df(t) for t in terms}
        rest = [t for t, d in out.items() if d is None]
        out.update(zip(rest, parallel(lambda t: self._count(df_expression(path, t)), rest)))
        return out

    def _ids_holding(self, term: str, filter: str = "") -> list[int]:
        """Ids of up to ``per_term + 1`` rows whose terms hold ``term`` (and pass ``filter``)."""
        expr = df_expression("fallback", term) + (f" and ({filter})" if filter else "")
        rows = self.client.query(self.collection, filter=expr, limit=self.per_term + 1, output_fields=["id"],
                                 consistency_level=self.consistency_level)
        return [int(r["id"]) for r in rows]

    def probe(self, terms: Sequence[str]) -> dict[str, int]:
        """Exact document frequencies of ``terms`` (the fallback path; callers cache them), in
        parallel: one id-only scan per term, which *is* the count for a term in at most
        ``per_term`` passages, and a ``count(*)`` for the others. The first ``per_term`` ids of each
        term are kept for :meth:`search` (what its own scan would fetch), so candidates cost no
        second scan. A common term's count comes from the row sample where that is exact or
        close (:meth:`sampled_df`)."""
        n, _ = self.stats()
        out = {}
        for t in terms:  # so common that search fetches no candidates for them: the sample's count
            d = self.sampled_df(t)
            if d is not None and d > self.max_df_ratio * n and d > self.per_term:
                out[t] = d
        terms = [t for t in terms if t not in out]
        found = parallel(self._ids_holding, terms)
        counts = self.settle([t for t, ids in zip(terms, found) if len(ids) > self.per_term], "fallback")
        for t, ids in zip(terms, found):
            self._postings[t] = (n, array("q", ids[:self.per_term]))
            self._postings.move_to_end(t)
            if len(self._postings) > POSTINGS_CACHE:
                self._postings.popitem(last=False)
        out.update((t, len(ids) if len(ids) <= self.per_term else counts[t]) for t, ids in zip(terms, found))
        return out

    def df(self, terms: Iterable[str]) -> dict[str, int]:
        """Exact document frequency of each term (:meth:`probe`, cached while N holds)."""
        n, _ = self.stats()
        out, todo = {}, []
        for t in dict.fromkeys(terms):
            hit = self._df.get(t)
            if hit is not None and hit[0] == n:
                self._df.move_to_end(t)
                out[t] = hit[1]
            else:
                todo.append(t)
        for t, d in (self.probe(todo) if todo else {}).items():
            out[t] = d
            self._df[t] = (n, d)
            if len(self._df) > self._df_cache:
                self._df.popitem(last=False)
        return out

    def search(self, query_terms: Sequence[str], k: int, *, filter: str = "",
               extra_ids: Iterable[int] = ()) -> list[tuple[int, float, str]]:
        """Top ``k`` candidates by BM25 (bm25s's scale), best first: (id, score, doc_id).

        Candidates: the ids of the rows holding the rarest query terms (``per_term`` a term,
        until ``budget``; the ids :meth:`probe` found when it counted the term, else one id-only
        scan), then one read of the candidates' terms by id."""
        qtf = Counter(query_terms)
        if not qtf or k < 1:
            return []
        n, avgdl = self.stats()
        dfs = {t: d for t, d in (self._df_fn or self.df)(qtf).items() if d > 0}
        trips = 0
        if not dfs:
            self.last = {"candidates": 0, "round_trips": trips}
            return []
        ids: dict[int, None] = {}
        for t in sorted(dfs, key=dfs.get):
            if len(ids) >= self.budget or (dfs[t] > self.max_df_ratio * n and dfs[t] > self.per_term):
                break  # the rest are common terms: their rows are many and score little
            known = None if filter else self._postings.get(t)  # unfiltered ids: not under a filter
            if known is not None and known[0] == n:
                ids.update(dict.fromkeys(known[1]))
            else:
                ids.update(dict.fromkeys(self._ids_holding(t, filter)[:self.per_term]))
                trips += 1
        ids.update(dict.fromkeys(int(x) for x in extra_ids))
        rows: dict[int, tuple[list[str], str]] = {}
        amp = f" and ({filter})" if filter else ""
        todo = list(ids)
        for i in range(0, len(todo), 1000):
            expr = f"id in [{', '.join(map(str, todo[i:i + 1000]))}]" + amp
            for r in self.client.query(self.collection, filter=expr, output_fields=["id", "terms", "doc_id"],
                                       consistency_level=self.consistency_level):
                rows[int(r["id"])] = (r["terms"], r["doc_id"])
            trips += 1
        scored = self._score(qtf, dfs, n, avgdl, rows)
        self.last = {"candidates": len(rows), "round_trips": trips}
        return scored[:k]
