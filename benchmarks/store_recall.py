"""Retrieval on the dev set through each store, one run: ``python -m benchmarks store_recall --dev DIR``.

The issue-15 check that the Milvus path retrieves like the FAISS path: the dev contexts are
embedded once (the evaluation's cached FAISS index), their vectors copied into a Milvus 2.3.5
standalone server this benchmark starts (``--uri`` a running one) and into a Milvus Lite file
(no re-embedding: :func:`embeddings.stores.copy_store`), and every dev question is asked through
``evaluation.harness.run_eval`` on each store with the same pipeline configuration. Printed and
written: recall@1/5/20 and MRR@10 per store, method and language, the largest difference from
FAISS, and the median time to rank one question (retrieval only, no answers).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from .common import add_dev_option, machine_info, machine_line, report, store_names

STORES = ("faiss", "milvus-server", "milvus-lite")
METRICS = ("recall@1", "recall@5", "recall@20", "mrr@10")


def run(data: Path, stores: list[str], methods: list[str], limit: int | None, uri: str | None) -> dict:
    from embeddings.stores import copy_store
    from embeddings.stores.milvus import MilvusStore
    from evaluation.datasets import load_qa_set
    from evaluation.harness import build_pipeline, run_eval
    from qa.pipeline import Pipeline

    qa = load_qa_set(data)
    base, _ = build_pipeline(qa, progress=True)
    encoder = base.encoder
    results: dict = {"machine": machine_info(), "limit": limit, "passages": len(base.index), "rows": []}
    server = None
    work = Path(tempfile.mkdtemp(prefix="qa-bench-store-recall-"))
    try:
        for kind in stores:
            if kind == "faiss":
                pipe = base
            else:
                target = str(work / "dev.db") if kind == "milvus-lite" else uri
                if kind == "milvus-server" and target is None:
                    from tests.milvus_server import MilvusServer

                    server = MilvusServer(str(work / "server"))
                    results["server_start_s"] = server.start()
                    target = server.uri
                store = MilvusStore.open_or_create(
                    target, collection="dev_recall", model=encoder.name, fingerprint=encoder.fingerprint,
                    probe=encoder.probe_vector, dim=encoder.dim, chunking=base.index.manifest["chunking"])
                copied = copy_store(base.index, store)
                if copied != len(base.index):
                    raise SystemExit(f"error: {kind} holds {copied} of {len(base.index)} passages after the copy")
                pipe = Pipeline(base.config, encoder=encoder, index=store)
            for method in methods:
                rows = run_eval(pipe, qa, [method], answers=False, progress=True, limit=limit)["results"]
                for r in rows:
                    row = {"store": kind, "method": method, "language": r["language"], "questions": r.get("n")}
                    row.update({m: r.get(m) for m in METRICS + ("rank_ms_p50",)})
                    if "error" in r:
                        row["error"] = r["error"]
                    results["rows"].append(row)
                    print("  " + json.dumps(row), flush=True)
            if kind == "milvus-server" and server is not None:
                server.stop()
                server = None
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    faiss = {(r["method"], r["language"]): r for r in results["rows"] if r["store"] == "faiss"}
    for r in results["rows"]:
        ref = faiss.get((r["method"], r["language"]))
        if ref is not None and "error" not in r and "error" not in ref:
            r["max_abs_diff"] = max(abs(r[m] - ref[m]) for m in METRICS)
    return results


def format_table(results: dict) -> str:
    cols = [("store", "store", "{}"), ("method", "method", "{}"), ("lang", "language", "{}"),
            ("questions", "questions", "{}"), ("R@1", "recall@1", "{:.3f}"), ("R@5", "recall@5", "{:.3f}"),
            ("R@20", "recall@20", "{:.3f}"), ("MRR@10", "mrr@10", "{:.3f}"),
            ("max diff vs FAISS", "max_abs_diff", "{:.3f}"), ("rank p50 ms", "rank_ms_p50", "{:.0f}")]
    lines = [machine_line(results["machine"]) + f"; {results['passages']} dev passages"
             + (f", first {results['limit']} questions" if results["limit"] else ", every dev question"), "",
             "| " + " | ".join(c[0] for c in cols) + " |", "|" + "---|" * len(cols)]
    for row in results["rows"]:
        lines.append("| " + " | ".join(fmt.format(row[k]) if row.get(k) is not None else "" for _, k, fmt in cols) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks store_recall", description=__doc__.split("\n\n")[0])
    ap.add_argument("--stores", default=",".join(STORES), help=f"comma list of {', '.join(STORES)}")
    ap.add_argument("--methods", default="dense,hybrid", help="retrieval methods (default dense,hybrid)")
    ap.add_argument("--limit", type=int, default=None, help="the first N dev questions (default: all)")
    ap.add_argument("--uri", help="a running Milvus server for milvus-server (default: start a 2.3.5 one)")
    ap.add_argument("--out", type=Path, default=Path("bench-results/bench-store-recall.json"))
    add_dev_option(ap)
    args = ap.parse_args(argv)
    stores = store_names(args.stores, STORES)
    if stores and stores[0] != "faiss":
        stores = ["faiss"] + [s for s in stores if s != "faiss"]  # the reference, measured in the same run
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    results = run(args.data, stores, methods, args.limit, args.uri)
    return report(results, format_table(results), args.out)


if __name__ == "__main__":
    raise SystemExit(main())
