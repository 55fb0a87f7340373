"""Speed and memory of the product on this machine: ``python -m benchmarks speed``.

It measures, in one run:

* index build time of the bundled corpus (chunk + embed + BM25 terms + commit);
* ``ask()`` warm latency (p50/p95) over the seed questions, per retrieval method, and the
  stages (query embedding, retrieval, answering);
* retrieval latency over a synthetic 10,000-passage index (the bundled passages repeated, with
  their BM25 terms and sentence spans, and random unit vectors for passages and sentences —
  retrieval cost depends on the number of passages, sentences and terms, not on their
  meaning), per method, excluding the query embedding;
* peak resident memory of the process.

Ratios to the dense-only peer are reported because these machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from qa.config import RETRIEVAL_METHODS

from .common import SEED_QUESTIONS, machine_info, peak_rss_mb, percentile, report

#: The methods in the table's order: the dense-only peer first (the ratios are to it).
METHODS = ("dense", *(m for m in RETRIEVAL_METHODS if m != "dense"))


def run(n_passages: int = 10_000, repeats: int = 3) -> dict:
    from corpus import load_bundled
    from embeddings.stores.faiss import FaissStore
    from qa import Pipeline, QAConfig
    from qa.retrieval import Retriever

    results: dict = {"machine": machine_info(), "date": time.strftime("%Y-%m-%dT%H:%M:%S")}
    tmp = Path(tempfile.mkdtemp(prefix="qa-bench-"))
    t0 = time.perf_counter()
    pipe = Pipeline(QAConfig(index_dir=tmp / "bundled"))
    results["model_load_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = pipe.add_documents(load_bundled())
    results["index_build_s"] = time.perf_counter() - t0
    results["index_passages"] = report.passages

    # ask() warm latency per method
    results["ask"] = {}
    for m in METHODS:
        p = Pipeline(pipe.config.with_(retrieval=m), encoder=pipe.encoder, index=pipe.index)
        p.ask(SEED_QUESTIONS[0])  # warm-up
        lat, stages = [], {"embed_query": [], "retrieve": [], "answer": []}
        for _ in range(repeats):
            for q in SEED_QUESTIONS:
                a = p.ask(q)
                lat.append(a.timings["total"] * 1000)
                for k in stages:
                    stages[k].append(a.timings[k] * 1000)
        results["ask"][m] = {"p50_ms": percentile(lat, 50), "p95_ms": percentile(lat, 95),
                             **{f"{k}_p50_ms": statistics.median(v) for k, v in stages.items()}}

    # retrieval over a synthetic 10k-passage index
    rng = np.random.default_rng(0)
    big = FaissStore.create(None, model=pipe.encoder.name, fingerprint=pipe.encoder.fingerprint,
                             probe=pipe.encoder.probe_vector, dim=pipe.encoder.dim, chunking=pipe.index.manifest["chunking"])
    docs = list(pipe.index.documents.values())
    base = list(pipe.index.passages.values())
    from corpus.document import Chunk, Document

    i = 0
    while len(big) < n_passages:
        src = base[i % len(base)]
        doc = Document.create(f"{docs[0].title} #{i}", f"{src.text} [{i}]")
        offset = len(doc.text) - len(src.text) - len(f" [{i}]")  # 0: the text starts with src.text
        sents = tuple((a - src.start + offset, b - src.start + offset) for a, b in src.sentences)
        chunk = Chunk(doc.id, 0, 0, len(doc.text), doc.text, sents, src.n_tokens)
        v = rng.standard_normal((1 + len(sents), big.dim)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        big.add(doc, [chunk], v[:1], [{"terms": src.extra["terms"] + [f"doc{i}"]}], [v[1:]])
        i += 1
    queries = [pipe.query(q) for q in SEED_QUESTIONS]
    results["retrieval_10k"] = {"passages": len(big)}
    for m in METHODS:
        r = Retriever(big, method=m, candidates=pipe.config.candidates)
        r.refresh()
        r.run(queries[0], 5)
        lat = []
        for _ in range(repeats * 3):
            for q in queries:
                q.forget_analysis()
                t = time.perf_counter()
                r.run(q, 5)
                lat.append((time.perf_counter() - t) * 1000)
        results["retrieval_10k"][m] = {"p50_ms": percentile(lat, 50), "p95_ms": percentile(lat, 95)}
    embed = [pipe.encoder.encode_queries([q]) for q in SEED_QUESTIONS]  # noqa: F841 - warm
    lat = []
    for _ in range(repeats):
        for q in SEED_QUESTIONS:
            t = time.perf_counter()
            pipe.encoder.encode_queries([q])
            lat.append((time.perf_counter() - t) * 1000)
    results["query_embedding_p50_ms"] = percentile(lat, 50)
    results["peak_rss_mb"] = peak_rss_mb()
    return results


def table(r: dict) -> str:
    dense = r["ask"]["dense"]["p50_ms"]
    lines = [f"machine: {r['machine']['cores']} cores; {r['date']}",
             f"model load {r['model_load_s']:.1f} s; bundled index build {r['index_build_s']:.1f} s "
             f"({r['index_passages']} passages); query embedding p50 {r['query_embedding_p50_ms']:.1f} ms; "
             f"peak RSS {r['peak_rss_mb']:.0f} MB", "",
             "| method | ask p50 ms | ask p95 ms | ×dense | retrieve p50 ms (bundled) | answer p50 ms "
             "| retrieval p50 ms @10k | retrieval p95 ms @10k |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for m in METHODS:
        a, b = r["ask"][m], r["retrieval_10k"][m]
        lines.append(f"| {m} | {a['p50_ms']:.0f} | {a['p95_ms']:.0f} | {a['p50_ms'] / dense:.2f} | "
                     f"{a['retrieve_p50_ms']:.1f} | {a['answer_p50_ms']:.0f} | {b['p50_ms']:.1f} | {b['p95_ms']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks speed", description=__doc__.splitlines()[0])
    ap.add_argument("--passages", type=int, default=10_000, help="size of the synthetic index (%(default)s)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("bench-results/bench.json"))
    args = ap.parse_args(argv)
    r = run(args.passages, args.repeats)
    return report(r, table(r), args.out)
