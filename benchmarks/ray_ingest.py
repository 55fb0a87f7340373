"""Passages per second of ingestion on Ray (qa/indexing_ray.py) with 1 and 2 workers, against the
raw encoder on the same passages. One run, one machine:

    python benchmarks/ray_ingest.py --docs 40                       # starts a Milvus 2.3.5 server
    python benchmarks/ray_ingest.py --docs 40 --uri http://host:19530

What is timed: ``ingest()`` from the call to the final flush (present-check, chunking, embedding
passages and their sentences, BM25 terms, upserts), with the workers already started (model
loaded; the start time is reported apart). The raw encoder: ``encode_passages`` over exactly the
texts indexing embeds (each passage with its title, and its sentences), with as many torch
threads as the workers have in total. Documents: the shortest-first MLQA-vi dev contexts.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from corpus.document import Document

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEV = Path(__file__).resolve().parents[2] / "shared" / "eval" / "mlqa-vi-dev"


def dev_docs(n: int, dev: Path = DEV) -> list[Document]:
    from corpus.document import Document
    from corpus.normalize import normalize_text

    rows = [json.loads(line) for line in open(dev / "contexts.jsonl", encoding="utf-8")][:n]
    return [Document.create(normalize_text(r["title"]), normalize_text(r["text"]), source="MLQA") for r in rows]


def raw_encoder_rate(docs: list[Document], threads: int) -> dict:
    import torch

    from qa import Pipeline, QAConfig

    torch.set_num_threads(threads)
    pipe = Pipeline(QAConfig(), in_memory=True)
    group = [(d, pipe.chunk(d)) for d in docs]
    texts, sentences = [], []
    for doc, chunks in group:
        texts += [pipe.encoder.passage_input(doc.title, c.text) for c in chunks]
        spans = sorted({s for c in chunks for s in c.sentences})
        sentences += [doc.text[a:b] for a, b in spans]
    pipe.encoder.encode_passages(texts[:8])  # warm up
    t = time.perf_counter()
    pipe.encoder.encode_passages(texts + sentences)
    s = time.perf_counter() - t
    return {"threads": threads, "passages": len(texts), "sentences": len(sentences), "seconds": s,
            "passages_per_s": len(texts) / s}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--uri", default=None, help="a Milvus server (default: start a 2.3.5 one)")
    ap.add_argument("--docs", type=int, default=40)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch-docs", type=int, default=20)
    ap.add_argument("--skip-raw", action="store_true", help="only the Ray runs")
    args = ap.parse_args(argv)
    import logging

    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    import ray

    from qa.indexing_ray import ingest, start_workers

    docs = dev_docs(args.docs)
    out = {"docs": len(docs), "runs": []}
    server = None
    uri = args.uri
    if uri is None:
        from tests.milvus_server import MilvusServer

        server = MilvusServer(tempfile.mkdtemp(prefix="bench-milvus-"))
        out["milvus_start_s"] = server.start()
        uri = server.uri
    try:
        for threads in [] if args.skip_raw else sorted(set(args.workers)):
            out["runs"].append({"raw_encoder": raw_encoder_rate(docs, threads)})
            print(json.dumps(out["runs"][-1]), file=sys.stderr, flush=True)
        ray.init(num_cpus=max(args.workers), include_dashboard=False, log_to_driver=False)
        for n in args.workers:
            name = f"bench_ray_{n}w_{int(time.time())}"
            t = time.perf_counter()
            actors = start_workers(uri, name, n)
            started = time.perf_counter() - t
            rep = ingest(docs, uri=uri, collection=name, batch_docs=args.batch_docs, actors=actors)
            for a in actors:
                ray.kill(a)
            run = {"workers": n, "workers_start_s": started, "passages": rep.passages, "batches": rep.batches,
                   "seconds": rep.seconds, "passages_per_s": rep.passages_per_s,
                   "embed_s": sum(b[3] for b in rep.per_batch), "write_s": sum(b[4] for b in rep.per_batch)}
            out["runs"].append({"ray": run})
            print(json.dumps(run), file=sys.stderr, flush=True)
        ray.shutdown()
    finally:
        if server is not None:
            server.stop()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
