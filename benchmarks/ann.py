"""Exact vs approximate (IVF) passage search by collection size, and a FAISS store of ``--n``
passages built, committed, reopened and queried: ``python -m benchmarks ann --dev DIR --n 1000000``."""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .common import (
    add_dev_option,
    ints,
    machine_info,
    machine_line,
    peak_rss_mb,
    percentile,
    report,
    rss_mb,
)
from .sources import dev_questions, real_sources


def standin_vectors(seeds: np.ndarray, n: int, *, noise: float = 0.032, seed: int = 0,
                    block: int = 100_000) -> np.ndarray:
    """``n`` unit vectors: real embeddings (``seeds``) plus Gaussian noise of ``noise`` per
    dimension, renormalized (cosine ~0.85 to their seed at 0.032 in 384 dimensions). A
    stand-in for embedding ``n`` passages, which the model cannot do here in useful time."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, seeds.shape[1]), dtype=np.float32)
    for s in range(0, n, block):
        e = min(n, s + block)
        x = seeds[rng.integers(0, len(seeds), e - s)] + noise * rng.standard_normal((e - s, seeds.shape[1]), dtype=np.float32)
        out[s:e] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def ann_bench(n: int, sizes: list[int] | None, n_queries: int, data: Path, persist: bool = True) -> dict:
    """Exact vs IVF passage search per collection size, then a FaissStore of ``n`` passages
    built, committed, reopened and queried (time and memory)."""
    import gc
    import shutil

    from corpus.document import Chunk, Document
    from embeddings.stores import ann
    from embeddings.stores.faiss import FaissStore, load_faiss

    faiss = load_faiss()
    res: dict = {"machine": machine_info(), "n": n, "sizes": {}}
    qa_set, dev, bundled = real_sources(data)
    seeds = []
    for src in (dev.index, bundled.index):
        seeds.append(src.vectors(list(src.passages)))
        seeds += [v.astype(np.float32) for v in src.sentence_vectors.values() if len(v)]
    seeds = np.concatenate(seeds)
    res["seed_vectors"] = len(seeds)
    qs = [q for q, _ in dev_questions(qa_set, n_queries)]
    queries = dev.encoder.encode_queries(qs)
    res["queries"] = len(queries)
    meta = dict(model=dev.index.model_name, fingerprint=dev.index.manifest["model"]["fingerprint"],
                probe=dev.index.manifest["model"]["probe"], dim=dev.index.dim, chunking=dev.index.manifest["chunking"])
    del dev, bundled
    gc.collect()
    rss0 = rss_mb()
    t = time.perf_counter()
    x = standin_vectors(seeds, n)
    res["standin_s"] = time.perf_counter() - t

    def timed_search(index: object, k: int = 10) -> tuple[list[float], list]:
        index.search(queries[:1], k)
        lat, found = [], []
        for q in queries:
            t = time.perf_counter()
            _, ids = index.search(q[None, :], k)
            lat.append((time.perf_counter() - t) * 1000)
            found.append(ids[0])
        return lat, found

    def compare(m: int, flat: object, build: Callable[[], object]) -> None:
        """Exact vs IVF at m vectors: latency, recall@10, an nprobe sweep."""
        lat_e, exact = timed_search(flat)
        t = time.perf_counter()
        ivf = build()
        build_s = time.perf_counter() - t
        lat_a, approx = timed_search(ivf)
        recall = float(np.mean([len(set(e) & set(a)) / 10 for e, a in zip(exact, approx)]))
        p = ann.params_for(m)
        sweep = []
        for mult in ((0.5, 2, 4) if hasattr(ivf, "nlist") else ()):  # recall/latency around the chosen nprobe
            ivf.nprobe = max(1, min(p.nlist, round(p.nprobe * mult)))
            lat_s, got = timed_search(ivf)
            sweep.append({"nprobe": ivf.nprobe, "p50_ms": percentile(lat_s, 50),
                          "recall_at_10": float(np.mean([len(set(e) & set(a)) / 10 for e, a in zip(exact, got)]))})
        res["sizes"][str(m)] = {"nlist": p.nlist, "nprobe": p.nprobe, "exact_p50_ms": percentile(lat_e, 50),
                                "exact_p95_ms": percentile(lat_e, 95), "ivf_p50_ms": percentile(lat_a, 50),
                                "ivf_p95_ms": percentile(lat_a, 95), "ivf_build_s": build_s, "recall_at_10": recall,
                                "flat_bytes_per_passage": (faiss.serialize_index(flat).size / m if m <= 200_000
                                                           else 4 * x.shape[1]),
                                "uses_ivf": ann.use_ann(m), "nprobe_sweep": sweep}
        if sweep:
            ivf.nprobe = p.nprobe

    for m in sorted(set(sizes or [])):
        if m < n:
            flat = faiss.IndexFlatIP(x.shape[1])
            flat.add(x[:m])
            compare(m, flat, lambda m=m: ann.build(x[:m], np.arange(m)))
            del flat
            gc.collect()

    # the product's index at n passages: FaissStore (flat + IVF), commit, reopen, query
    tmp = Path(tempfile.mkdtemp(prefix="qa-bench-ann-"))
    try:
        rss1 = rss_mb()
        t = time.perf_counter()
        idx = FaissStore.create(tmp / "ix" if persist else None, **meta)
        per_doc = 1000
        for s in range(0, n, per_doc):
            e = min(n, s + per_doc)
            doc = Document.create(f"stand-in {s}", f"stand-in passages {s}-{e}")
            chunks = [Chunk(doc.id, i, 0, len(doc.text), doc.text, (), 1) for i in range(e - s)]
            idx.add(doc, chunks, x[s:e])
        add_s = time.perf_counter() - t
        rss_built = rss_mb()
        t = time.perf_counter()
        compare(n, idx._index, idx.search_index)  # exact = the flat index, IVF built here
        ann_s = res["sizes"][str(n)]["ivf_build_s"]
        kind = type(idx.search_index()).__name__
        rss_built = rss_mb()
        lat = []
        for q in queries:
            t = time.perf_counter()
            idx.search(q, 10)
            lat.append((time.perf_counter() - t) * 1000)
        out = {"passages": len(idx), "search_index": kind, "add_s": add_s, "ann_build_s": ann_s,
               "rss_mb_after_build": rss_built, "index_mb": rss_built - rss1,
               "bytes_per_passage": (rss_built - rss1) * 2**20 / n,
               "search_p50_ms": percentile(lat, 50), "search_p95_ms": percentile(lat, 95)}
        if persist:
            t = time.perf_counter()
            idx.commit()
            out["commit_s"] = time.perf_counter() - t
            out["disk_mb"] = sum(f.stat().st_size for f in (tmp / "ix").iterdir()) / 2**20
            del idx
            gc.collect()
            t = time.perf_counter()
            idx = FaissStore.open(tmp / "ix")
            out["open_s"] = time.perf_counter() - t
            t = time.perf_counter()
            idx.search(queries[0], 10)
            out["first_search_after_open_ms"] = (time.perf_counter() - t) * 1000
        res["index"] = out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res["rss_before_mb"] = rss0
    res["peak_rss_mb"] = peak_rss_mb()
    return res


def ann_table(r: dict) -> str:
    m = r["machine"]
    lines = [machine_line(m) + f"; stand-in vectors from "
             f"{r['seed_vectors']:,} real passage/sentence vectors; {r['queries']} real dev questions; "
             f"peak RSS {r['peak_rss_mb']:.0f} MB", "",
             "| passages | nlist | nprobe | exact p50 ms | exact p95 ms | IVF p50 ms | IVF p95 ms | IVF build s "
             "| recall@10 vs exact | used |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for k, x in r["sizes"].items():
        lines.append(f"| {int(k):,} | {x['nlist']} | {x['nprobe']} | {x['exact_p50_ms']:.2f} | {x['exact_p95_ms']:.2f} | "
                     f"{x['ivf_p50_ms']:.2f} | {x['ivf_p95_ms']:.2f} | {x['ivf_build_s']:.1f} | {x['recall_at_10']:.3f} | "
                     f"{'IVF' if x['uses_ivf'] else 'exact'} |")
    lines += ["", "nprobe sweep (passages: nprobe p50 ms recall@10): " + "; ".join(
        f"{int(k):,}: " + ", ".join(f"{s['nprobe']} {s['p50_ms']:.2f} {s['recall_at_10']:.3f}" for s in x["nprobe_sweep"])
        for k, x in r["sizes"].items())]
    ix = r["index"]
    lines += ["", f"FaissStore of {ix['passages']:,} passages ({ix['search_index']}): add {ix['add_s']:.0f} s, "
              f"IVF build {ix['ann_build_s']:.0f} s, +{ix['index_mb']:.0f} MB RSS ({ix['bytes_per_passage']:.0f} B/passage), "
              f"search p50 {ix['search_p50_ms']:.2f} ms / p95 {ix['search_p95_ms']:.2f} ms"
              + (f"; commit {ix['commit_s']:.0f} s ({ix['disk_mb']:.0f} MB on disk), open {ix['open_s']:.0f} s, "
                 f"first search {ix['first_search_after_open_ms']:.1f} ms" if "commit_s" in ix else "")]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks ann", description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--sizes", type=ints, default=[50_000, 100_000, 200_000, 500_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--no-persist", action="store_true", help="skip commit and reopen")

    add_dev_option(ap)
    ap.add_argument("--out", type=Path, default=Path("bench-results") / "ann.json", help="JSON output (default %(default)s)")
    args = ap.parse_args(argv)
    r = ann_bench(args.n, args.sizes, args.queries, args.data, persist=not args.no_persist)
    return report(r, ann_table(r), args.out)
