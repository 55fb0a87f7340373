"""FAISS vs Milvus Lite on the same passages: ``python -m benchmarks stores --dev DIR --n 100000``.

Measures, for each store, on the same ``n`` passages and the same queries:

* build time: adding every passage (vector + citation metadata + BM25 terms) and committing;
* open time: loading the committed store again (what a restarted app pays);
* query latency p50/p95 of ``store.search(q, 10)``, one question at a time, without and with a
  metadata filter (one outlet of ten, ~10% of the passages);
* recall@10 against exact search (numpy brute force over the same vectors);
* resident memory: RSS of the building process after the build, and of a fresh process after
  opening the store (Milvus Lite runs inside the process, so RSS covers it), next to the RSS
  of that process before opening (Python + numpy + the code); and the size on disk.

Each store is built in one fresh process and queried in another, so memory numbers do not mix.
Milvus builds its vector index in the background after a load; queries start when it is done.

The passages are stand-ins derived from real ones: the MLQA-vi dev contexts indexed by
``python -m evaluation`` (read from its cache, or built once). Stand-in ``i`` copies the text,
terms and sentence spans of real passage ``a = i mod R`` and gets the vector
``normalize(v_a + 0.5 v_b + e)`` with ``b`` a random real passage and ``e`` Gaussian noise
(sigma 0.01 per dimension), so the vectors keep the real passages' clustering instead of being
uniform on the sphere (which would make approximate indexes look worse than they are). Every 20
stand-ins form one document with one of ten outlets and a date. The queries are real dev-set
questions embedded by the product's encoder. Sentence vectors are not stored (equal for both
stores: in memory as float16).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from embeddings.stores.milvus import MilvusStore

import numpy as np

from .common import add_dev_option, machine_info, percentile, rss_mb

#: Passages per stand-in document (news articles here chunk into ~5-30 passages).
PER_DOC = 20
#: Outlets the stand-in documents are spread over: a one-outlet filter keeps ~10%.
OUTLETS = tuple(f"Outlet {i}" for i in range(10))
K = 10


def _du_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 2**20
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def _real_passages(data: Path, progress: bool):
    """(vectors, passages, encoder, question texts) from the dev-set eval index."""
    from embeddings.encoder import load_encoder
    from embeddings.stores.faiss import FaissStore
    from evaluation.datasets import load_qa_set
    from evaluation.harness import build_pipeline, eval_index_dir
    from qa.config import QAConfig

    qa = load_qa_set(data)
    config = QAConfig()
    path = eval_index_dir(qa, config.with_(retrieval="dense"))
    if FaissStore.exists(path):  # read only: the eval harness owns its cache
        index, encoder = FaissStore.open(path), load_encoder(config.embedding_model)
    else:
        base, _ = build_pipeline(qa, config, progress=progress)
        index, encoder = base.index, base.encoder
    passages = list(index.passages.values())
    vectors = index.vectors([p.id for p in passages])
    questions = [q.text("vi") for q in qa.questions if q.text("vi")]
    questions += [q.text("en") for q in qa.questions if q.text("en")]
    return vectors, passages, encoder, questions, index.manifest


def prepare(n: int, n_queries: int, work: Path, data: Path, seed: int = 0, progress: bool = True) -> dict:
    """Write the stand-in passages, queries and exact neighbours under ``work``."""
    rng = np.random.default_rng(seed)
    real, passages, encoder, questions, manifest = _real_passages(data, progress)
    r = len(real)
    a = np.arange(n) % r
    b = rng.integers(0, r, n)
    vecs = real[a] + 0.5 * real[b] + rng.normal(0, 0.01, (n, real.shape[1])).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    vecs = vecs.astype(np.float32)
    picked = rng.choice(len(questions), size=min(n_queries, len(questions)), replace=False)
    queries = encoder.encode_queries([questions[i] for i in picked]).astype(np.float32)
    exact = np.argsort(-(queries @ vecs.T), axis=1)[:, :K]  # brute force: the ground truth
    np.save(work / "vectors.npy", vecs)
    np.save(work / "queries.npy", queries)
    np.save(work / "exact.npy", exact)
    with open(work / "passages.jsonl", "w", encoding="utf-8") as f:
        for i in range(n):
            p = passages[a[i]]
            f.write(json.dumps({"text": p.text, "terms": p.extra.get("terms", []), "n_tokens": p.n_tokens},
                               ensure_ascii=False) + "\n")
    meta = {"n": n, "queries": len(queries), "real_passages": r, "dim": int(vecs.shape[1]),
            "model": manifest["model"], "chunking": manifest["chunking"]}
    (work / "meta.json").write_text(json.dumps(meta))
    return meta


def _documents(work: Path):
    """Yield (Document, chunks, passage row numbers) for the stand-in passages."""
    from corpus.document import Chunk, Document

    with open(work / "passages.jsonl", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    for d, start in enumerate(range(0, len(rows), PER_DOC)):
        block = rows[start:start + PER_DOC]
        doc_id = f"bench{d:07d}"
        chunks, text, pos = [], [], 0
        for j, row in enumerate(block):
            t = row["text"]
            chunks.append(Chunk(doc_id=doc_id, index=j, start=pos, end=pos + len(t), text=t,
                                sentences=((pos, pos + len(t)),), n_tokens=row["n_tokens"]))
            text.append(t)
            pos += len(t) + 1
        doc = Document(id=doc_id, title=f"Stand-in article {d}", text="\n".join(text),
                       source=OUTLETS[d % len(OUTLETS)], date=f"20{10 + d % 10:02d}-{1 + d % 12:02d}-15")
        yield doc, chunks, list(range(start, start + len(block))), [{"terms": r["terms"]} for r in block]


def _open(kind: str, where: Path, meta: dict, create: bool):
    from embeddings.stores.faiss import FaissStore
    from embeddings.stores.milvus import MilvusStore

    m = meta["model"]
    args = dict(model=m["name"], fingerprint=m["fingerprint"], probe=m["probe"], dim=meta["dim"],
                chunking=meta["chunking"])
    if kind == "faiss":
        return FaissStore.create(where, **args) if create else FaissStore.open(where)
    index_type = kind.split("-", 1)[1].upper()
    params = {"HNSW": {"M": 16, "efConstruction": 200}, "IVF_FLAT": {"nlist": 256}}.get(index_type, {})
    if create:
        return MilvusStore.open_or_create(str(where), collection="bench", index={"index_type": index_type,
                                                                                 "params": params}, **args)
    return MilvusStore.open(str(where), "bench")


def _build(kind: str, work: str) -> dict:
    """Process 1: add every stand-in passage and commit; build time and memory."""
    work = Path(work)
    meta = json.loads((work / "meta.json").read_text())
    vecs = np.load(work / "vectors.npy", mmap_mode="r")
    docs = list(_documents(work))
    out: dict = {"store": kind, "rss_before_build_mb": rss_mb()}
    t0 = time.perf_counter()
    store = _open(kind, _where(kind, work), meta, create=True)
    for doc, chunks, rows, extras in docs:
        store.add(doc, chunks, np.asarray(vecs[rows]), extras)
    store.commit()
    out["build_s"] = time.perf_counter() - t0
    out["rss_after_build_mb"] = rss_mb()
    if hasattr(store, "close"):
        store.close()
    return out


def _where(kind: str, work: Path) -> Path:
    return work / (kind + (".db" if kind.startswith("milvus") else ""))


def _wait_for_index(store: MilvusStore, timeout: float = 600) -> float:
    """Milvus builds its vector index in the background after loading: wait until every row is
    indexed so that query timings measure the index, not brute force over pending rows."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        info = store._client.describe_index(store.collection, "vector")
        if not info.get("pending_index_rows") and info.get("indexed_rows", 0) >= info.get("total_rows", 0):
            break
        time.sleep(0.5)
    return time.perf_counter() - t0


def _query(kind: str, work: str) -> dict:
    """Process 2 (a restarted app): open, then query latency, recall and memory."""
    from embeddings.stores import PassageFilter

    work = Path(work)
    meta = json.loads((work / "meta.json").read_text())
    queries = np.load(work / "queries.npy")
    exact = np.load(work / "exact.npy")
    where = _where(kind, work)
    out: dict = {"rss_before_open_mb": rss_mb()}
    t0 = time.perf_counter()
    store = _open(kind, where, meta, create=False)
    out["open_s"] = time.perf_counter() - t0
    out["index_wait_s"] = _wait_for_index(store) if kind.startswith("milvus") else 0.0
    out["rss_after_open_mb"] = rss_mb()
    out["disk_mb"] = _du_mb(where)
    row_of = {pid: i for i, pid in enumerate(store.passages)}  # passage id -> stand-in row
    for q in queries[:5]:  # warm-up (first searches load segments / fault pages in)
        store.search(q, K)
    lat, hits = [], 0
    for qi, q in enumerate(queries):
        t = time.perf_counter()
        res = store.search(q, K)[0]
        lat.append(time.perf_counter() - t)
        hits += len({row_of[pid] for pid, _ in res} & set(exact[qi].tolist()))
    out["query_p50_ms"] = 1000 * percentile(lat, 50)
    out["query_p95_ms"] = 1000 * percentile(lat, 95)
    out["recall@10"] = hits / (K * len(queries))
    flt = PassageFilter(sources=(OUTLETS[3],))
    flat = []
    for q in queries:
        t = time.perf_counter()
        res = store.search(q, K, filter=flt)[0]
        flat.append(time.perf_counter() - t)
        assert all(store.documents[store.passages[pid].doc_id].source == OUTLETS[3] for pid, _ in res)
    out["filtered_p50_ms"] = 1000 * percentile(flat, 50)
    out["filtered_p95_ms"] = 1000 * percentile(flat, 95)
    out["rss_end_mb"] = rss_mb()
    if hasattr(store, "close"):
        store.close()
    return out


def run(n: int, n_queries: int, stores: list[str], data: Path, progress: bool = True, keep: Path | None = None) -> dict:
    work = keep or Path(tempfile.mkdtemp(prefix="qa-bench-stores-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    meta = prepare(n, n_queries, work, data, progress=progress)
    results = {"date": time.strftime("%Y-%m-%dT%H:%M:%S"), "prepare_s": time.perf_counter() - t0,
               "machine": machine_info(),
               "data": {k: v for k, v in meta.items() if k not in ("model",)}, "rows": []}
    ctx = mp.get_context("spawn")
    for kind in stores:
        with ctx.Pool(1) as pool:
            row = pool.apply(_build, (kind, str(work)))
        with ctx.Pool(1) as pool:
            row.update(pool.apply(_query, (kind, str(work))))
        results["rows"].append(row)
        if progress:
            print(f"  {kind}: {json.dumps(row)}", flush=True)
    if keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return results


def format_table(results: dict) -> str:
    cols = [("store", "store", "{}"), ("build s", "build_s", "{:.1f}"), ("open s", "open_s", "{:.1f}"),
            ("p50 ms", "query_p50_ms", "{:.2f}"), ("p95 ms", "query_p95_ms", "{:.2f}"),
            ("filtered p50", "filtered_p50_ms", "{:.2f}"), ("filtered p95", "filtered_p95_ms", "{:.2f}"),
            ("recall@10", "recall@10", "{:.4f}"), ("RSS built MB", "rss_after_build_mb", "{:.0f}"),
            ("RSS reopened MB", "rss_after_open_mb", "{:.0f}"), ("RSS base MB", "rss_before_open_mb", "{:.0f}"),
            ("disk MB", "disk_mb", "{:.0f}")]
    head = "| " + " | ".join(c[0] for c in cols) + " |"
    lines = [head, "|" + "---|" * len(cols)]
    for row in results["rows"]:
        lines.append("| " + " | ".join(fmt.format(row[key]) for _, key, fmt in cols) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks stores", description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="stand-in passages (default 100000)")
    ap.add_argument("--queries", type=int, default=200, help="dev-set questions to time (default 200)")
    ap.add_argument("--stores", default="faiss,milvus-flat",
                    help="comma list of faiss, milvus-flat, milvus-hnsw, milvus-ivf_flat")
    ap.add_argument("--out", default="bench-results/bench-stores.json", help="JSON results file")
    add_dev_option(ap)
    args = ap.parse_args(argv)
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    for s in stores:
        if s not in ("faiss", "milvus-flat", "milvus-hnsw", "milvus-ivf_flat"):
            raise SystemExit(f"error: unknown store {s!r}")
    results = run(args.n, args.queries, stores, args.data)
    print(format_table(results))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(f"\nwrote {args.out} ({results['data']['n']} passages from {results['data']['real_passages']} real ones, "
          f"{results['data']['queries']} queries; {results['machine']['cores']} cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
