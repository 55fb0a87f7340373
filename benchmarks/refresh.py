"""Adding a document to a large index: ``python -m benchmarks refresh --dev DIR --sizes 10000,100000``.

For each size, one pipeline over a generated index (:func:`benchmarks.sources.synthetic_index` over the
dev-set and bundled indexes, as ``python -m benchmarks scale``) measures, in one run:

* ``build``: ``Retriever.refresh(full=True)`` on the fresh index (what the first question
  after opening an index pays), split into the BM25 and sentence channels;
* ``main``: the rebuild every change cost before incremental refresh, on the same index:
  main's BM25 refresh (``bm25s.BM25.index`` over the term strings, plus the IDF loop) and the
  sentence channel rebuilt from scratch;
* ``add``: one bundled article under a new title (so a new document) added with
  ``Pipeline.add_documents`` and then one question asked: seconds from the call to the answer
  (chunking, embedding, storing, refresh, ``ask``), with the retriever's refresh forced to
  ``full=True`` and as it is (incremental); the same work but the refresh;
* ``remove``: ``Pipeline.remove`` of that article, full vs incremental.

And, on the dev-set index opened from disk, the memory held by the passages' BM25 term lists
(the lists plus every distinct string object, ``sys.getsizeof``) before and after the lexical
channel read them (it makes equal terms share one string).
"""

from __future__ import annotations

import argparse
import functools
import gc
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from corpus.document import Document
    from embeddings.stores import VectorStore
    from qa.pipeline import Pipeline
    from qa.retrieval import Retriever

from .common import (
    SEED_QUESTIONS,
    add_dev_option,
    ints,
    machine_info,
    machine_line,
    peak_rss_mb,
    report,
)
from .sources import real_sources, synthetic_index


def main_rebuild(index: VectorStore) -> dict[str, float]:
    """Seconds of the refresh before incremental updates (main at 1e7c909^): BM25 from the term
    strings with ``bm25s.BM25.index`` and the rescoring IDFs by a set per passage; the sentence
    search rebuilt from every stored sentence vector (flat, or IVF trained again)."""
    import math
    from collections import Counter

    import bm25s

    from qa.retrieval.dense import SentenceChannel
    from qa.retrieval.lexical import K1, B

    t = time.perf_counter()
    corpus = [p.extra["terms"] for p in index.passages.values()]
    df: Counter[str] = Counter()
    for terms in corpus:
        df.update({t.lstrip("~") for t in terms if t[:1] in ("~", "@")})
    n = max(1, len(corpus))
    _idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
    bm25 = bm25s.BM25(k1=K1, b=B)
    bm25.index(corpus, show_progress=False)
    lexical = time.perf_counter() - t
    t = time.perf_counter()
    SentenceChannel(index).refresh(full=True)
    return {"lexical_s": lexical, "sentence_s": time.perf_counter() - t}


@contextmanager
def measured_refresh(retriever: Retriever, full: bool) -> Iterator[dict[str, float]]:
    """Within the block, each channel's refresh accumulates its seconds into the yielded dict
    (``lexical_s``, ``sentence_s``); with ``full`` the retriever's refresh rebuilds everything.
    Instance wrappers, removed on exit."""
    from qa.retrieval.retriever import Retriever

    sink: dict[str, float] = {}
    channels = (("lexical_s", retriever.lexical), ("sentence_s", retriever.sentences))
    for name, channel in channels:
        def wrapped(*a: object, _f: Callable = channel.refresh, _name: str = name, **k: object) -> object:
            t = time.perf_counter()
            try:
                return _f(*a, **k)
            finally:
                sink[_name] = sink.get(_name, 0.0) + time.perf_counter() - t
        channel.refresh = wrapped
    if full:
        retriever.refresh = functools.partial(Retriever.refresh, retriever, full=True)
    try:
        yield sink
    finally:
        retriever.__dict__.pop("refresh", None)
        for _, channel in channels:
            channel.__dict__.pop("refresh", None)


def add_and_ask(pipe: Pipeline, doc: Document, question: str, full: bool) -> dict:
    """Add ``doc`` and ask ``question``: seconds until the answer, and where they went."""
    with measured_refresh(pipe.retriever, full) as channels:
        t = time.perf_counter()
        report = pipe.add_documents([doc])
        answer = pipe.ask(question)
        total = time.perf_counter() - t
    assert report.added == [doc.id], report
    return {"total_s": total, "passages": report.passages, "ask_s": answer.timings["total"],
            **{f"{k}_s": v for k, v in report.timings.items()}, **{f"refresh_{k}": v for k, v in channels.items()}}


def remove(pipe: Pipeline, doc_id: str, full: bool) -> dict:
    """Remove ``doc_id``: seconds, and the channels' refresh."""
    with measured_refresh(pipe.retriever, full) as channels:
        t = time.perf_counter()
        pipe.remove(doc_id)
        total = time.perf_counter() - t
    return {"total_s": total, **{f"refresh_{k}": v for k, v in channels.items()}}


def term_bytes(index: VectorStore) -> int:
    """Bytes of the passages' term lists: the lists and each distinct string object once."""
    seen: set[int] = set()
    total = 0
    for p in index.passages.values():
        terms = p.extra.get("terms") or []
        total += sys.getsizeof(terms)
        for s in terms:
            if id(s) not in seen:
                seen.add(id(s))
                total += sys.getsizeof(s)
    return total


def run(sizes: list[int], adds: int, data: Path) -> dict:
    from corpus import load_bundled
    from corpus.document import Document
    from embeddings.stores.faiss import FaissStore
    from qa import Pipeline, QAConfig
    from qa.retrieval.aliases import load_aliases
    from qa.retrieval.lexical import LexicalChannel

    res: dict = {"machine": machine_info(), "sizes": {}}
    _, dev, bundled = real_sources(data)
    # term-list memory of a real index as opened from disk
    opened = FaissStore.open(dev.index.path)
    before = term_bytes(opened)
    LexicalChannel(opened, load_aliases()).refresh()
    res["terms"] = {"passages": len(opened.passages), "kb_per_passage_opened": before / 1024 / len(opened.passages),
                    "kb_per_passage_after_refresh": term_bytes(opened) / 1024 / len(opened.passages)}
    del opened
    article = max(load_bundled(), key=lambda d: len(d.text))
    question = SEED_QUESTIONS[0]
    uploads = iter(range(1, 1000))

    def new_doc() -> Document:
        return Document.create(f"{article.title} (upload {next(uploads)})", article.text, source=article.source,
                               date=article.date)

    for n in sizes:
        gc.collect()
        big = synthetic_index([dev.index, bundled.index], n)
        pipe = Pipeline(QAConfig(), encoder=dev.encoder, index=big)
        with measured_refresh(pipe.retriever, full=False) as build:
            t = time.perf_counter()
            pipe.retriever.refresh(full=True)
            build["total_s"] = time.perf_counter() - t
        pipe.ask(question)  # warm
        old = main_rebuild(big)
        old["total_s"] = old["lexical_s"] + old["sentence_s"]
        row = {"passages": len(big), "sentences": sum(len(v) for v in big.sentence_vectors.values()),
               "build": build, "main_rebuild": old}
        d_full = new_doc()
        row["add_full"] = add_and_ask(pipe, d_full, question, full=True)
        docs = [new_doc() for _ in range(adds)]
        incr = [add_and_ask(pipe, d, question, full=False) for d in docs]
        row["add_incremental_runs"] = incr
        row["add_incremental"] = {k: statistics.median(r[k] for r in incr) for k in incr[0]}
        row["remove_full"] = remove(pipe, d_full.id, full=True)
        row["remove_incremental"] = remove(pipe, docs[0].id, full=False)
        res["sizes"][str(n)] = row
        del pipe, big
    res["peak_rss_mb"] = peak_rss_mb()
    return res


def table(r: dict) -> str:
    m = r["machine"]
    t = r["terms"]
    lines = [machine_line(m) + f"; peak RSS {r['peak_rss_mb']:.0f} MB",
             "",
             ("| passages | sentences | rebuild before (main): BM25 + sentences s | full rebuild now s "
              "| add 1 doc + ask, full rebuild s | add 1 doc + ask, incremental s "
              "| of which refresh: full / incremental s | remove 1 doc: full / incremental s |"),
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for x in r["sizes"].values():
        o, b, af, ai = x["main_rebuild"], x["build"], x["add_full"], x["add_incremental"]
        lines.append(
            f"| {x['passages']:,} | {x['sentences']:,} | {o['total_s']:.1f} ({o['lexical_s']:.1f} + {o['sentence_s']:.1f}) "
            f"| {b['total_s']:.1f} ({b.get('lexical_s', 0):.1f} + {b.get('sentence_s', 0):.1f}) "
            f"| {af['total_s']:.2f} | {ai['total_s']:.2f} | {af['refresh_s']:.2f} / {ai['refresh_s']:.3f} "
            f"| {x['remove_full']['total_s']:.2f} / {x['remove_incremental']['total_s']:.3f} |")
    lines += ["", (f"BM25 term lists of the dev index opened from disk ({t['passages']} passages): "
                   f"{t['kb_per_passage_opened']:.1f} KB/passage as loaded, {t['kb_per_passage_after_refresh']:.1f} "
                   "KB/passage once the lexical channel read them (equal terms share one string)")]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks refresh", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=ints, default=[10_000, 100_000])
    ap.add_argument("--adds", type=int, default=3, help="incremental additions timed per size (median)")
    add_dev_option(ap)
    ap.add_argument("--out", type=Path, default=Path("bench-results/refresh.json"))
    args = ap.parse_args(argv)
    r = run(args.sizes, args.adds, args.data)
    return report(r, table(r), args.out)


if __name__ == "__main__":
    raise SystemExit(main())
