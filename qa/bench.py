"""Speed and memory benchmark: ``python -m qa.bench`` prints a table and writes JSON.

Measures, in one run on this machine:

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
import json
import os
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

SEED_QUESTIONS = [
    "Ông Kerry gặp ông Putin ở đâu?", "Where did Kerry and Lavrov meet in August 2016?",
    "Cuộc họp giữa Putin và Kerry ở Moscow kéo dài bao lâu?", "Who is the spokesman of the Russian Defence Ministry?",
    "Tình báo Mỹ ước tính có bao nhiêu người Nga chiến đấu cho IS?", "How many humanitarian workers have been killed in Syria?",
    "Các cuộc không kích ở Raqqa và Aleppo đã giết chết bao nhiêu người?", "Who did US Defense Secretary Ash Carter talk to by phone?",
]
METHODS = ("dense", "bm25", "rrf", "hybrid")


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q / 100 * (len(xs) - 1))))]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(n_passages: int = 10_000, repeats: int = 3) -> dict:
    from corpus import load_bundled
    from embeddings.vector_index import VectorIndex
    from qa import Pipeline, QAConfig
    from qa.retrieval import Retriever

    results: dict = {"machine": {"cores": os.cpu_count(), "platform": platform.platform()},
                     "date": time.strftime("%Y-%m-%dT%H:%M:%S")}
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
        results["ask"][m] = {"p50_ms": _pct(lat, 50), "p95_ms": _pct(lat, 95),
                             **{f"{k}_p50_ms": statistics.median(v) for k, v in stages.items()}}

    # retrieval over a synthetic 10k-passage index
    rng = np.random.default_rng(0)
    big = VectorIndex.create(None, model=pipe.encoder.name, fingerprint=pipe.encoder.fingerprint,
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
                q.terms.clear()
                t = time.perf_counter()
                r.run(q, 5)
                lat.append((time.perf_counter() - t) * 1000)
        results["retrieval_10k"][m] = {"p50_ms": _pct(lat, 50), "p95_ms": _pct(lat, 95)}
    embed = [pipe.encoder.encode_queries([q]) for q in SEED_QUESTIONS]  # noqa: F841 - warm
    lat = []
    for _ in range(repeats):
        for q in SEED_QUESTIONS:
            t = time.perf_counter()
            pipe.encoder.encode_queries([q])
            lat.append((time.perf_counter() - t) * 1000)
    results["query_embedding_p50_ms"] = _pct(lat, 50)
    results["peak_rss_mb"] = _peak_rss_mb()
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
    ap = argparse.ArgumentParser(prog="python -m qa.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--passages", type=int, default=10_000, help="size of the synthetic index (%(default)s)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("bench-results/bench.json"))
    args = ap.parse_args(argv)
    r = run(args.passages, args.repeats)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(r, indent=1), encoding="utf-8")
    print(table(r))
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
